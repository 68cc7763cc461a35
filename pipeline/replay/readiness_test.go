package replay

import (
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// A replay that starts without the history its baselines need cannot page
// on a spike for a while (aggregate.baseline.learning), and one warmed up
// on less history than the baselines use judges against a thinner normal
// than live did. Either way the analyst must be told, or a quiet first day
// reads as "the new thresholds would not have paged".
func TestTheReplaySaysWhenItsBaselinesWereNotReady(t *testing.T) {
	agg := config.Default().Aggregate
	learning := agg.Baseline.Learning
	history := time.Duration(agg.Baseline.Days) * 24 * time.Hour
	f := func(name string, tweak func(*Options), want ...string) {
		t.Helper()
		r := replayFiles(t, []string{scenario("campaign")}, tweak)
		var o Options
		if tweak != nil {
			tweak(&o)
		}
		if r.stats.HistoryFirst.IsZero() || r.stats.HistoryFirst.After(r.stats.First) {
			t.Errorf("%s: history starts at %v, the replay at %v", name, r.stats.HistoryFirst, r.stats.First)
		}
		notes := r.stats.BaselineNotes(o.From, learning, history)
		got := strings.Join(notes, "\n")
		if len(want) == 0 && len(notes) > 0 {
			t.Errorf("%s: notes %q, want none", name, got)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: notes %q do not say %q", name, got, w)
			}
		}
	}
	start := scenarioStart
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }
	first := readFirstTime(t, "campaign")
	f("the whole history", nil,
		"baselines start empty", "no spike alert could fire before "+stamp(first.Add(learning)))
	f("from a time a day and a half in, warmed up", func(o *Options) { o.From, o.Warmup = start.Add(36*time.Hour), agg.RebuildSpan() },
		"36h0m0s of history before "+stamp(start.Add(36*time.Hour)), "not the 168h0m0s")
	f("from a time six hours in, warmed up", func(o *Options) { o.From, o.Warmup = start.Add(6*time.Hour), agg.RebuildSpan() },
		"not ready", "no spike alert could fire before "+stamp(first.Add(learning)))
	f("from a time two days in, cold", func(o *Options) { o.From, o.Warmup = start.Add(48*time.Hour), 0 },
		"not ready", "no history before "+stamp(start.Add(48*time.Hour)), "aggregate.baseline.learning")
	// The scenario holds no more than five days: a replay of it from its
	// end with the full warm-up is as warm as it can be made, and says
	// the baselines rest on less than a week.
	f("from the last day, warmed up", func(o *Options) { o.From, o.Warmup = start.Add(96*time.Hour), agg.RebuildSpan() },
		"96h0m0s of history")
}

func readFirstTime(t *testing.T, name string) time.Time {
	t.Helper()
	rec, err := decodeRecord(readScenario(t, name)[0])
	if err != nil {
		t.Fatal(err)
	}
	return rec.Time
}

func TestBaselineNotesOnWarmHistoryAreEmpty(t *testing.T) {
	from := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	st := Stats{HistoryFirst: from.Add(-8 * 24 * time.Hour), First: from}
	if notes := st.BaselineNotes(from, 24*time.Hour, 7*24*time.Hour); len(notes) != 0 {
		t.Errorf("eight days of history before --from: notes %q, want none", notes)
	}
	if notes := (Stats{}).BaselineNotes(from, 24*time.Hour, 7*24*time.Hour); len(notes) != 0 {
		t.Errorf("nothing replayed: notes %q, want none", notes)
	}
}
