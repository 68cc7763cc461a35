package scrapers

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// Boards like Discuz! print a recent post's time as "30 minutes ago" with
// the absolute time in a title attribute, and an older post's as plain
// text with no attribute. With time_attr set, a post whose time element
// lacked the attribute got no date at all, while a listing row's latest
// time fell back to the text: a post falls back to its text too.
func TestGenericTimeAttrFallsBackToTheText(t *testing.T) {
	site := config.Site{Name: "dz", Engine: "generic", URL: goldenBase + "/", Entries: []string{"forum-2-1.html"},
		Selectors: &config.Selectors{Post: "div.post", PostIDAttr: "id", Body: ".body", Time: ".date", TimeAttr: "title"}}
	e, err := NewEngine(site)
	if err != nil {
		t.Fatal(err)
	}
	page := `<html><body>
<div class="post" id="pid1"><em class="date">2026-01-09 10:00</em><div class="body">older post</div></div>
<div class="post" id="pid2"><em class="date" title="2026-01-19 23:30">30 minutes ago</em><div class="body">recent post</div></div>
</body></html>`
	pg := parseAt(t, e, "/thread-9-1-1.html", Thread, []byte(page))
	want := []time.Time{time.Date(2026, 1, 9, 10, 0, 0, 0, time.UTC), time.Date(2026, 1, 19, 23, 30, 0, 0, time.UTC)}
	if len(pg.Posts) != len(want) {
		t.Fatalf("%d posts, want %d", len(pg.Posts), len(want))
	}
	for i, p := range pg.Posts {
		if !p.Published.Equal(want[i]) {
			t.Errorf("post %s: published %v, want %v", p.SitePostID, p.Published, want[i])
		}
	}
}
