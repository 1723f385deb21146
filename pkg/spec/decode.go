package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"
)

// FieldError is bad input at one field of one document.
type FieldError struct {
	Source string // file, and document number when the file holds several
	Path   string // e.g. spec.colors.green.hostPort
	Msg    string // says what is wrong and shows the bad value
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Source + ": " + e.Msg
	}
	return e.Source + ": " + e.Path + ": " + e.Msg
}

// FileCheck checks what of a service lives on disk (its build context),
// for a loader that reads files (package specfile); bad reports a field
// error. Decoding itself reads no file.
type FileCheck func(s *Service, bad func(path, format string, args ...any))

// Decode decodes every document of one file strictly, applies defaults and
// validates, with files (nil: nothing on disk is checked). source names the
// file in errors; baseDir resolves build contexts.
func Decode(data []byte, source, baseDir string, files FileCheck) ([]Service, error) {
	svcs, err := DecodeDocuments(data, source, baseDir, files)
	if err != nil {
		return nil, err
	}
	if err := CheckAcross(svcs); err != nil {
		return nil, err
	}
	return svcs, nil
}

// DecodeDocuments is Decode without the checks across services, for a
// loader that reads several files and checks them together.
func DecodeDocuments(data []byte, source, baseDir string, files FileCheck) ([]Service, error) {
	svcs, refused := DecodeEach(data, source, baseDir, files)
	if len(refused) > 0 {
		errs := make([]error, len(refused))
		for i, r := range refused {
			errs[i] = r.Err
		}
		return nil, errors.Join(errs...)
	}
	return svcs, nil
}

// DecodeEach is DecodeDocuments document by document: the services of the
// documents that stand, and a refusal for each that does not (a file with
// no document at all is one refusal with no name).
func DecodeEach(data []byte, source, baseDir string, files FileCheck) ([]Service, []Refusal) {
	docs := splitDocuments(data)
	var svcs []Service
	var refused []Refusal
	for i, doc := range docs {
		src := source
		if len(docs) > 1 {
			src = fmt.Sprintf("%s (document %d)", source, i+1)
		}
		svc, err := parseOne(doc, src, baseDir, files)
		if err != nil {
			refused = append(refused, Refusal{File: source, Name: documentName(doc), Err: err})
			continue
		}
		svcs = append(svcs, svc)
	}
	if len(docs) == 0 {
		refused = append(refused, Refusal{File: source, Err: &FieldError{Source: source, Msg: "no service document found"}})
	}
	return svcs, refused
}

// documentName is the metadata.name of a document, "" when it cannot be
// read that far.
func documentName(doc []byte) string {
	var d struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &d); err != nil || !serviceNameRe.MatchString(d.Metadata.Name) {
		return ""
	}
	return d.Metadata.Name
}

// splitDocuments cuts a YAML stream at "---" lines and drops empty documents.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(stripComments(cur.Bytes()))) > 0 {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		t := bytes.TrimRight(line, " \t\r\n")
		if bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) || bytes.HasPrefix(t, []byte("---\t")) {
			flush()
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
		}
	}
	return out
}

func parseOne(doc []byte, source, baseDir string, files FileCheck) (Service, error) {
	js, source, err := checkedJSON(doc, source)
	if err != nil {
		return Service{}, err
	}
	var d Document
	if err := json.Unmarshal(js, &d); err != nil {
		return Service{}, &FieldError{Source: source, Msg: err.Error()}
	}
	svc := Service{Name: d.Metadata.Name, ServiceSpec: d.Spec, Source: source, BaseDir: baseDir}
	if err := validateHeader(&d, source); err != nil {
		return Service{}, err
	}
	svc.applyDefaults()
	if err := svc.validate(files); err != nil {
		return Service{}, err
	}
	return svc, nil
}

// checked is one document converted to JSON and checked against the
// types: what depends on its text and source only.
type checked struct {
	js     []byte
	source string // source with the service's name
	err    error
}

