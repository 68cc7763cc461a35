// Package match is label matching in Alertmanager's syntax (name="value",
// name!=value, name=~"re", name!~"re"), with the standard library only so
// the config package can check matchers without importing the pipeline.
package match

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MatchOp is how a Matcher compares a label value.
type MatchOp string

// The match operators, as Alertmanager spells them.
const (
	MatchEqual     MatchOp = "="
	MatchNotEqual  MatchOp = "!="
	MatchRegexp    MatchOp = "=~"
	MatchNotRegexp MatchOp = "!~"
)

// ErrMatcher reports a matcher that cannot be parsed or compiled.
var ErrMatcher = errors.New("invalid matcher")

// Matcher selects alerts by one label. A missing label has the value "",
// so `team!=""` selects alerts that have a team label. Regular expressions
// are anchored at both ends, as in Alertmanager: `site=~"forum.*"` does not
// match "myforum".
type Matcher struct {
	Name  string  `json:"name"`
	Op    MatchOp `json:"op"`
	Value string  `json:"value"`
	re    *regexp.Regexp
}

// NewMatcher builds and checks a matcher.
func NewMatcher(name string, op MatchOp, value string) (Matcher, error) {
	m := Matcher{Name: name, Op: op, Value: value}
	if err := m.Compile(); err != nil {
		return Matcher{}, err
	}
	return m, nil
}

// MustMatcher is NewMatcher for literals in code and tests; it panics on a
// bad matcher, so never call it on input.
func MustMatcher(name string, op MatchOp, value string) Matcher {
	m, err := NewMatcher(name, op, value)
	if err != nil {
		panic(err)
	}
	return m
}

// Compile checks m and prepares its regular expression; call it on a
// Matcher built as a struct literal or decoded by hand.
func (m *Matcher) Compile() error {
	if !validLabelName(m.Name) {
		return fmt.Errorf("%w: label name %q: want [a-zA-Z_][a-zA-Z0-9_]*", ErrMatcher, m.Name)
	}
	switch m.Op {
	case MatchEqual, MatchNotEqual:
		m.re = nil
	case MatchRegexp, MatchNotRegexp:
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMatcher, m.Name, err)
		}
		m.re = re
	default:
		return fmt.Errorf("%w: operator %q: want =, !=, =~ or !~", ErrMatcher, m.Op)
	}
	return nil
}

// Matches reports whether the label set satisfies m.
func (m Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp, MatchNotRegexp:
		re := m.re
		if re == nil {
			// A zero Matcher built without NewMatcher: compile lazily, and
			// treat an uncompilable one as matching nothing.
			c := m
			if c.Compile() != nil {
				return false
			}
			re = c.re
		}
		return re.MatchString(v) == (m.Op == MatchRegexp)
	}
	return false
}

// String renders m in Alertmanager syntax: name="value".
func (m Matcher) String() string {
	return m.Name + string(m.Op) + strconv.Quote(m.Value)
}

// UnmarshalJSON compiles the matcher as it is read.
func (m *Matcher) UnmarshalJSON(b []byte) error {
	type plain Matcher
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = Matcher(p)
	return m.Compile()
}

// ParseMatcher reads one matcher in Alertmanager syntax: name="value",
// name!=value, name=~"re", name!~re. Quotes around the value are optional.
func ParseMatcher(s string) (Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return Matcher{}, fmt.Errorf("%w: %q: want name=value, name!=value, name=~re or name!~re", ErrMatcher, s)
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var op MatchOp
	for _, o := range []MatchOp{MatchRegexp, MatchNotRegexp, MatchNotEqual, MatchEqual} {
		if strings.HasPrefix(rest, string(o)) {
			op = o
			break
		}
	}
	if op == "" {
		return Matcher{}, fmt.Errorf("%w: %q: no operator", ErrMatcher, s)
	}
	val := strings.TrimSpace(rest[len(op):])
	if strings.HasPrefix(val, `"`) {
		u, err := strconv.Unquote(val)
		if err != nil {
			return Matcher{}, fmt.Errorf("%w: %q: bad quoting", ErrMatcher, s)
		}
		val = u
	}
	return NewMatcher(name, op, val)
}

// ParseMatchers reads a list of matchers (each in ParseMatcher syntax).
func ParseMatchers(ss []string) ([]Matcher, error) {
	out := make([]Matcher, 0, len(ss))
	for _, s := range ss {
		m, err := ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// MatchAll reports whether every matcher matches (true for none).
func MatchAll(ms []Matcher, labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
