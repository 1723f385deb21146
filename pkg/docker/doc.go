// Package docker drives the controller's containers through the Docker
// Engine API: it finds and builds images, and creates, starts, stops,
// inspects, lists and removes containers.
//
// The driver only ever changes containers that carry LabelManaged=true: Start,
// Stop and Remove check the label first and return ErrNotManaged otherwise,
// and Create refuses a spec without it. Reading (Inspect, List, Logs) works on
// any container.
//
// Every error names the action and the image or container it concerns. When
// the engine does not answer, the error wraps ErrUnreachable.
package docker
