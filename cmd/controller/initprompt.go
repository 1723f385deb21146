package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// gatherAnswers completes the answers: on a terminal, by asking for each
// one no flag gave; otherwise the flags must give the name and the image.
func gatherAnswers(a *initAnswers, in io.Reader, out io.Writer) error {
	if a.replicas > 1 && (a.changed == nil || !a.changed("green-port")) {
		a.greenPort = a.bluePort + a.replicas // blue's replicas publish the ports before it
	}
	if isTerminal(in) {
		if err := askAnswers(a, newPrompter(in, out)); err != nil {
			return err
		}
		fmt.Fprintln(out)
	} else {
		var missing []string
		for _, f := range []struct{ flag, value string }{{"--name", a.name}, {"--image", a.image}} {
			if f.value == "" {
				missing = append(missing, f.flag)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s: required when standard input is not a terminal (nothing is asked then)", strings.Join(missing, " and "))
		}
	}
	return checkAnswers(a)
}

// isTerminal reports whether in is a terminal (as golang.org/x/term does
// on Linux: the terminal's settings can be read).
func isTerminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// askAnswers asks, in order, for each answer whose flag was not given,
// offering the flag's default.
func askAnswers(a *initAnswers, p *prompter) error {
	questions := []struct {
		flag, text string
		str        *string
		num        *int
	}{
		{"name", "Service name (a-z 0-9 -)", &a.name, nil},
		{"image", "Image", &a.image, nil},
		{"container-port", "Port the app listens on in the container", nil, &a.containerPort},
		{"health-path", "Health path (answers 2xx when healthy)", &a.healthPath, nil},
		{"host", "", nil, nil},
		{"blue-port", "127.0.0.1 port of blue", nil, &a.bluePort},
		{"green-port", "127.0.0.1 port of green", nil, &a.greenPort},
		{"runtime", "HAProxy runtime API", &a.runtime, nil},
		{"map-file", "HAProxy map file", &a.mapFile, nil},
		{"listen", "HAProxy frontend address", &a.listen, nil},
	}
	for _, q := range questions {
		if a.changed(q.flag) {
			continue
		}
		var err error
		switch {
		case q.str != nil:
			*q.str, err = p.text(q.text, *q.str)
		case q.num != nil:
			*q.num, err = p.number(q.text, *q.num)
		default:
			a.hosts, err = p.hosts(a.hosts)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// prompter asks questions on out and reads one line per answer from in.
type prompter struct {
	in  *bufio.Reader
	out io.Writer
}

func newPrompter(in io.Reader, out io.Writer) *prompter {
	return &prompter{in: bufio.NewReader(in), out: out}
}

// maxTries is how often a question is asked again after an unusable answer.
const maxTries = 3

// line asks text, showing def, and returns the answer without surrounding
// spaces ("" for an empty line).
func (p *prompter) line(text, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(p.out, "%s [%s]: ", text, def)
	} else {
		fmt.Fprintf(p.out, "%s: ", text)
	}
	s, err := p.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		return "", fmt.Errorf("no answer to %q: the input ended (give it as a flag instead)", text)
	}
	return strings.TrimSpace(s), nil
}

// text asks for a string; an empty answer takes def, and is asked again
// when there is no default.
func (p *prompter) text(text, def string) (string, error) {
	for range maxTries {
		s, err := p.line(text, def)
		if err != nil || s != "" {
			return s, err
		}
		if def != "" {
			return def, nil
		}
		fmt.Fprintln(p.out, "  an answer is needed")
	}
	return "", fmt.Errorf("no answer to %q after %d tries", text, maxTries)
}

// number asks for a whole number; an empty answer takes def.
func (p *prompter) number(text string, def int) (int, error) {
	for range maxTries {
		s, err := p.line(text, strconv.Itoa(def))
		if err != nil || s == "" {
			return def, err
		}
		n, err := strconv.Atoi(s)
		if err == nil {
			return n, nil
		}
		fmt.Fprintf(p.out, "  %q is not a whole number\n", s)
	}
	return 0, fmt.Errorf("no number for %q after %d tries", text, maxTries)
}

// hosts asks for the host names, separated by commas or spaces; an empty
// answer keeps def, "-" means none (every request).
func (p *prompter) hosts(def []string) ([]string, error) {
	shown := strings.Join(def, ",")
	if shown == "" {
		shown = "none: every request"
	}
	s, err := p.line("Host names to route to it (comma separated, - for none)", shown)
	switch {
	case err != nil:
		return nil, err
	case s == "":
		return def, nil
	case s == "-":
		return nil, nil
	}
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }), nil
}
