package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The YAML decoder words its errors after the Go types ("line 2: field
// broker not found in type config.Kafka"); an operator wrote key paths.
// keyPaths rewrites each "line N: ..." of a decoding error with the path
// of the key on line N, and an unknown key as such, with the nearest
// known key when one is close.

var (
	lineRef  = regexp.MustCompile(`^line (\d+): (.*)$`)
	notFound = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

var unmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// keyAt is a key the file holds: its dotted path, the line it is on, and
// the Go type of the value that holds it (for the known keys there).
type keyAt struct {
	path   string
	key    string
	line   int
	parent reflect.Type
}

// decodeError returns err, from decoding b into a Config, in key paths.
func decodeError(b []byte, err error) error {
	var root yaml.Node
	if yaml.Unmarshal(b, &root) != nil {
		return err // a syntax error: the decoder's line is all there is
	}
	var keys []keyAt
	walkKeys(&root, "", reflect.TypeOf(Config{}), &keys)
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = rewrite(l, keys)
	}
	return errors.New(strings.Join(out, "; "))
}

func rewrite(l string, keys []keyAt) string {
	m := lineRef.FindStringSubmatch(l)
	if m == nil {
		return l
	}
	n, _ := strconv.Atoi(m[1])
	rest := m[2]
	if f := notFound.FindStringSubmatch(rest); f != nil {
		for _, k := range keys {
			if k.line == n && k.key == f[1] {
				msg := fmt.Sprintf("line %d: %s: unknown key", n, k.path)
				if near := nearest(f[1], knownKeys(k.parent)); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				return msg
			}
		}
		return l
	}
	// The deepest key on the line: the one whose value was refused.
	path := ""
	for _, k := range keys {
		if k.line == n {
			path = k.path
		}
	}
	if path == "" {
		return l
	}
	return fmt.Sprintf("line %d: %s: %s", n, path, rest)
}

// walkKeys records the keys of node n, which decodes into a value of type
// t (nil: unknown), under path prefix.
func walkKeys(n *yaml.Node, prefix string, t reflect.Type, out *[]keyAt) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(unmarshaler) {
		// A value that reads itself (a Secret's {env: NAME}): its error is
		// the key's, not one of keys inside it.
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkKeys(c, prefix, t, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			*out = append(*out, keyAt{path: path, key: k.Value, line: k.Line, parent: t})
			walkKeys(v, path, fieldType(t, k.Value), out)
		}
	case yaml.SequenceNode:
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i, c := range n.Content {
			walkKeys(c, prefix+"["+strconv.Itoa(i)+"]", elem, out)
		}
	}
}

// fieldType is the type key decodes into inside a value of type t.
func fieldType(t reflect.Type, key string) reflect.Type {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if strings.Contains(opts, "inline") {
				if ft := fieldType(f.Type, key); ft != nil {
					return ft
				}
				continue
			}
			if name == key {
				return f.Type
			}
		}
	}
	return nil
}

// knownKeys lists the keys a value of struct type t takes.
func knownKeys(t reflect.Type) []string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case strings.Contains(opts, "inline"):
			keys = append(keys, knownKeys(f.Type)...)
		case name != "" && name != "-" && f.IsExported():
			keys = append(keys, name)
		}
	}
	return keys
}

// nearest returns the known key closest to key in edits, if it is close
// enough to be a typo of it.
func nearest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestD || d == bestD && best != "" && k < best {
			best, bestD = k, d
		}
	}
	if bestD > max(1, len(key)/3) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	before := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				// Two letters swapped ("kafak"): one slip, not two.
				cur[j] = min(cur[j], before[j-2]+1)
			}
		}
		before, prev, cur = prev, cur, before
	}
	return prev[len(b)]
}

// extraDocument reports whether b holds a second YAML document with
// anything in it: the decoder reads the first and would ignore the rest.
func extraDocument(b []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var n yaml.Node
	if dec.Decode(&n) != nil {
		return false
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) || err != nil {
			return false
		}
		if len(next.Content) > 0 && !(next.Content[0].Kind == yaml.ScalarNode && next.Content[0].Tag == "!!null") {
			return true
		}
	}
}
