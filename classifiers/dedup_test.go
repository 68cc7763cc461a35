package classifiers

import (
	"fmt"
	"strings"
	"testing"
)

func TestDedupPIILeavesNoPartOfAnOverlappingFindInClear(t *testing.T) {
	// Offsets: "klmnopqrs" 11-19, ", " 20-21, "tuvwxyz" 22-28, " " 29,
	// "é" 30-31 (two bytes), "12345" 32-36.
	text := "abcdefghij klmnopqrs, tuvwxyz é12345"
	for _, tc := range []struct {
		name string
		in   []pii
		want string
	}{
		{"apart", []pii{{"a", 11, 20}, {"b", 0, 10}}, "b[0,10) a[11,20)"},
		{"inside is dropped", []pii{{"a", 0, 20}, {"b", 3, 8}}, "a[0,20)"},
		{"same start: the longer is kept", []pii{{"a", 0, 8}, {"b", 0, 20}}, "b[0,20)"},
		{"a longer one running on is kept whole; the other keeps what lies before it", []pii{{"a", 0, 12}, {"b", 5, 35}}, "a[0,5) b[5,35)"},
		{"what lies before it ends at its last letter or digit", []pii{{"a", 0, 12}, {"b", 11, 35}}, "a[0,10) b[11,35)"},
		{"nothing but spaces before it: the other is dropped", []pii{{"a", 10, 13}, {"b", 11, 35}}, "b[11,35)"},
		{"a shorter one running on keeps what lies beyond the other", []pii{{"a", 0, 18}, {"b", 15, 27}}, "a[0,18) b[18,27)"},
		{"the rest starts at its next letter or digit", []pii{{"a", 0, 20}, {"b", 15, 27}}, "a[0,20) b[22,27)"},
		{"a rest of punctuation and spaces is dropped", []pii{{"a", 0, 22}, {"b", 15, 22}, {"c", 18, 22}}, "a[0,22)"},
		{"a rest starting with a non-ASCII letter keeps it", []pii{{"a", 0, 30}, {"b", 25, 37}}, "a[0,30) b[30,37)"},
		{"a chain", []pii{{"a", 0, 10}, {"b", 5, 15}, {"c", 12, 25}}, "a[0,10) b[11,12) c[12,25)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range dedupPII(text, append([]pii(nil), tc.in...)) {
				got = append(got, fmt.Sprintf("%s[%d,%d)", p.kind, p.start, p.end))
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("got %s, want %s", g, tc.want)
			}
		})
	}
}

// Found by FuzzRedactHidesPlantedData: an address whose tail a longer
// street name overlaps. Only the street name was kept, so the house
// number and street were left in clear.
func TestRedactHidesAnAddressAStreetNameOverlaps(t *testing.T) {
	for _, text := range []string{
		"15 Millrace Ln Aa00000000 A000 Pl",
		"000000000000000 15 Millrace Ln Aa00000000 A000 Pl",
		"she is at 15 Millrace Ln Aa00000000 A000 Pl tonight",
	} {
		out := Redact(text)
		for _, v := range []string{"15", "Millrace"} {
			if strings.Contains(out, v) {
				t.Errorf("Redact(%q) = %q: %q left in clear", text, out, v)
			}
		}
	}
}
