package aggregate

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestAStateSavedWithAnotherWindowOrStepGoesOn: a checkpoint holds each
// key's window as buckets of the step it was taken with. After a change
// of aggregate.window the stage refused every checkpoint ("changed step
// or window?") and stopped until an operator deleted them, and with them
// the baselines; after a change of window and step that kept the number
// of buckets it took the old buckets for the new ones, counted no post
// again (the level stayed near zero) and a campaign never paged. The
// window is now put together again from the posts it counted; the
// hourly history and the alerts carry over, so an episode firing at
// the change resolves under the fingerprint it paged with.
func TestAStateSavedWithAnotherWindowOrStepGoesOn(t *testing.T) {
	s := newStream(1)
	s.feed("forum", 0, 5*day, 20, 0.8, true, nil)
	s.feed("forum", 4*day+10*time.Hour, 4*day+11*time.Hour, 200, 0.9, false, nil)
	posts := s.sorted()
	f := func(name string, window, step, cut time.Duration) {
		t.Run(name, func(t *testing.T) {
			var before, after []*msg.Scored
			for _, p := range posts {
				if p.Post.Published.Before(at(cut)) {
					before = append(before, p)
				} else {
					after = append(after, p)
				}
			}
			old, _ := NewEngine(defaults())
			outs := drive(old, before, cut)
			snap, err := old.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			cfg := defaults()
			cfg.Window, cfg.Step = window, step
			e, err := NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Restore(snap); err != nil {
				t.Fatalf("restore: %v", err)
			}
			outs = append(outs, drive(e, after, 5*day)...)
			checkOutputs(t, outs)
			on := onsets(outs)
			if len(on) != 1 || on[0].EventTime.Before(at(4*day+10*time.Hour)) || on[0].EventTime.After(at(4*day+11*time.Hour)) {
				t.Fatalf("paged %v, want the campaign once", times(on))
			}
			var resolved []*msg.Alert
			for _, a := range alerts(outs, msg.StatusResolved) {
				if a.Annotations["superseded_by"] == "" {
					resolved = append(resolved, a)
				}
			}
			if len(resolved) != 1 || resolved[0].Labels["alertname"] != on[0].Labels["alertname"] {
				t.Fatalf("resolutions %v, want the episode's", times(resolved))
			}
		})
	}
	f("a window of 2 h and a step of 10 min, taken before the campaign", 2*time.Hour, 10*time.Minute, 4*day)
	f("a window of 2 h, taken before the campaign", 2*time.Hour, 5*time.Minute, 4*day)
	f("a window of 30 min, taken before the campaign", 30*time.Minute, 5*time.Minute, 4*day)
	f("a step of 1 min, taken while the campaign pages", time.Hour, time.Minute, 4*day+10*time.Hour+50*time.Minute)
	f("a window of 2 h and a step of 10 min, taken while the campaign pages", 2*time.Hour, 10*time.Minute, 4*day+10*time.Hour+50*time.Minute)
	f("the same window and step", time.Hour, 5*time.Minute, 4*day+10*time.Hour+50*time.Minute)
}
