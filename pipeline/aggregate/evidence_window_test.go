package aggregate

import (
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestALevelShowsOnlyThePostsOfItsWindow: a key forgot the posts that
// left its window one step after they left, after the level of that
// step had been judged: each level carried, as its strongest posts, some
// that were no longer in it, and an alert that resolved as its window
// emptied said "0 threatening posts in the last 1h0m0s (level 0.0 ...).
// Sites: board, forum. Top post: h.".
func TestALevelShowsOnlyThePostsOfItsWindow(t *testing.T) {
	e, _ := NewEngine(defaults())
	base := t0.Add(5 * day)
	var outs []Output
	for i := range 8 {
		p := latePost(string(rune('a'+i)), base.Add(time.Duration(i)*2*time.Minute), 0.95, false)
		p.Post.Site = []string{"forum", "board"}[i%2]
		if i == 3 {
			p.Scores[msg.SignalDoxxing], p.Scores[msg.SignalSwatting] = 0.95, 0.95
		}
		outs = append(outs, e.Advance(p.Post.Published)...)
		outs = append(outs, e.Add(p)...)
	}
	for d := time.Duration(0); d <= 4*time.Hour; d += 15 * time.Second {
		outs = append(outs, e.Advance(base.Add(d))...)
	}
	window := defaults().Window
	levels, resolved := 0, 0
	for _, o := range outs {
		if lv := o.Level; lv != nil {
			levels++
			for _, c := range lv.Contributors {
				if c.At.Before(lv.Time.Add(-window)) || c.At.After(lv.Time) {
					t.Errorf("level of %v (%v posts) shows post %s of %v", lv.Time.Sub(base), lv.Posts, c.PostID, c.At.Sub(base))
				}
			}
			if lv.Posts == 0 && len(lv.Contributors) > 0 {
				t.Errorf("level of %v with no posts shows %d posts", lv.Time.Sub(base), len(lv.Contributors))
			}
		}
		if a := o.Alert; a != nil && a.Status == msg.StatusResolved && a.Level == 0 {
			resolved++
			if d := a.Annotations["description"]; strings.Contains(d, "Top post") || strings.Contains(d, "Sites:") || len(a.Evidence) > 0 {
				t.Errorf("%s resolved at level 0 says %q, with %d posts of evidence", a.Labels["alertname"], d, len(a.Evidence))
			}
		}
	}
	if levels == 0 || resolved < 2 {
		t.Fatalf("%d levels and %d resolutions at level 0: the test tests nothing", levels, resolved)
	}
}
