package spec

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// EnvVar is one variable of an env file, and the line that sets it.
type EnvVar struct {
	Name, Value string
	Line        int
}

// ParseEnvFile reads the contents of an env file in Docker's format (as
// docker run --env-file reads it): one NAME=VALUE a line, the value taken
// as written (quotes are not removed, unlike docker compose's env_file),
// lines that start with '#' and blank lines skipped.
//
// It refuses a line with no '=': Docker would pass the controller's own
// variable of that name, which no one who reads the desired state sees. It
// refuses a name that is not valid, that the controller sets (COLOR,
// PORT) or that is set twice. Its errors name lines and valid names,
// never a value nor a line that does not parse (it may be a value).
func ParseEnvFile(data []byte) ([]EnvVar, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("it is not UTF-8 text")
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var vars []EnvVar
	lines := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimLeftFunc(strings.TrimSuffix(line, "\r"), unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("line %d has no '=': Docker would take a bare name's value from the controller's own environment, which the desired state does not show; write NAME=VALUE", n)
		case !ValidEnvName(name):
			return nil, fmt.Errorf("line %d: the name before '=' is not a valid environment variable name (letters, digits and '_', not starting with a digit)", n)
		case ReservedEnv(name):
			return nil, fmt.Errorf("line %d: %s is set by the controller for each color; remove it", n, name)
		case strings.ContainsRune(value, 0):
			return nil, fmt.Errorf("line %d: the value of %s holds a NUL character", n, name)
		}
		if prev, ok := lines[name]; ok {
			return nil, fmt.Errorf("line %d: %s is also set on line %d; set it once", n, name, prev)
		}
		lines[name] = n
		vars = append(vars, EnvVar{Name: name, Value: value, Line: n})
	}
	return vars, nil
}
