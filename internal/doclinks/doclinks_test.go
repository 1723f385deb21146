// Package doclinks checks the project's Markdown: every relative link
// between README.md, docs/ and the other .md files resolves, to a file or a
// directory that exists and, with a #fragment, to a heading of that file
// as GitHub names it. It needs neither Docker nor HAProxy.
package doclinks

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestRelativeLinksResolve fails on a relative link, in any .md file of the
// module, to a path that does not exist or to an anchor its target lacks.
func TestRelativeLinksResolve(t *testing.T) {
	root := moduleRoot(t)
	files := markdownFiles(t, root)
	if len(files) == 0 {
		t.Fatalf("no .md file found under %s", root)
	}
	anchors := map[string]map[string]bool{} // .md file -> its anchors
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a := headingAnchors(string(b))
		anchors[path] = a
		return a
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		for _, l := range links(string(b)) {
			if err := check(root, file, l.target, anchorsOf); err != nil {
				t.Errorf("%s:%d: link %q: %v", rel, l.line, l.target, err)
			}
		}
	}
}

// TestReadmeNamesNoTest keeps README.md a front page: the tests that prove
// each guarantee are named in docs/guarantees.md.
func TestReadmeNamesNoTest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\b(Test|Fuzz|Benchmark)[A-Z]\w*`)
	for i, line := range strings.Split(string(b), "\n") {
		if m := re.FindString(line); m != "" {
			t.Errorf("README.md:%d names the test %s: name it in docs/guarantees.md instead", i+1, m)
		}
	}
}

// TestCheckerFindsBrokenLinks runs the checker on links made to fail.
func TestCheckerFindsBrokenLinks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	readme := write("README.md", "# Title\n\n## Watch mode and --once\n\n## What a service's spec means\n\n## Notes\n\n## Notes\n")
	write("docs/a.md", "# A page\n\n## The `run` verb (and flags)\n")
	anchorsOf := func(path string) map[string]bool {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return headingAnchors(string(b))
	}
	for target, ok := range map[string]bool{
		"#title":                           true,
		"#watch-mode-and---once":           true,
		"#what-a-services-spec-means":      true,
		"#notes-1":                         true,
		"#notes-2":                         false,
		"#no-such-heading":                 false,
		"docs/a.md":                        true,
		"docs/a.md#the-run-verb-and-flags": true,
		"docs/a.md#the-run-verb":           false,
		"docs/b.md":                        false,
		"docs":                             true,
		"docs/":                            true,
		"../outside.md":                    false,
		"https://example.com/x#y":          true,
		"mailto:someone@example.com":       true,
	} {
		err := check(dir, readme, target, anchorsOf)
		if ok && err != nil {
			t.Errorf("%q: %v, want no error", target, err)
		}
		if !ok && err == nil {
			t.Errorf("%q: no error, want one", target)
		}
	}

	got := links("[a](x.md) `[b](y.md)` [c](z.md \"title\")\n" +
		"```\n[d](w.md)\n```\n" +
		"![e](img.svg) <https://example.com> [a link over\ntwo lines](f.md#g) `a span over\ntwo [h](h.md) lines`\n" +
		"\n[ref]: r.md\n")
	var targets []string
	for _, l := range got {
		targets = append(targets, fmt.Sprintf("%d:%s", l.line, l.target))
	}
	if want := "1:x.md 1:z.md 5:img.svg 6:f.md#g 9:r.md"; strings.Join(targets, " ") != want {
		t.Errorf("links: %q, want %q", strings.Join(targets, " "), want)
	}
}

// check reports why target, a link in file, does not resolve; nil when it
// does or when it is not relative (a URL with a scheme).
func check(root, file, target string, anchorsOf func(string) map[string]bool) error {
	if target == "" {
		return fmt.Errorf("empty")
	}
	if schemeRE.MatchString(target) || strings.HasPrefix(target, "//") {
		return nil // https:, mailto:, ...
	}
	path, frag, _ := strings.Cut(target, "#")
	dest := file
	if path != "" {
		if strings.HasPrefix(path, "/") {
			return fmt.Errorf("absolute path: write it relative to %s", filepath.Dir(file))
		}
		dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
		if r, err := filepath.Rel(root, dest); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return fmt.Errorf("leads outside the repository")
		}
		fi, err := os.Stat(dest)
		if err != nil {
			return fmt.Errorf("no such file or directory")
		}
		if frag != "" && (fi.IsDir() || !strings.HasSuffix(dest, ".md")) {
			return fmt.Errorf("#%s: only a .md file's anchors can be checked", frag)
		}
	}
	if frag != "" && !anchorsOf(dest)[frag] {
		return fmt.Errorf("no heading %q in %s", frag, filepath.Base(dest))
	}
	return nil
}

type link struct {
	line   int
	target string
}

var (
	// [text](target) or ![alt](target), the text possibly over several
	// lines, the target up to a space (a title may follow) or the closing
	// parenthesis.
	linkRE = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	// [label]: target, a reference definition.
	refDefRE = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)>?`)
	schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	htmlIDRE = regexp.MustCompile(`(?:name|id)="([^"]+)"`)
	headRE   = regexp.MustCompile(`^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$`)
	imageRE  = regexp.MustCompile(`!\[[^\]]*\]\([^)]*\)`)
	inlineRE = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	tagRE    = regexp.MustCompile(`<[^>]*>`)
)

