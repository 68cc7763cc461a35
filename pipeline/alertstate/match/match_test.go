package match

import "testing"

// FuzzMatcherRoundTrips: a matcher written out (String, as the console and
// the audit log show it) reads back as the same matcher, whatever its value
// holds (quotes, operators, newlines, bytes that are not UTF-8).
func FuzzMatcherRoundTrips(f *testing.F) {
	for _, s := range [][3]string{
		{"site", "=", `a"b`}, {"severity", "=~", "warn|crit.*"}, {"team", "!=", ""}, {"x", "!~", "=!~"}, {"n_1", "=", " padded "}, {"s", "=", "\xff\n"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, name, op, value string) {
		m, err := NewMatcher(name, MatchOp(op), value)
		if err != nil {
			return
		}
		back, err := ParseMatcher(m.String())
		if err != nil {
			t.Fatalf("ParseMatcher(%q): %v", m.String(), err)
		}
		if back.Name != m.Name || back.Op != m.Op || back.Value != m.Value {
			t.Fatalf("ParseMatcher(%q) = %s %s %q, want %s %s %q", m.String(), back.Name, back.Op, back.Value, m.Name, m.Op, m.Value)
		}
		labels := map[string]string{name: value}
		if back.Matches(labels) != m.Matches(labels) {
			t.Fatalf("%q matches %q differently after the round trip", m.String(), value)
		}
	})
}
