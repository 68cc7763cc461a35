package replay

import (
	"bytes"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A replay from a time in the middle of history, warmed up on the history
// before it (as the live stage had it), writes exactly what the replay of
// the whole history writes from that time on; without the warm-up the
// site starts from an empty baseline and its spike never pages.
func TestWarmupGivesFromTheSameOutputsAsTheWholeHistory(t *testing.T) {
	from := scenarioStart.Add(60 * time.Hour)
	after := func(b []byte, kind string) [][]byte {
		var out [][]byte
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var at time.Time
			switch kind {
			case "alert":
				a, err := msg.Decode[msg.Alert](line)
				if err != nil {
					t.Fatal(err)
				}
				at = a.EventTime
			default:
				l, err := msg.Decode[msg.Level](line)
				if err != nil {
					t.Fatal(err)
				}
				at = l.Time
			}
			if !at.Before(from) {
				out = append(out, line)
			}
		}
		return out
	}
	same := func(what string, got, want [][]byte) {
		t.Helper()
		if len(want) == 0 {
			t.Fatalf("no %s after %v in the whole history: the test proves nothing", what, from)
		}
		if len(got) != len(want) {
			t.Fatalf("%d %s from %v, the whole history has %d after it", len(got), what, from, len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s %d differs:\n  from: %.300s\nwhole: %.300s", what, i, got[i], want[i])
			}
		}
	}
	paths := []string{scenario("campaign")}
	whole := replayFiles(t, paths, nil)
	warm := replayFiles(t, paths, func(o *Options) { o.From, o.Warmup = from, config.Default().Aggregate.RebuildSpan() })
	same("alerts", after(warm.alerts, "alert"), after(whole.alerts, "alert"))
	same("levels", after(warm.levels, "level"), after(whole.levels, "level"))
	if warm.stats.Warmup == 0 || warm.stats.First.Before(from) {
		t.Errorf("warm-up %d posts, first replayed at %v: want history applied and only posts from %v replayed", warm.stats.Warmup, warm.stats.First, from)
	}
	if len(after(warm.alerts, "alert")) != len(bytes.Split(bytes.TrimSpace(warm.alerts), []byte("\n"))) {
		t.Error("an alert decided during the warm-up was written")
	}
	// Onsets are the episodes that started in the range.
	var wantOn []Onset
	for _, o := range whole.onsets {
		if !o.Time.Before(from) {
			wantOn = append(wantOn, o)
		}
	}
	if len(warm.onsets) != len(wantOn) {
		t.Fatalf("%d onsets from %v, the whole history has %d", len(warm.onsets), from, len(wantOn))
	}

	cold := replayFiles(t, paths, func(o *Options) { o.From = from })
	if len(cold.onsets) >= len(wantOn) {
		t.Errorf("without a warm-up %d onsets, with one %d: the scenario no longer shows what the warm-up is for", len(cold.onsets), len(wantOn))
	}
}