// links returns the links of a Markdown text, outside fenced code blocks
// and code spans, with the line each target is on.
func links(text string) []link {
	prose := withoutCode(text)
	var out []link
	for _, re := range []*regexp.Regexp{linkRE, refDefRE} {
		for _, m := range re.FindAllStringSubmatchIndex(prose, -1) {
			out = append(out, link{
				line:   1 + strings.Count(prose[:m[2]], "\n"),
				target: prose[m[2]:m[3]],
			})
		}
	}
	return out
}

// withoutCode blanks fenced code blocks and code spans (which may run over
// several lines of a paragraph), keeping every line where it was.
func withoutCode(text string) string {
	lines := strings.Split(text, "\n")
	fence := ""
	for i, line := range lines {
		if f := fenceOf(line); f != "" {
			switch {
			case fence == "":
				fence = f
			case strings.HasPrefix(f, fence):
				fence = ""
			}
			lines[i] = ""
			continue
		}
		if fence != "" {
			lines[i] = ""
		}
	}
	b := []byte(strings.Join(lines, "\n"))
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := run(b, i)
		// The span ends at the next run of exactly n backticks, within
		// the paragraph (no blank line); otherwise the backticks are text.
		end := -1
		for j := i + n; j < len(b); {
			if b[j] == '\n' && j+1 < len(b) && strings.TrimSpace(string(lineAt(b, j+1))) == "" {
				break
			}
			if b[j] == '`' {
				m := run(b, j)
				if m == n {
					end = j + m
					break
				}
				j += m
				continue
			}
			j++
		}
		if end < 0 {
			i += n
			continue
		}
		for k := i; k < end; k++ {
			if b[k] != '\n' {
				b[k] = ' '
			}
		}
		i = end
	}
	return string(b)
}

// run is the length of the run of backticks at b[i].
func run(b []byte, i int) int {
	n := 0
	for i+n < len(b) && b[i+n] == '`' {
		n++
	}
	return n
}

// lineAt is the line that starts at b[i].
func lineAt(b []byte, i int) []byte {
	if j := strings.IndexByte(string(b[i:]), '\n'); j >= 0 {
		return b[i : i+j]
	}
	return b[i:]
}

// fenceOf returns the fence a line opens or closes (``` or ~~~, possibly
// longer), or "".
func fenceOf(line string) string {
	s := strings.TrimLeft(line, " ")
	if len(line)-len(s) > 3 {
		return ""
	}
	for _, c := range []string{"`", "~"} {
		if strings.HasPrefix(s, c+c+c) {
			return s[:len(s)-len(strings.TrimLeft(s, c))]
		}
	}
	return ""
}

// headingAnchors returns the anchors GitHub gives the ATX headings of a
// Markdown text (outside code blocks): the heading's text lower-cased,
// markup and punctuation dropped, spaces turned to '-', and "-1", "-2", ...
// after a repeated one. Explicit <a name="..."> and id="..." count too.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fence := ""
	for _, line := range strings.Split(text, "\n") {
		if f := fenceOf(line); f != "" {
			switch {
			case fence == "":
				fence = f
			case strings.HasPrefix(f, fence):
				fence = ""
			}
			continue
		}
		if fence != "" {
			continue
		}
		for _, m := range htmlIDRE.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		m := headRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := slugify(m[1])
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// slugify is GitHub's anchor for a heading's text.
func slugify(heading string) string {
	// A link's text stays, its target goes; images and HTML tags go.
	heading = imageRE.ReplaceAllString(heading, "")
	heading = inlineRE.ReplaceAllString(heading, "$1")
	heading = tagRE.ReplaceAllString(heading, "")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// moduleRoot is the directory of go.mod, above this package's.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// markdownFiles lists the .md files of the module, skipping hidden
// directories and testdata.
func markdownFiles(t *testing.T, root string) []string {
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
