package replay

import (
	"strings"
	"testing"
)

// A bad line is printed on standard error, which ends up in terminals,
// CI logs and tickets: its report names the file, the line and what is
// wrong, and quotes none of the line's content (a post's fields can hold
// a victim's name, address or phone number).
func TestABadLineReportQuotesNoneOfTheLine(t *testing.T) {
	const pii = "Clara Sorrenti lives at 12 Main Street"
	words := []string{"Clara", "Sorrenti", "lives", "Main"}
	good := readScenario(t, "quiet")[:3]
	f := func(line, want string) {
		t.Helper()
		p := writeTemp(t, "bad.jsonl", [][]byte{good[0], []byte(line), good[1], good[2]})
		r := replayFiles(t, []string{p}, nil)
		if len(r.bad) != 1 {
			t.Fatalf("%s: bad lines %q, want line 2 reported", line, r.bad)
		}
		if !strings.HasPrefix(r.bad[0], p+":2: ") || !strings.Contains(r.bad[0], want) {
			t.Errorf("%s: report %q, want %q at line 2", line, r.bad[0], want)
		}
		for _, w := range words {
			if strings.Contains(r.bad[0], w) {
				t.Errorf("%s: report %q quotes the line", line, r.bad[0])
				break
			}
		}
		if r.stats.Records != 3 {
			t.Errorf("%s: replayed %d posts, want the 3 good ones", line, r.stats.Records)
		}
	}
	// Lines without the scored/1 prefix take the lenient decoder.
	f(`{"post":{"id":"s:1","site":"s","published":"`+pii+`"},"scores":{"threat":0.1}}`, "not RFC 3339")
	f(`{"id":"s:2","site":"s","published":"2026-03-02T00:00:00Z","fetched":"`+pii+`"}`, "not RFC 3339")
	f(`{"id":"s:3","site":"s","published":"2026-03-02T00:00:00Z","text":["`+pii+`"]}`, "text of type string")
	f(`{"schema":"`+pii+`"}`, "unknown or missing schema")
	f(`{"schema":"scored/1","post":{"id":"s:4","site":"s","published":"`+pii+`"},"scores":{"threat":0.1}}`, "not RFC 3339")
}
