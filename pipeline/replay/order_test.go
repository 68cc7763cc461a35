package replay

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// readScenario returns the decompressed lines of a scenario file.
func readScenario(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := openFile(scenario(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f.br)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func writeTemp(t testing.TB, name string, lines [][]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		if !bytes.HasSuffix(l, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	data := buf.Bytes()
	switch {
	case strings.HasSuffix(name, ".gz"):
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	case strings.HasSuffix(name, ".zst"):
		var z bytes.Buffer
		zw, _ := zstd.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sameOutputs(t *testing.T, what string, a, b result) {
	t.Helper()
	if !bytes.Equal(a.alerts, b.alerts) {
		t.Errorf("%s: alert files differ (%d vs %d bytes)", what, len(a.alerts), len(b.alerts))
	}
	if !bytes.Equal(a.levels, b.levels) {
		t.Errorf("%s: level files differ (%d vs %d bytes)", what, len(a.levels), len(b.levels))
	}
	if len(a.alerts) == 0 && len(a.levels) == 0 {
		t.Errorf("%s: nothing was written; the comparison proves nothing", what)
	}
}

func TestDeterminism(t *testing.T) {
	paths := []string{scenario("campaign"), scenario("late"), scenario("dupes")}
	base := replayFiles(t, paths, func(o *Options) { o.Workers = 1; o.ChunkLines = 1; o.BatchSize = 1 })
	if len(base.onsets) == 0 {
		t.Fatal("no alerts: the determinism check needs some")
	}
	for _, tc := range []struct {
		name                      string
		workers, chunk, batchSize int
	}{
		{"two workers, default chunks", 2, 0, 0},
		{"eight workers, odd chunks", 8, 7, 13},
		{"four workers, huge chunks", 4, 100000, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := replayFiles(t, paths, func(o *Options) { o.Workers, o.ChunkLines, o.BatchSize = tc.workers, tc.chunk, tc.batchSize })
			sameOutputs(t, tc.name, base, got)
		})
	}
}

func TestOrdering(t *testing.T) {
	t.Run("posts shuffled within the grace period replay exactly like sorted posts", func(t *testing.T) {
		var kept [][]byte
		for _, l := range readScenario(t, "late") {
			if !bytes.Contains(l, []byte(`verylate-`)) {
				kept = append(kept, l)
			}
		}
		sorted := slices.Clone(kept)
		slices.SortStableFunc(sorted, func(a, b []byte) int {
			ra, _ := decodeRecord(bytes.TrimSpace(a))
			rb, _ := decodeRecord(bytes.TrimSpace(b))
			if c := ra.Time.Compare(rb.Time); c != 0 {
				return c
			}
			return strings.Compare(ra.ID, rb.ID)
		})
		if slices.EqualFunc(kept, sorted, bytes.Equal) {
			t.Fatal("the late scenario is already sorted; the test proves nothing")
		}
		shuffled := replayFiles(t, []string{writeTemp(t, "shuffled.jsonl", kept)}, nil)
		inOrder := replayFiles(t, []string{writeTemp(t, "sorted.jsonl", sorted)}, nil)
		sameOutputs(t, "shuffled vs sorted", shuffled, inOrder)
		if shuffled.stats.Late != 0 {
			t.Errorf("%d posts counted late, want 0 within the window", shuffled.stats.Late)
		}
	})
	t.Run("duplicates replay exactly like the unique posts", func(t *testing.T) {
		var uniq [][]byte
		seen := map[string]bool{}
		lines := readScenario(t, "dupes")
		for _, l := range lines {
			r, err := decodeRecord(bytes.TrimSpace(l))
			if err != nil {
				t.Fatal(err)
			}
			if !seen[r.ID] {
				seen[r.ID] = true
				uniq = append(uniq, l)
			}
		}
		dup := replayFiles(t, []string{scenario("dupes")}, nil)
		one := replayFiles(t, []string{writeTemp(t, "uniq.jsonl", uniq)}, nil)
		sameOutputs(t, "with vs without duplicates", dup, one)
		if want := int64(len(lines) - len(uniq)); dup.stats.Duplicates != want {
			t.Errorf("%d duplicates, want %d", dup.stats.Duplicates, want)
		}
	})
	t.Run("a scenario split across a gzip and a zstd file replays like one file", func(t *testing.T) {
		lines := readScenario(t, "campaign")
		var a, b [][]byte
		for i, l := range lines {
			// Split by line parity: both files span the whole time range.
			if i%2 == 0 {
				a = append(a, l)
			} else {
				b = append(b, l)
			}
		}
		dir := t.TempDir()
		pa := writeTemp(t, "a.jsonl.gz", a)
		pb := writeTemp(t, "b.jsonl.zst", b)
		for _, p := range []string{pa, pb} {
			data, _ := os.ReadFile(p)
			os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644)
		}
		files, err := ExpandInputs([]string{dir})
		if err != nil || len(files) != 2 {
			t.Fatalf("ExpandInputs(dir) = %v, %v; want the two files", files, err)
		}
		split := replayFiles(t, files, nil)
		whole := replayFiles(t, []string{scenario("campaign")}, nil)
		sameOutputs(t, "split vs whole", split, whole)
	})
}

func TestBadLines(t *testing.T) {
	good := readScenario(t, "quiet")[:40]
	lines := slices.Clone(good[:10])
	lines = append(lines,
		[]byte("{not json\n"),
		[]byte(`{"schema":"alert/1","labels":{"alertname":"x"},"fingerprint":"f","status":"firing"}`+"\n"),
		[]byte(`{"schema":"scored/1","post":{"id":"x:1","site":"x","published":"2026-03-02T00:00:00Z"},"scores":{"threat":7}}`+"\n"),
		[]byte(`{"schema":"post/9","id":"x"}`+"\n"),
		[]byte(`{"schema":"scored/1","post":{"id":"x:2","site":"x"},"scores":{"threat":0.5}}`+"\n"),
		[]byte("\n"),
	)
	lines = append(lines, good[10:]...)
	p := writeTemp(t, "bad.jsonl", lines)
	r := replayFiles(t, []string{p}, func(o *Options) { o.ChunkLines = 3 })
	wantLines := []string{":11: ", ":12: ", ":13: ", ":14: ", ":15: "}
	if len(r.bad) != len(wantLines) {
		t.Fatalf("bad lines reported: %q, want lines 11-15", r.bad)
	}
	for i, w := range wantLines {
		if !strings.HasPrefix(r.bad[i], p+w) {
			t.Errorf("report %d = %q, want it to start with %q", i, r.bad[i], p+w)
		}
	}
	for i, want := range []string{"invalid message", "not a post", "outside [0,1]", "unknown or missing schema", "neither published nor fetched"} {
		if !strings.Contains(r.bad[i], want) {
			t.Errorf("report %q does not say %q", r.bad[i], want)
		}
	}
	if r.stats.Records != 40 || r.stats.BadLines != 5 {
		t.Errorf("replayed %d posts with %d bad lines, want 40 and 5", r.stats.Records, r.stats.BadLines)
	}
}

func TestLongLineIsReportedAndSkipped(t *testing.T) {
	good := readScenario(t, "quiet")[:5]
	long := append([]byte(`{"schema":"post/1","text":"`), bytes.Repeat([]byte("a"), msg.MaxLine+10)...)
	long = append(long, []byte("\"}\n")...)
	lines := [][]byte{good[0], good[1], long, good[2], good[3], good[4]}
	r := replayFiles(t, []string{writeTemp(t, "long.jsonl", lines)}, nil)
	if len(r.bad) != 1 || !strings.Contains(r.bad[0], ":3: line longer than") {
		t.Fatalf("bad lines %q, want line 3 reported as too long", r.bad)
	}
	if r.stats.Records != 5 {
		t.Errorf("replayed %d posts, want the other 5", r.stats.Records)
	}
}

func TestFastDecoderAgreesWithStandardDecoder(t *testing.T) {
	var lines [][]byte
	for _, name := range []string{"campaign", "dupes"} {
		lines = append(lines, readScenario(t, name)...)
	}
	// Odd but valid inputs: escapes, unicode, unknown fields, nulls,
	// fields in another order, numbers in exponent form.
	lines = append(lines,
		[]byte(`{"schema":"scored/1","post":{"schema":"post/1","id":"s:1","site":"s","published":"2026-03-02T01:02:03.123456789+02:00","fetched":"2026-03-02T00:00:00Z","text":"quote \" backslash \\ tab \t unicode \u00e9 \ud83d\ude00 <>&","quoted":["a","b\nc"],"backfill":true,"unknown":{"x":[1,2,{"y":null}]}},"scores":{"doxxing":1e-1,"threat":0.75,"swatting":0},"evidence":[{"signal":"threat","kind":"intent_to_harm","start":1,"end":5,"snippet":"[NAME] x","weight":0.5}],"entities":[{"kind":"person","name":"N","ref":"n","target":true}],"classifier":"c","version":"v","scored_at":"2026-03-02T00:00:00Z","extra":null}`),
		[]byte(`{"schema":"scored/1","classifier":null,"scores":{"threat":1},"post":{"published":"2026-03-02T00:00:00Z","site":"s","site_post_id":"9","id":"s:9"}}`),
		[]byte(`{"schema":"scored/1" , "post" : { "id" : "s:3" , "site":"s", "fetched":"2026-03-02T00:00:00Z" } , "scores" : { } }`),
		// No post id: derived from site and site_post_id, as the lenient decoder does.
		[]byte(`{"schema":"scored/1","post":{"site":"s","site_post_id":"7","published":"2026-03-02T00:00:00Z","text":"t"},"scores":{"threat":0.2}}`),
	)
	// One decoder for all lines, as replay uses it: strings interned from
	// earlier lines must not leak into later ones.
	dec := codec.NewScoredDecoder()
	for i, l := range lines {
		l = bytes.TrimSpace(l)
		want, werr := msg.DecodeLenient[msg.Scored](l)
		got, gerr := dec.Decode(l)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("line %d: standard error %v, fast error %v", i+1, werr, gerr)
		}
		if werr != nil {
			continue
		}
		wb, _ := msg.Encode(want)
		gb, _ := msg.Encode(got)
		if !bytes.Equal(wb, gb) {
			t.Fatalf("line %d decodes differently:\nstandard: %s\n    fast: %s", i+1, wb, gb)
		}
	}
	for _, bad := range []string{
		`{"schema":"scored/1","post":{"id":"s:1","site":"s","published":"yesterday"},"scores":{}}`,
		`{"schema":"scored/1","post":{"id":"s:1","site":"s"},"scores":{"threat":"high"}}`,
		`{"schema":"scored/1","post":{"id":"s:1","site":"s"},"scores":{"threat":0.5}`,
		`{"schema":"scored/1","post":{"id":"s:1","site":"s"},"scores":{"threat":0.5}} trailing`,
		`{"schema":"scored/1","post":{"id":1,"site":"s"}}`,
		`{"schema":"scored/1","post":{"id":"s:1","site":"s\x"}}`,
	} {
		if _, err := dec.Decode([]byte(bad)); err == nil {
			t.Errorf("fast decoder accepted %s", bad)
		} else if !errors.Is(err, msg.ErrInvalid) {
			t.Errorf("fast decoder error for %s is not ErrInvalid: %v", bad, err)
		}
	}
}

func TestRawPostsAreScoredInOrder(t *testing.T) {
	// Raw posts go through the scorer on several goroutines; the outputs
	// must not depend on which finished first.
	var lines [][]byte
	for _, l := range readScenario(t, "dupes") {
		s, err := msg.DecodeLenient[msg.Scored](bytes.TrimSpace(l))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := msg.Encode(&s.Post)
		lines = append(lines, append(b, '\n'))
	}
	p := writeTemp(t, "raw.jsonl", lines)
	run := func(workers int) result {
		cfg := config.Default()
		src, err := Files([]string{p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		eng, _ := NewAggregateEngine(cfg.Aggregate)
		var ab, lb bytes.Buffer
		aw, lw := NewAlertWriter(&ab), NewLevelWriter(&lb)
		o := Options{Workers: workers, BatchSize: 5}
		o.FromAggregate(cfg.Aggregate)
		st, err := Run(context.Background(), src, o, &Lane{Name: "raw", Engine: eng, Scorer: &keywordScorer{}, Sinks: []Sink{aw, lw}})
		if err != nil {
			t.Fatal(err)
		}
		aw.Flush()
		lw.Flush()
		return result{alerts: ab.Bytes(), levels: lb.Bytes(), stats: st}
	}
	one, four := run(1), run(4)
	sameOutputs(t, "1 vs 4 scoring goroutines", one, four)
	if one.stats.Scored == 0 || one.stats.Scored != one.stats.Records {
		t.Errorf("scored %d of %d posts, want all", one.stats.Scored, one.stats.Records)
	}
}

func TestRawPostsWithoutClassifiersFail(t *testing.T) {
	p := writeTemp(t, "raw.jsonl", [][]byte{[]byte(`{"id":"x:1","site":"x","published":"2026-03-02T00:00:00Z","text":"hi"}`)})
	src, _ := Files([]string{p}, nil)
	eng, _ := NewAggregateEngine(config.Default().Aggregate)
	_, err := Run(context.Background(), src, Options{}, &Lane{Name: "a", Engine: eng})
	if !errors.Is(err, ErrNoScorer) {
		t.Fatalf("err = %v, want ErrNoScorer", err)
	}
}

// keywordScorer is a tiny deterministic scorer for tests of the scoring
// path (the classifiers have their own tests). It sleeps a little at random
// so that goroutines finish out of order.
type keywordScorer struct{}

func (keywordScorer) Score(ctx context.Context, p *msg.Post) (*msg.Scored, error) {
	time.Sleep(time.Duration(len(p.ID)%3) * 50 * time.Microsecond)
	s := &msg.Scored{Schema: msg.SchemaScored, Post: *p, Classifier: "keyword", Version: "1", Scores: map[msg.Signal]float64{}}
	if strings.Contains(p.Text, "hurt") {
		s.Scores[msg.SignalThreat] = 0.8
	}
	return s, nil
}

// TestDedupMatchesAMapOfIDs drives the hashed dedup set and a plain map of
// ids with the same random stream (repeats near and far apart, times a
// little out of order) and expects the same verdicts and sizes.
func TestDedupMatchesAMapOfIDs(t *testing.T) {
	type ref struct {
		seen map[string]time.Time
		fifo []struct {
			id string
			t  time.Time
		}
	}
	window := time.Hour
	r := &ref{seen: map[string]time.Time{}}
	dup := func(id string, at time.Time) bool {
		cut := at.Add(-window)
		for len(r.fifo) > 0 && r.fifo[0].t.Before(cut) {
			if st, ok := r.seen[r.fifo[0].id]; ok && st.Equal(r.fifo[0].t) {
				delete(r.seen, r.fifo[0].id)
			}
			r.fifo = r.fifo[1:]
		}
		if st, ok := r.seen[id]; ok {
			diff := at.Sub(st)
			if diff < 0 {
				diff = -diff
			}
			if diff <= window {
				// A copy marks its id again, as live: the id is kept a
				// window from its latest copy.
				if at.After(st) {
					r.seen[id] = at
					r.fifo = append(r.fifo, struct {
						id string
						t  time.Time
					}{id, at})
				}
				return true
			}
		}
		r.seen[id] = at
		r.fifo = append(r.fifo, struct {
			id string
			t  time.Time
		}{id, at})
		return false
	}
	d := newDedup(window)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200000 {
		at := t0.Add(time.Duration(i)*time.Second - time.Duration(rng.IntN(600))*time.Second)
		id := fmt.Sprintf("site:%d", rng.IntN(20000))
		if got, want := d.duplicate(id, at), dup(id, at); got != want {
			t.Fatalf("post %d (%s at %v): duplicate %v, want %v", i, id, at, got, want)
		}
		if d.size() != len(r.seen) {
			t.Fatalf("post %d: %d ids held, want %d", i, d.size(), len(r.seen))
		}
	}
}

// decodeRecord decodes one line as replay does, with a decoder of its own.
func decodeRecord(b []byte) (*Record, error) { return decodeRecordWith(codec.NewScoredDecoder(), b) }

// A file saved by a Windows editor (a UTF-8 byte order mark, CRLF line
// ends) replays whole, compressed or not: the mark used to make its first
// post a bad line.
func TestByteOrderMarkAndCRLFLoseNothing(t *testing.T) {
	good := readScenario(t, "quiet")[:20]
	var plain bytes.Buffer
	for _, l := range good {
		plain.Write(l)
	}
	want := replayFiles(t, []string{writeTemp(t, "plain.jsonl", [][]byte{plain.Bytes()})}, nil)
	for _, name := range []string{"windows.jsonl", "windows.jsonl.gz", "windows.jsonl.zst"} {
		t.Run(name, func(t *testing.T) {
			var w bytes.Buffer
			w.WriteString("\ufeff")
			for _, l := range good {
				w.Write(bytes.TrimRight(l, "\n"))
				w.WriteString("\r\n")
			}
			data := bytes.TrimSuffix(w.Bytes(), []byte("\r\n"))
			got := replayFiles(t, []string{writeTemp(t, name, [][]byte{data})}, nil)
			if len(got.bad) != 0 || got.stats.Records != 20 {
				t.Fatalf("replayed %d posts, bad lines %q; want all 20", got.stats.Records, got.bad)
			}
			if !bytes.Equal(got.alerts, want.alerts) || !bytes.Equal(got.levels, want.levels) {
				t.Error("outputs differ from the same posts in a plain file")
			}
		})
	}
}
