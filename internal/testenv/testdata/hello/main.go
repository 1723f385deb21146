// Command hello is built by TestGoBuild.
package main

import "fmt"

func main() { fmt.Println("hello from testenv") }
