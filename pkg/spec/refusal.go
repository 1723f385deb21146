package spec

import (
	"errors"
	"strings"
)

// Refusal is a document of the desired state that was refused, or a
// service held back by a rule across services: only the service it names
// waits for the fix, the others go on.
type Refusal struct {
	// File is the file it came from.
	File string
	// Name is its metadata.name, "" when the document could not be read
	// that far (then every service of File is held).
	Name string
	Err  error
}

// Holds reports whether the refusal holds back service s, which stood at
// its last valid spec before: s by name, or every service of the file
// when the refused document has no name that could be read.
func (r Refusal) Holds(s *Service) bool {
	if r.Name != "" {
		return r.Name == s.Name
	}
	return s.File() == r.File
}

// NotRefused is svcs without the services a refusal names: a service
// with a document refused (another of its name, a duplicate) is refused
// whole.
func NotRefused(svcs []Service, refused []Refusal) []Service {
	var out []Service
	for _, s := range svcs {
		named := false
		for _, r := range refused {
			named = named || r.Name != "" && r.Name == s.Name
		}
		if !named {
			out = append(out, s)
		}
	}
	return out
}

// PartlyRefused is the error of a desired state of which some documents,
// not all, were refused: Valid holds the services that stand on their
// own. A loader that can go on with them does (errors.As); every other
// caller refuses the whole, as with any error.
type PartlyRefused struct {
	Valid   []Service
	Refused []Refusal
}

func (e *PartlyRefused) Error() string {
	msgs := make([]string, len(e.Refused))
	for i, r := range e.Refused {
		msgs[i] = r.Err.Error()
	}
	return strings.Join(msgs, "\n")
}

func (e *PartlyRefused) Unwrap() []error {
	errs := make([]error, len(e.Refused))
	for i, r := range e.Refused {
		errs[i] = r.Err
	}
	return errs
}

// Refused returns err's refusals as one PartlyRefused with the services
// that stand beside them, or nil when err is not one.
func Refused(err error) *PartlyRefused {
	var p *PartlyRefused
	if errors.As(err, &p) {
		return p
	}
	return nil
}

// File is the file the service was read from: Source without the
// document number and the name.
func (s *Service) File() string {
	f, _, _ := strings.Cut(s.Source, " (document ")
	f, _, _ = strings.Cut(f, " service \"")
	return f
}
