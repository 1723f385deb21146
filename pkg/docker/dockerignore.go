package docker

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// ignoreRule is one line of a .dockerignore file.
type ignoreRule struct {
	re     *regexp.Regexp
	negate bool // "!pattern": include again what earlier lines excluded
}

// ignoreRules decides what of a build context is not sent to the engine.
// It follows the documented .dockerignore syntax: one pattern a line, "#"
// comments, "*", "?", "[...]", "**" for any number of directories, "!" to
// re-include, the last matching line wins, and a pattern that matches a
// directory excludes everything under it.
type ignoreRules []ignoreRule

// readDockerignore reads dir/.dockerignore; a missing file means no rules.
func readDockerignore(dir string) (ignoreRules, error) {
	name := filepath.Join(dir, ".dockerignore")
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()

	var rules ignoreRules
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseIgnoreLine(line)
		if err != nil {
			return nil, fmt.Errorf("read .dockerignore line %d %q: %w", n, line, err)
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	return rules, nil
}

func parseIgnoreLine(line string) (ignoreRule, error) {
	var r ignoreRule
	if p, ok := strings.CutPrefix(line, "!"); ok {
		r.negate = true
		line = strings.TrimSpace(p)
	}
	pattern := strings.TrimPrefix(path.Clean(filepath.ToSlash(line)), "/")
	if pattern == "" || pattern == "." {
		pattern = "."
	}
	re, err := regexp.Compile(patternRegexp(pattern))
	if err != nil {
		return r, fmt.Errorf("bad pattern: %w", err)
	}
	r.re = re
	return r, nil
}

// patternRegexp translates a .dockerignore pattern into an anchored regexp.
func patternRegexp(p string) string {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		case c == '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := p[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String()
}

// excluded reports whether the slash-separated path rel is left out.
func (rules ignoreRules) excluded(rel string) bool {
	out := false
	for _, r := range rules {
		if r.matches(rel) {
			out = !r.negate
		}
	}
	return out
}

// matches reports whether the rule matches rel or one of its parent dirs.
func (r ignoreRule) matches(rel string) bool {
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if r.re.MatchString(p) {
			return true
		}
	}
	return false
}

// hasNegation reports whether some rule re-includes paths, in which case a
// directory that is excluded must still be walked.
func (rules ignoreRules) hasNegation() bool {
	for _, r := range rules {
		if r.negate {
			return true
		}
	}
	return false
}
