package aggregate

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestALateHourIsJudgedAgainstAnHoursNormalWhateverTheWindow: the spans
// posts read late are judged over are an hour long, whatever the
// configured window. They were judged against the window's baseline (the
// hourly one times window / 1 h): with a window of 30 min an ordinary
// busy hour read late after a scraper outage stood at twice its "normal"
// and paged; with a window of 2 h a campaign hour at six times the
// site's rate stood at three times half of it and never paged.
func TestALateHourIsJudgedAgainstAnHoursNormalWhateverTheWindow(t *testing.T) {
	const (
		down = 4*day + 10*time.Hour // the scraper stops reading
		back = 4*day + 13*time.Hour // and reads the gap at once
	)
	f := func(name string, window time.Duration, rate, campaign float64, wantPage bool) {
		t.Run(name, func(t *testing.T) {
			cfg := defaults()
			cfg.Window = window
			s := newStream(7)
			s.feed("forum", 0, down, rate, 0.8, true, nil)
			gap := newStream(8)
			gap.feed("forum", down, back, rate, 0.8, true, nil)
			if campaign > 0 {
				gap.feed("forum", down+time.Hour, down+2*time.Hour, campaign, 0.9, false, nil)
			}
			late := gap.posts
			rand.New(rand.NewPCG(3, 3)).Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
			for _, p := range late {
				p.Post.ID = "gap-" + p.Post.ID
				p.Post.Fetched = at(back)
			}
			e, err := NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			outs := drive(e, s.sorted(), down)
			if on := onsets(outs); len(on) != 0 {
				t.Fatalf("the normal days paged %v", times(on))
			}
			for tick := down; tick <= back; tick += 15 * time.Second {
				outs = append(outs, e.Advance(at(tick))...)
			}
			for _, p := range late {
				outs = append(outs, e.Add(p)...)
			}
			on := onsets(outs)
			if !wantPage {
				if len(on) != 0 {
					t.Fatalf("paged %v (%v), want nothing", times(on), on[0].Annotations["summary"])
				}
				return
			}
			if len(on) != 1 {
				t.Fatalf("paged %d times (%v), want once", len(on), times(on))
			}
			if a := on[0]; a.Annotations["late_hour"] != at(down+time.Hour).Format(time.RFC3339) || a.Status != msg.StatusFiring {
				t.Errorf("paged %v, want the campaign hour", a.Annotations)
			}
		})
	}
	f("with a 30 min window an ordinary busy hour read late does not page", 30*time.Minute, 300, 0, false)
	f("with a 30 min window a campaign hour read late pages", 30*time.Minute, 20, 120, true)
	f("with a 1 h window an ordinary busy hour read late does not page", time.Hour, 300, 0, false)
	f("with a 1 h window a campaign hour read late pages", time.Hour, 20, 120, true)
	f("with a 2 h window an ordinary busy hour read late does not page", 2*time.Hour, 300, 0, false)
	f("with a 2 h window a campaign hour read late pages", 2*time.Hour, 20, 120, true)
}
