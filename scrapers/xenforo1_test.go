package scrapers

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// A XenForo 1 board is crawled like a XenForo 2 one: its listing leads to
// its threads through links relative to <base href>, its posts come out
// once with their quotes apart, and an unchanged board costs conditional
// requests only.
func TestCrawlReadsAXenForo1Board(t *testing.T) {
	localBase := func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `<base href="https://forum.example/" />`, `<base href="/" />`, 1))
	}
	listing := string(localBase(readFixture(t, "xenforo", "xf1-forum.html")))
	// One page of threads: no page 2 to follow.
	listing = regexp.MustCompile(`<link rel="next"[^>]*>`).ReplaceAllString(listing, "")
	listing = regexp.MustCompile(`(?s)<div class="PageNav".*?</div>`).ReplaceAllString(listing, "")
	thread := localBase(readFixture(t, "xenforo", "xf1-thread.html"))
	rules := strings.NewReplacer("found-her-old-place.20", "board-rules.21", "Found her old place", "Board rules",
		"post-201", "post-211", "posts/201", "posts/211", "post-203", "post-213", "posts/203", "posts/213",
		"post-202", "post-212", "id=201", "id=211").Replace(string(thread))

	ts := newTestSite(t, "")
	ts.set("/forums/old-board.5/", []byte(listing))
	ts.set("/threads/found-her-old-place.20/", thread)
	ts.set("/threads/board-rules.21/", []byte(rules))
	h := newHarness(t, "xenforo", ts, nil)
	site := h.cfg.Sites[0]
	site.Entries = []string{"forums/old-board.5/"}
	h.cfg.Sites[0] = site
	h.build(site)

	doRound(t, h)
	got := map[string]bool{}
	for _, p := range h.posts() {
		got[p.SitePostID] = true
		if p.SitePostID == "203" && (len(p.Quoted) != 1 || strings.Contains(p.Text, "went to school")) {
			t.Errorf("post 203: quote not kept apart: %q / %q", p.Text, p.Quoted)
		}
		if p.Published.IsZero() || p.Author == "" || !strings.HasPrefix(p.URL, ts.URL+"/posts/") {
			t.Errorf("post %s lacks fields: %+v", p.SitePostID, p)
		}
	}
	for _, id := range []string{"201", "203", "211", "213"} {
		if !got[id] {
			t.Errorf("post %s not collected (got %v)", id, ids(h.posts()))
		}
	}
	if got["202"] || got["212"] {
		t.Error("a deleted placeholder was collected")
	}
	h.reset()
	st, err := h.c.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.posts()); n != 0 || st.NotModified == 0 {
		t.Errorf("second round: %d posts, %d not-modified answers; want 0 and some", n, st.NotModified)
	}
	if s := h.c.Health().State; s != HealthOK {
		t.Errorf("health %q", s)
	}
}

// Without <link rel="next">, the next page is the text link after the
// current page, and a last page (only "< Prev") has none.
func TestXenForo1NextPageFromPageNav(t *testing.T) {
	eng, err := newXenForo(fixtureSite(t, "xenforo", goldenBase))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(goldenBase + "/forums/old-board.5/page-2")
	for _, tc := range []struct{ nav, want string }{
		{`<a href="forums/old-board.5/" class="currentPage">1</a><a href="forums/old-board.5/page-2">2</a><a href="forums/old-board.5/page-2" class="text">Next &gt;</a>`, goldenBase + "/forums/old-board.5/page-2"},
		{`<a href="forums/old-board.5/" class="text">&lt; Prev</a><a href="forums/old-board.5/">1</a><a href="forums/old-board.5/page-2" class="currentPage">2</a><a href="forums/old-board.5/page-3" class="text">Next &gt;</a>`, goldenBase + "/forums/old-board.5/page-3"},
		{`<a href="forums/old-board.5/page-2" class="text">&lt; Prev</a><a href="forums/old-board.5/page-2">2</a><a href="forums/old-board.5/page-3" class="currentPage">3</a>`, ""},
	} {
		page := `<html id="XenForo"><head><base href="https://forum.example/" /></head><body><div class="titleBar"><h1>Old board</h1></div>` +
			`<div class="PageNav"><nav>` + tc.nav + `</nav></div><ol class="discussionListItems"></ol></body></html>`
		pg, err := eng.Parse(&Input{Site: "x", URL: u, Kind: Listing, Body: []byte(page), Fetched: fixedFetch})
		if err != nil || pg.Next != tc.want {
			t.Errorf("next %q (%v), want %q", pg.Next, err, tc.want)
		}
	}
}