// checkedDocs memoizes checkedJSON: a controller reads the same documents
// at every resync, and converting YAML is most of the cost of reading a
// desired state of hundreds of services. It is emptied when it holds
// maxChecked documents.
var checkedDocs = struct {
	sync.Mutex
	m map[[2]string]checked
}{m: map[[2]string]checked{}}

const maxChecked = 4096

// checkedJSON converts doc to JSON and checks it against the types
// (checkTree); source, completed with the service's name, is returned for
// the messages of the checks that follow.
func checkedJSON(doc []byte, source string) ([]byte, string, error) {
	key := [2]string{source, string(doc)}
	checkedDocs.Lock()
	c, ok := checkedDocs.m[key]
	checkedDocs.Unlock()
	if ok {
		return c.js, c.source, c.err
	}
	c.js, c.source, c.err = convertAndCheck(doc, source)
	checkedDocs.Lock()
	if len(checkedDocs.m) >= maxChecked {
		clear(checkedDocs.m)
	}
	checkedDocs.m[key] = c
	checkedDocs.Unlock()
	return c.js, c.source, c.err
}

func convertAndCheck(doc []byte, source string) ([]byte, string, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, source, &FieldError{Source: source, Msg: "malformed YAML: " + strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, source, &FieldError{Source: source, Msg: "malformed YAML: " + err.Error()}
	}
	if m, ok := tree.(map[string]any); ok {
		if md, ok := m["metadata"].(map[string]any); ok {
			if n, ok := md["name"].(string); ok && n != "" {
				source = fmt.Sprintf("%s service %q", source, n)
			}
		}
	}
	var errs []error
	checkTree(tree, reflect.TypeOf(Document{}), "", source, &errs)
	if len(errs) > 0 {
		return nil, source, errors.Join(errs...)
	}
	return js, source, nil
}

var durationType = reflect.TypeOf(Duration{})

// checkTree walks the decoded document against the Go types and reports,
// with its path, every unknown field (names are case-sensitive) and every
// value of the wrong type, before anything is decoded into the types.
func checkTree(v any, t reflect.Type, path, source string, errs *[]error) {
	bad := func(format string, args ...any) {
		*errs = append(*errs, &FieldError{Source: source, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if v == nil {
		return // null: leave the zero value, validation decides
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		s, ok := v.(string)
		if !ok {
			bad("want a duration string such as \"30s\", got %s", describe(v))
			return
		}
		if _, err := time.ParseDuration(s); err != nil {
			bad("want a duration such as \"30s\" or \"1m30s\", got %q", s)
		}
	case t.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			bad("want a mapping, got %s", describe(v))
			return
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name != "" && name != "-" {
				fields[name] = f
			}
		}
		for _, k := range sortedKeys(m) {
			f, ok := fields[k]
			sub := join(path, k)
			if !ok {
				*errs = append(*errs, &FieldError{Source: source, Path: sub, Msg: "unknown field" + suggest(k, fields)})
				continue
			}
			checkTree(m[k], f.Type, sub, source, errs)
		}
	case t.Kind() == reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			bad("want a mapping, got %s", describe(v))
			return
		}
		for _, k := range sortedKeys(m) {
			checkTree(m[k], t.Elem(), join(path, k), source, errs)
		}
	case t.Kind() == reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			bad("want a list, got %s", describe(v))
			return
		}
		for i, e := range l {
			checkTree(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), source, errs)
		}
	case t.Kind() == reflect.String:
		if _, ok := v.(string); !ok {
			bad("want a string, got %s (quote it)", describe(v))
		}
	case t.Kind() == reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			bad("want an integer, got %s", describe(v))
			return
		}
		if _, err := n.Int64(); err != nil {
			bad("want an integer, got %s", n)
		}
	}
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case json.Number:
		return "number " + x.String()
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

func suggest(k string, fields map[string]reflect.StructField) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf(" (did you mean %q? field names are case-sensitive)", name)
		}
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return " (known fields: " + strings.Join(names, ", ") + ")"
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
