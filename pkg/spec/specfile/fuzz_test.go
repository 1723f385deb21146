package specfile

import (
	"strings"
	"testing"
)

// FuzzParse: no input makes decoding panic, and whatever is accepted is
// valid: it passes validation again and carries safe HAProxy names.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(good + "---\n" + strings.Replace(good, "name: web", "name: api", 1)))
	f.Add([]byte(strings.Replace(good, "image: demo:v1", "image: \"demo:v1;rm\"", 1)))
	f.Add([]byte("apiVersion: [\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte(strings.Replace(good, "  image: demo:v1", "  image: demo:v1\n  readyTimeout: -1s\n  env: {A: 1}", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		svcs, err := Parse(data, "fuzz.yaml", "/nonexistent-fuzz-base")
		if err != nil {
			if svcs != nil {
				t.Fatalf("services returned with an error")
			}
			return
		}
		for i := range svcs {
			s := &svcs[i]
			if err := s.Validate(); err != nil {
				t.Fatalf("accepted service fails validation: %v", err)
			}
			for _, n := range []string{s.Colors.Blue.Backend, s.Colors.Green.Backend, s.Colors.Blue.Server,
				s.Colors.Green.Server, s.HAProxy.MapKey, s.HAProxy.MapFile} {
				if strings.ContainsAny(n, " ;\n\r\t") {
					t.Fatalf("accepted an unsafe runtime API name %q", n)
				}
			}
		}
	})
}
