package msg

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite golden files")

func samplePost() *Post {
	p := &Post{
		Site: "kiwi-mirror", Engine: "xenforo", SitePostID: "4711", URL: "https://forum.example/posts/4711",
		ThreadID: "99", Thread: "Thread title", Author: "anon", AuthorID: "12",
		Published: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Fetched: time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC),
		Text: "she lives at 12 Elm Street, call 555-0142", Quoted: []string{"quoted words"},
	}
	p.Normalize()
	return p
}

func TestPostIDIsStableAndSiteScoped(t *testing.T) {
	// Ids are keys in Redis and Kafka that outlive a release: the same
	// post must get the same id from every version.
	if got := PostID("a", "1"); got != "a:05a9c569a185ac60" {
		t.Fatalf("PostID(a, 1) = %q, want the id earlier versions gave", got)
	}
	if PostID("a", "1") == PostID("b", "1") || PostID("a", "1") == PostID("a", "2") {
		t.Fatal("ids collide across sites or posts")
	}
	if !strings.HasPrefix(PostID("site", "1"), "site:") {
		t.Fatal("id does not start with its site")
	}
}

func TestContentHashNoticesEditsOnly(t *testing.T) {
	a := ContentHash("hello", "q")
	if a != ContentHash("hello", "q") {
		t.Fatal("unstable")
	}
	if a == ContentHash("hello!", "q") || a == ContentHash("hello", "q2") || ContentHash("ab", "") == ContentHash("a", "b") {
		t.Fatal("edit not noticed")
	}
}

// The golden file pins the wire format: a change to it is a schema change.
func TestWireFormatGolden(t *testing.T) {
	p := samplePost()
	s := &Scored{Post: *p, Scores: map[Signal]float64{SignalDoxxing: 0.93, SignalSwatting: 0, SignalThreat: 0.1},
		Evidence:   []Span{{Signal: SignalDoxxing, Kind: "street_address", Field: "text", Start: 13, End: 26, Snippet: "lives at [ADDRESS]"}},
		Entities:   []Entity{{Kind: EntityPerson, Name: "Jane Roe", Ref: TargetRef("Jane Roe"), Target: true}},
		Classifier: "threatwatch", Version: "1.0.0"}
	l := &Level{Site: p.Site, Time: p.Published, Level: 3.5, Baseline: 1.2, Name: "high"}
	labels := map[string]string{"alertname": "ThreatLevelSpike", "site": p.Site, "signal": "doxxing", "severity": "high"}
	a := &Alert{Labels: labels, Fingerprint: Fingerprint(labels, p.Published), Status: StatusFiring, StartsAt: p.Published, EventTime: p.Published}
	d := &DeadLetter{Stage: "classify", Reason: "schema", Error: "unknown schema", Topic: "posts", Partition: 1, Offset: 7, Value: []byte(`{"x":1}`), At: p.Fetched}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, m := range []Message{p, s, l, a, d} {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	golden := "testdata/messages.golden.jsonl"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("wire format changed (run with -update if intended):\n%s", buf.String())
	}
	// And every line decodes back by its schema.
	for i, line := range bytes.Split(bytes.TrimSpace(want), []byte("\n")) {
		m, err := DecodeAny(line)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if m.DedupID() == "" {
			t.Fatalf("line %d: no id", i+1)
		}
	}
}

