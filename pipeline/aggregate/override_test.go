package aggregate

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestSameTargetOverrideSeesEveryPostInItsWindow: a same-target rule is
// judged over the target's window, across sites. The window kept, per
// signal, only the highest score and its time: a strongest doxxing post
// that left the window took the signal with it, although a later doxxing
// post that also meets the rule was still in the window, and the swatting
// talk that followed never fired the override.
func TestSameTargetOverrideSeesEveryPostInItsWindow(t *testing.T) {
	type post struct {
		at     time.Duration
		site   string
		signal msg.Signal
		score  float64
	}
	f := func(name string, posts []post, wantAt time.Duration) {
		t.Helper()
		e, _ := NewEngine(defaults())
		person := msg.Entity{Kind: msg.EntityPerson, Name: "Jane Roe", Ref: "jane roe", Target: true}
		var fired []*msg.Alert
		for i, p := range posts {
			outs := e.Advance(at(p.at))
			outs = append(outs, e.Add(&msg.Scored{Schema: msg.SchemaScored,
				Post:     msg.Post{Schema: msg.SchemaPost, ID: string(rune('a' + i)), Site: p.site, Published: at(p.at), Fetched: at(p.at)},
				Scores:   map[msg.Signal]float64{p.signal: p.score},
				Entities: []msg.Entity{person},
			})...)
			for _, a := range alerts(outs, msg.StatusFiring) {
				if a.Labels["rule"] == "doxxing_and_swatting" {
					fired = append(fired, a)
				}
			}
		}
		switch {
		case wantAt < 0 && len(fired) != 0:
			t.Errorf("%s: fired at %v, want no fire", name, times(fired))
		case wantAt >= 0 && (len(fired) != 1 || !fired[0].EventTime.Equal(at(wantAt))):
			t.Errorf("%s: fired %d times (%v), want once at %v", name, len(fired), times(fired), at(wantAt))
		}
	}
	f("a doxxing repost 50 minutes in and swatting talk 15 minutes later fire", []post{
		{0, "kiwi", msg.SignalDoxxing, 1},
		{50 * time.Minute, "paste", msg.SignalDoxxing, 0.95},
		{65 * time.Minute, "chan", msg.SignalSwatting, 0.93},
	}, 65*time.Minute)
	f("the same without the first post fires", []post{
		{50 * time.Minute, "paste", msg.SignalDoxxing, 0.95},
		{65 * time.Minute, "chan", msg.SignalSwatting, 0.93},
	}, 65*time.Minute)
	f("a repost below the rule's score does not keep doxxing in the window", []post{
		{0, "kiwi", msg.SignalDoxxing, 1},
		{50 * time.Minute, "paste", msg.SignalDoxxing, 0.6},
		{65 * time.Minute, "chan", msg.SignalSwatting, 0.93},
	}, -1)
	f("swatting talk two hours after the doxxing does not fire", []post{
		{0, "kiwi", msg.SignalDoxxing, 1},
		{2 * time.Hour, "chan", msg.SignalSwatting, 0.93},
	}, -1)
}
