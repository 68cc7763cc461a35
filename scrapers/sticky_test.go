package scrapers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// xfRow returns thread id's row of a XenForo listing page.
func xfRow(t *testing.T, page []byte, id int) string {
	t.Helper()
	s := string(page)
	i := strings.Index(s, fmt.Sprintf(`<div class="structItem structItem--thread js-inlineModContainer js-threadListItem-%d"`, id))
	if i < 0 {
		t.Fatalf("thread %d not on the listing", id)
	}
	return s[i : i+strings.Index(s[i:], "\n</div>\n")+len("\n</div>\n")]
}

// xfSticky marks a row sticky, as XenForo 2 shows one.
func xfSticky(row string) string {
	return strings.Replace(row, `<div class="structItem-title">`,
		`<ul class="structItem-statuses"><li><i class="structItem-status structItem-status--sticky" aria-hidden="true" title="Sticky"></i><span class="u-srOnly">Sticky</span></li></ul>`+"\n\t\t"+`<div class="structItem-title">`, 1)
}

// xfListing replaces the rows of a XenForo listing page: sticky rows in
// their group at the top, as a forum's first page shows them, then the
// others.
func xfListing(t *testing.T, page []byte, sticky, rows []string) []byte {
	t.Helper()
	s := string(page)
	group := `<div class="structItemContainer-group js-threadList">` + "\n"
	i := strings.Index(s, group)
	last := strings.LastIndex(s, `<div class="structItem structItem--thread`)
	if i < 0 || last < 0 {
		t.Fatal("no thread rows on the listing")
	}
	end := last + strings.Index(s[last:], "\n</div>\n") + len("\n</div>\n")
	var b strings.Builder
	if len(sticky) > 0 {
		b.WriteString(`<div class="structItemContainer-group structItemContainer-group--sticky">` + "\n")
		for _, r := range sticky {
			b.WriteString(xfSticky(r))
		}
		b.WriteString("</div>\n")
	}
	b.WriteString(group)
	for _, r := range rows {
		b.WriteString(r)
	}
	return []byte(s[:i] + b.String() + s[end:])
}

// A forum's first page shows its sticky threads above the rest whatever
// their age: they say nothing of what happened since the last round. When
// more threads moved than the rest of the first page holds, the crawler
// must walk on to the page the others were pushed to, sticky threads or
// not; else their new posts waited until each thread was bumped again,
// and were lost if none came.
func TestStickyThreadsDoNotHideThreadsPushedToThePageAfter(t *testing.T) {
	ts := newTestSite(t, "xenforo")
	forum, forum2 := ts.page("/forums/general.2/"), ts.page("/forums/general.2/page-2")
	ts.set("/forums/general.2/", xfListing(t, forum, []string{xfRow(t, forum, 11)}, []string{xfRow(t, forum, 12), xfRow(t, forum, 10)}))
	h := newHarness(t, "xenforo", ts, nil)
	doRound(t, h)
	h.reset()

	// Threads 12 and 10 both get a post; 12, bumped first, is pushed to
	// page 2 by 10, while the sticky thread stays on top unchanged.
	now := time.Now()
	ts.set("/threads/stream-tonight.12/", xfAddPost(t, ts.page("/threads/stream-tonight.12/"), 120, 121, "Moved the stream to his street.", now.Add(-time.Minute)))
	ts.set("/threads/where-does-he-live.10/page-2", xfAddPost(t, ts.page("/threads/where-does-he-live.10/page-2"), 105, 106, "Going there tonight.", now))
	bumped := xfBumpLatest(t, xfBumpLatest(t, forum, 12, now.Add(-time.Minute)), 10, now)
	ts.set("/forums/general.2/", xfListing(t, forum, []string{xfRow(t, forum, 11)}, []string{xfRow(t, bumped, 10)}))
	ts.set("/forums/general.2/page-2", xfListing(t, forum2, nil, []string{xfRow(t, bumped, 12)}))
	doRound(t, h)
	got := ids(h.posts())
	slices.Sort(got)
	if strings.Join(got, ",") != "106,121" {
		t.Errorf("got %v, want the new posts of both threads (106, 121)", got)
	}
}

// Each engine whose listings show sticky threads or announcements on top
// marks them, so the crawler can leave them out of its gap count.
func TestListingsMarkStickyThreadsPinned(t *testing.T) {
	xf := readFixture(t, "xenforo", "forum.html")
	for _, tc := range []struct {
		name, engine, path string
		body               []byte
		pinned             []string
	}{
		{
			name: "XenForo 2: the sticky group", engine: "xenforo", path: "/forums/general.2/",
			body:   xfListing(t, xf, []string{xfRow(t, xf, 11)}, []string{xfRow(t, xf, 12), xfRow(t, xf, 10)}),
			pinned: []string{"11"},
		},
		{
			name: "XenForo 1: li.sticky", engine: "xenforo", path: "/forums/old-board.5/",
			body: readFixture(t, "xenforo", "xf1-forum.html"), pinned: []string{"21"},
		},
		{
			name: "phpBB: sticky and announcement rows", engine: "phpbb", path: "/viewforum.php?f=2",
			body: []byte(strings.NewReplacer(`<li class="row bg1">`, `<li class="row bg1 announce">`, `<li class="row bg2">`, `<li class="row bg2 sticky">`).
				Replace(string(readFixture(t, "phpbb", "forum.html")))),
			pinned: []string{"5", "6"},
		},
		{
			name: "Discourse: a pinned topic", engine: "discourse", path: "/latest.json",
			body:   []byte(strings.Replace(string(readFixture(t, "discourse", "latest.json")), `"pinned": false`, `"pinned": true`, 1)),
			pinned: []string{"31"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEngine(fixtureSite(t, tc.engine, goldenBase))
			if err != nil {
				t.Fatal(err)
			}
			pg := parseAt(t, e, tc.path, Listing, tc.body)
			var pinned []string
			for _, th := range pg.Threads {
				if th.Pinned {
					pinned = append(pinned, th.ID)
				}
			}
			if !slices.Equal(pinned, tc.pinned) {
				t.Errorf("pinned %q of %d threads, want %q", pinned, len(pg.Threads), tc.pinned)
			}
		})
	}
}
