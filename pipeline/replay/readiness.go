package replay

import (
	"fmt"
	"time"
)

// BaselineNotes says, in sentences for the analyst, where the history the
// replay's engines had fell short of what the live stage had: a key pages
// on a spike only once it has learning of history, and its baseline rests
// on history of the hours before. from is Options.From (zero: none);
// learning and history are aggregate.baseline.learning and
// aggregate.baseline.days. Without these notes a quiet start of a replay
// reads as "these thresholds would not have paged". Override rules do not
// depend on the baselines, so none of this applies to them.
func (s Stats) BaselineNotes(from time.Time, learning, history time.Duration) []string {
	if s.HistoryFirst.IsZero() || s.First.IsZero() {
		return nil
	}
	when := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }
	had := "no history"
	if d := from.Sub(s.HistoryFirst).Round(time.Minute); !from.IsZero() && d > 0 {
		had = d.String() + " of history"
	}
	if ready := s.HistoryFirst.Add(learning); ready.After(s.First) {
		if from.IsZero() {
			return []string{fmt.Sprintf("baselines start empty at the first post (%s): no spike alert could fire before %s "+
				"(aggregate.baseline.learning %s; override rules fire regardless). For warm baselines, start the range with --from after that time.",
				when(s.HistoryFirst), when(ready), learning)}
		}
		return []string{fmt.Sprintf("baselines not ready: the input holds %s before %s (--from), less than aggregate.baseline.learning %s: "+
			"no spike alert could fire before %s (override rules fire regardless). Give input reaching further back.",
			had, when(from), learning, when(ready))}
	}
	if !from.IsZero() && from.Sub(s.HistoryFirst) < history {
		return []string{fmt.Sprintf("baselines thin: the input holds %s before %s (--from), not the %s the baselines use (aggregate.baseline.days): "+
			"at first, levels and alerts may differ from what the live stage computed with its full history.", had, when(from), history)}
	}
	return nil
}