func TestDecodeRejectsWhatItCannotTrust(t *testing.T) {
	f := func(in string, want error) {
		t.Helper()
		_, err := Decode[Post]([]byte(in))
		if !errors.Is(err, want) {
			t.Errorf("Decode(%s) = %v, want %v", in, err, want)
		}
	}
	f(`{`, ErrInvalid)
	f(`{"schema":"post/2","id":"a"}`, ErrSchema)
	f(`{"id":"a"}`, ErrSchema)
	f(`{"schema":"post/1"}`, ErrInvalid)
	f(`[1,2]`, ErrInvalid)
	if _, err := Decode[Scored]([]byte(`{"schema":"scored/1","post":{"id":"x"},"scores":{"threat":1.5}}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("score out of range accepted: %v", err)
	}
}

// readPosts reads r to its end: the ids of the posts read, and the bad
// lines reported. It fails the test if r does not end.
func readPosts(t *testing.T, r *Reader[Post, *Post]) (ids, bad []string) {
	t.Helper()
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatalf("no end after %d calls: good %v, bad %v", i, ids, bad)
		}
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return ids, bad
		}
		var le *LineError
		if errors.As(err, &le) {
			bad = append(bad, le.Error())
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
}

func TestReaderReportsBadLinesAndGoesOn(t *testing.T) {
	in := "{\"id\":\"a\",\"text\":\"x\",\"fetched\":\"2026-01-01T00:00:00Z\"}\nnot json\n\n{\"site\":\"s\",\"site_post_id\":\"2\",\"text\":\"y\",\"published\":\"2026-01-01T00:00:00Z\"}\n{\"schema\":\"post/7\",\"id\":\"c\"}\n"
	got, bad := readPosts(t, NewReader[Post](strings.NewReader(in), "posts.jsonl", true))
	if len(got) != 2 || got[0] != "a" || got[1] != PostID("s", "2") {
		t.Fatalf("good lines = %v", got)
	}
	if len(bad) != 2 || !strings.HasPrefix(bad[0], "posts.jsonl:2:") || !strings.HasPrefix(bad[1], "posts.jsonl:5:") {
		t.Fatalf("bad lines = %v", bad)
	}
}

// A post with no time has no place in any window downstream: every
// decoder refuses it as invalid, naming both fields, as it refuses a post
// with no id. An UntimedPost, read for its text alone, may have none.
func TestAPostWithNeitherPublishedNorFetchedTimeIsRefused(t *testing.T) {
	decoders := map[string]func([]byte) (Message, error){
		"Decode":        wrap(Decode[Post]),
		"DecodeLenient": wrap(DecodeLenient[Post]),
		"DecodeAny":     DecodeAny,
	}
	f := func(in string, ok bool) {
		t.Helper()
		for name, decode := range decoders {
			_, err := decode([]byte(in))
			switch {
			case ok && err != nil:
				t.Errorf("%s(%s) = %v, want it accepted", name, in, err)
			case !ok && (!errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), "published") || !strings.Contains(fmt.Sprint(err), "fetched")):
				t.Errorf("%s(%s) = %v, want ErrInvalid naming published and fetched", name, in, err)
			}
		}
	}
	f(`{"schema":"post/1","id":"a","text":"x"}`, false)
	f(`{"schema":"post/1","id":"a","published":"0001-01-01T00:00:00Z","fetched":"0001-01-01T00:00:00Z"}`, false)
	f(`{"schema":"post/1","id":"a","published":"2026-03-01T12:00:00Z"}`, true)
	f(`{"schema":"post/1","id":"a","fetched":"2026-03-01T12:00:00Z"}`, true)

	if _, err := DecodeLenient[Post]([]byte(`{"site":"s","site_post_id":"1","text":"x"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a hand-written line without a time: %v, want ErrInvalid", err)
	}
	u, err := DecodeLenient[UntimedPost]([]byte(`{"site":"s","site_post_id":"1","text":"x"}`))
	if err != nil || u.ID != PostID("s", "1") || u.Text != "x" {
		t.Errorf("read for its text: %+v, %v; want the post, its id filled in", u, err)
	}
	if _, err := DecodeLenient[UntimedPost]([]byte(`{"site":"s","text":"x"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("read for its text, without an id: %v, want ErrInvalid", err)
	}
}

func TestLogValueNeverPrintsTextOrPII(t *testing.T) {
	p := samplePost()
	s := &Scored{Post: *p, Scores: map[Signal]float64{SignalDoxxing: 1}, Evidence: []Span{{Snippet: "12 Elm Street"}}}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("post", "post", p, "scored", s, "level", &Level{Site: "s", Contributors: []Contributor{{Snippet: "555-0142"}}})
	out := buf.String()
	for _, pii := range []string{"Elm Street", "555-0142", "anon", "forum.example", "quoted words"} {
		if strings.Contains(out, pii) {
			t.Errorf("log line contains %q: %s", pii, out)
		}
	}
	if !strings.Contains(out, p.ID) {
		t.Errorf("log line lacks the post id: %s", out)
	}
}

func TestFingerprintIgnoresLabelOrderButNotValues(t *testing.T) {
	t0 := time.Unix(0, 0)
	a := Fingerprint(map[string]string{"a": "1", "b": "2"}, t0)
	if a != Fingerprint(map[string]string{"b": "2", "a": "1"}, t0) {
		t.Fatal("order matters")
	}
	if a == Fingerprint(map[string]string{"a": "1", "b": "3"}, t0) || a == Fingerprint(map[string]string{"a": "12"}, t0) {
		t.Fatal("different label sets collide")
	}
	if a == Fingerprint(map[string]string{"a": "1", "b": "2"}, t0.Add(time.Hour)) {
		t.Fatal("a new episode must get a new fingerprint")
	}
}

func BenchmarkDecodeScored(b *testing.B) {
	p := samplePost()
	p.Text = strings.Repeat("ordinary forum chatter about games and weather ", 20)
	s := &Scored{Post: *p, Scores: map[Signal]float64{SignalDoxxing: 0.1, SignalSwatting: 0, SignalThreat: 0.2}, Classifier: "c", Version: "1"}
	enc, _ := Encode(s)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode[Scored](enc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestClipCutsLongTextsAtRuneBoundaries(t *testing.T) {
	long := strings.Repeat("é", MaxTextBytes) // two bytes a rune
	for _, tc := range []struct {
		name       string
		text       string
		quoted     []string
		cut        bool
		textLen    int
		quotedLens []int
	}{
		{"short", "hello", []string{"a", "b"}, false, 5, []int{1, 1}},
		{"text over the cap", "x" + long, nil, true, MaxTextBytes - 1, nil},
		{"text at the cap", strings.Repeat("x", MaxTextBytes), nil, false, MaxTextBytes, nil},
		{"quoted over the cap together", "t", []string{strings.Repeat("q", MaxQuotedBytes-10), strings.Repeat("r", 30), "s"}, true, 1, []int{MaxQuotedBytes - 10, 10}},
		{"quoted cut to nothing is dropped", "t", []string{strings.Repeat("q", MaxQuotedBytes), "r"}, true, 1, []int{MaxQuotedBytes}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Post{Text: tc.text, Quoted: append([]string(nil), tc.quoted...)}
			if got := p.Clip(); got != tc.cut {
				t.Errorf("Clip() = %v, want %v", got, tc.cut)
			}
			if len(p.Text) != tc.textLen || !strings.HasPrefix(tc.text, p.Text) || !utf8.ValidString(p.Text) {
				t.Errorf("text of %d bytes, want %d, a valid prefix", len(p.Text), tc.textLen)
			}
			var lens []int
			for _, q := range p.Quoted {
				lens = append(lens, len(q))
			}
			if fmt.Sprint(lens) != fmt.Sprint(tc.quotedLens) {
				t.Errorf("quoted lengths %v, want %v", lens, tc.quotedLens)
			}
		})
	}
}

// A schema field is quoted in errors, which reach dead letters' headers
// and logs: a producer that put a post's text there (a field mix-up)
// must not have it quoted back. A schema name is.
func TestASchemaErrorQuotesOnlyASchemaName(t *testing.T) {
	for _, c := range []struct {
		name, schema, want, never string
	}{
		{"a newer version is named", "post/9", `"post/9"`, ""},
		{"text is not quoted", "call 555 0147 at 12 Oak Street", "not a name", "Oak"},
		{"a long value is not quoted", strings.Repeat("a", 80), "not a name", "aaaaaaaaaa"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"schema": c.schema, "site": "s", "site_post_id": "1"})
			for _, decode := range []func() error{
				func() error { _, err := DecodeAny(b); return err },
				func() error { _, err := Decode[Post](b); return err },
			} {
				err := decode()
				if err == nil || !strings.Contains(err.Error(), c.want) || (c.never != "" && strings.Contains(err.Error(), c.never)) {
					t.Errorf("error %v, want it to contain %s and not %q", err, c.want, c.never)
				}
			}
		})
	}
}

// A score's signal name is quoted in the error of a score out of range
// only when it is a name.
func TestAScoreErrorQuotesOnlyASignalName(t *testing.T) {
	for _, c := range []struct{ sig, want, never string }{
		{"threat", `"threat"=2`, ""},
		{"she lives at 12 Oak Street", "not a name", "Oak"},
	} {
		s := &Scored{Schema: SchemaScored, Post: Post{ID: "p"}, Scores: map[Signal]float64{Signal(c.sig): 2}}
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.never != "" && strings.Contains(err.Error(), c.never)) {
			t.Errorf("error %v, want it to contain %s and not %q", err, c.want, c.never)
		}
	}
}

// Span.Unit is optional: evidence without it encodes as before (the golden
// file pins that), a message from before it decodes with it empty, and a
// set one survives the round trip.
func TestSpanUnitIsOptionalAndRoundTrips(t *testing.T) {
	p := samplePost()
	f := func(name string, unit SpanUnit, wantKey bool) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			s := &Scored{Post: *p, Scores: map[Signal]float64{SignalDoxxing: 1},
				Evidence: []Span{{Signal: SignalDoxxing, Kind: "watchlist:address", Field: "text", Snippet: "at [ADDRESS, OTHER UNIT]", Unit: unit}}}
			b, err := Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(b, []byte(`"unit":`)); got != wantKey {
				t.Fatalf("encoded has a unit key: %v, want %v: %s", got, wantKey, b)
			}
			back, err := Decode[Scored](b)
			if err != nil {
				t.Fatal(err)
			}
			if got := back.Evidence[0].Unit; got != unit {
				t.Fatalf("decoded unit %q, want %q", got, unit)
			}
		})
	}
	f("not compared", "", false)
	f("same unit", SpanUnitSame, true)
	f("other unit", SpanUnitOther, true)
}
