package replay

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// result is what one replay wrote.
type result struct {
	alerts, levels, csv []byte
	stats               Stats
	bad                 []string
	onsets              []Onset
	coll                *Collector
}

// replayFiles replays files with the default configuration (today's rules)
// and returns every output.
func replayFiles(t testing.TB, paths []string, tweak func(*Options)) result {
	t.Helper()
	cfg := config.Default()
	return replayWith(t, cfg, paths, tweak)
}

func replayWith(t testing.TB, cfg *config.Config, paths []string, tweak func(*Options)) result {
	t.Helper()
	src, err := Files(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewAggregateEngine(cfg.Aggregate)
	if err != nil {
		t.Fatal(err)
	}
	var ab, lb, cb bytes.Buffer
	aw, lw, cw := NewAlertWriter(&ab), NewLevelWriter(&lb), NewLevelCSV(&cb)
	ons := NewOnsets()
	coll := NewCollector()
	lane := &Lane{Name: "test", Engine: eng, Sinks: []Sink{aw, lw, cw, ons, coll}}
	var res result
	o := Options{Tail: 24 * time.Hour, OnBadLine: func(le *msg.LineError) { res.bad = append(res.bad, le.Error()) }}
	o.FromAggregate(cfg.Aggregate)
	if tweak != nil {
		tweak(&o)
	}
	st, err := Run(context.Background(), src, o, lane)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	for _, f := range []func() error{aw.Flush, lw.Flush, cw.Flush} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	res.alerts, res.levels, res.csv, res.stats, res.onsets, res.coll = ab.Bytes(), lb.Bytes(), cb.Bytes(), st, ons.List(), coll
	return res
}

func scenario(name string) string {
	m, _ := filepath.Glob(filepath.Join("testdata", "scenarios", name+".jsonl*"))
	if len(m) != 1 {
		panic("no single scenario file for " + name)
	}
	return m[0]
}

// golden compares got with testdata/golden/name byte for byte (or rewrites
// it with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < min(len(gl), len(wl)); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs from the golden file at line %d:\n got: %.300s\nwant: %.300s\n(run with -update if the change is intended)", name, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs from the golden file: %d lines, want %d (run with -update if intended)", name, len(gl), len(wl))
	}
}

func firingOnsets(res result, alertname string) []Onset {
	var out []Onset
	for _, o := range res.onsets {
		if alertname == "" || o.Labels["alertname"] == alertname {
			out = append(out, o)
		}
	}
	return out
}

func TestScenarioGoldens(t *testing.T) {
	campaignStart := scenarioStart.Add(72 * time.Hour)
	cases := []struct {
		name  string
		check func(t *testing.T, r result)
	}{
		{"quiet", func(t *testing.T, r result) {
			if len(r.onsets) != 0 {
				t.Errorf("a quiet site paged %d times", len(r.onsets))
			}
		}},
		{"hostile", func(t *testing.T, r result) {
			if len(r.onsets) != 0 {
				t.Errorf("a hostile but steady site paged %d times: its hostility is its normal", len(r.onsets))
			}
			if r.stats.Records < 3000 {
				t.Errorf("replayed %d posts, want the whole zstd file", r.stats.Records)
			}
		}},
		{"campaign", func(t *testing.T, r result) {
			ons := firingOnsets(r, "")
			if len(ons) == 0 {
				t.Fatal("the escalating campaign never paged")
			}
			first := ons[0].Time
			if first.Before(campaignStart) {
				t.Errorf("paged at %v, before the campaign began at %v", first, campaignStart)
			}
			if lead := first.Sub(campaignStart); lead > 12*time.Hour {
				t.Errorf("paged %v into a 48-hour campaign, want within the first 12 hours", lead)
			}
			var target bool
			for _, o := range ons {
				if o.Labels["target"] != "" {
					target = true
				}
			}
			if !target {
				t.Error("no alert for the targeted person")
			}
		}},
		{"dark", func(t *testing.T, r result) {
			if len(r.onsets) != 0 {
				t.Errorf("a site going dark paged %d times", len(r.onsets))
			}
			// After the last post the level must decay to zero.
			lines := strings.Split(strings.TrimSpace(string(r.csv)), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, ",dark.example,,0,") {
				t.Errorf("last level of the dark site is %q, want 0", last)
			}
			if !r.stats.End.After(r.stats.Last.Add(23 * time.Hour)) {
				t.Errorf("the clock stopped at %v, want the 24h tail after %v", r.stats.End, r.stats.Last)
			}
		}},
		{"late", func(t *testing.T, r result) {
			if r.stats.Late != 5 {
				t.Errorf("%d late posts, want the 5 posts written three hours late", r.stats.Late)
			}
		}},
		{"dupes", func(t *testing.T, r result) {
			if r.stats.Duplicates == 0 {
				t.Error("no duplicates found in a file full of them")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := replayFiles(t, []string{scenario(c.name)}, nil)
			if len(r.bad) > 0 {
				t.Fatalf("bad lines in a scenario file: %v", r.bad)
			}
			for _, line := range bytes.Split(bytes.TrimSpace(r.alerts), []byte("\n")) {
				if len(line) == 0 {
					continue
				}
				a, err := msg.Decode[msg.Alert](line)
				if err != nil {
					t.Fatalf("alert line does not decode as a live alert: %v", err)
				}
				if !a.Replay || a.EventTime.IsZero() {
					t.Fatalf("alert %s: replay=%v eventTime=%v, want a replay alert with its event time", a.Fingerprint, a.Replay, a.EventTime)
				}
			}
			c.check(t, r)
			golden(t, c.name+".alerts.jsonl", r.alerts)
			golden(t, c.name+".levels.csv", r.csv)
		})
	}
}
