package scrapers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// renameForum is a generic-engine forum with one thread, whose URL the
// test renames.
type renameForum struct {
	ts     *testSite
	rowID  string // the thread's id as its listing row shows it
	latest int
	posts  []int
}

func (f *renameForum) publish(t *testing.T, threadURL string) {
	t.Helper()
	f.ts.set("/forum", []byte(fmt.Sprintf(`<html><body><table>
<tr class="row"><td class="tid" data-tid="%s"><a class="tl" href="%s">A thread</a></td><td class="last">%d</td></tr>
</table></body></html>`, f.rowID, threadURL, f.latest)))
	var b strings.Builder
	b.WriteString("<html><body><h1>A thread</h1>\n")
	for _, p := range f.posts {
		fmt.Fprintf(&b, `<div class="post" id="post_%d"><a class="perma" href="%s#post-%d">#</a><span class="date">2026-01-10 10:%02d</span><div class="body">post number %d</div></div>`+"\n", p, threadURL, p, p, p)
	}
	b.WriteString("</body></html>")
	f.ts.set(threadURL, []byte(b.String()))
}

// A forum that puts a thread's title in its URL changes the URL when the
// title changes ("/t/old-title.123" -> "/t/new-title.123", the old one
// redirecting). Keyed by its URL, the thread was a new one: every post of
// it was emitted again. Its id now comes from the config (a pattern over
// the URL, or a selector), or by default from the numeric id in the URL.
func TestARenamedThreadIsNotANewOne(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		rowID    string
		sel      func(s *config.Selectors)
	}{
		{name: "by default, from the numeric id after the slug", old: "/t/old-title.123", new: "/t/new-title.123"},
		{name: "by default, post ids from permalinks", old: "/threads/old-title.123/", new: "/threads/new-title.123/",
			sel: func(s *config.Selectors) { s.PostIDAttr = "" }},
		{name: "by default, vBulletin's id before the slug in the query", old: "/showthread.php?123-Old-title", new: "/showthread.php?123-New-title"},
		{name: "by a pattern over the URL", old: "/topic/55/old-title", new: "/topic/55/new-title",
			sel: func(s *config.Selectors) { s.ThreadIDPattern = `^/topic/(\d+)/` }},
		{name: "by a selector in the listing row", old: "/Thread-Old-title", new: "/Thread-New-title", rowID: "tid_77",
			sel: func(s *config.Selectors) { s.ThreadID, s.ThreadIDAttr = "td.tid", "data-tid" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &renameForum{ts: newTestSite(t, ""), rowID: tc.rowID, latest: 1, posts: []int{1, 2}}
			f.publish(t, tc.old)
			sel := &config.Selectors{ThreadRow: "tr.row", ThreadLink: "a.tl", ThreadLatest: "td.last",
				Post: "div.post", PostIDAttr: "id", Body: ".body", Time: ".date", Permalink: "a.perma"}
			if tc.sel != nil {
				tc.sel(sel)
			}
			site := config.Site{Name: "fx", Engine: "generic", URL: f.ts.URL + "/", Entries: []string{"forum"}, AllowPrivate: true, Selectors: sel}
			h := &harness{t: t, cfg: testScrapeConfig(), store: redistest.New(t)}
			h.cfg.Sites = []config.Site{site}
			h.build(site)
			doRound(t, h)
			if got := len(h.posts()); got != 2 {
				t.Fatalf("first crawl: %d posts (%v), want 2", got, ids(h.posts()))
			}
			h.reset()

			// Renamed, the old URL redirecting, and a post added.
			f.latest, f.posts = 2, []int{1, 2, 3}
			f.publish(t, tc.new)
			f.ts.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.RequestURI() == tc.old {
					http.Redirect(w, r, tc.new, http.StatusMovedPermanently)
					return true
				}
				return false
			}
			doRound(t, h)
			got := h.posts()
			if len(got) != 1 || !strings.Contains(got[0].Text, "post number 3") {
				t.Fatalf("after the rename: %v, want the new post only", ids(got))
			}
			h.reset()

			// Renamed once more, with nothing new.
			f.latest = 3
			f.publish(t, tc.old)
			f.ts.hook = nil
			doRound(t, h)
			if got := h.posts(); len(got) != 0 {
				t.Fatalf("renamed back: %v emitted again", ids(got))
			}
		})
	}
}

// The id a thread gets by default: its URL, less a slug beside a numeric
// id where the URL's shape leaves no doubt which number is the id. A
// number inside a slug is no id: two threads whose slugs hold the same
// number must not become one.
func TestGenericThreadIDs(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := genericThreadID(goldenBase + in); got != want {
			t.Errorf("%s: id %q, want %q", in, got, want)
		}
	}
	f("/t/old-title.123", "/t/123")
	f("/threads/old-title.123/", "/threads/123/")
	// A slug's leading number may be an id-first slug's id: it stays.
	f("/threads/2024-election-thread.123/page-2", "/threads/2024.123/page-2")
	f("/threads/election-2024.123/", "/threads/123/")
	f("/threads/%C3%BCber-alles.123/", "/threads/123/")
	f("/showthread.php?123-Old-title", "/showthread.php?123")
	f("/showthread.php?tid=12", "/showthread.php?tid=12")
	f("/showthread.php?tid=12#pid5", "/showthread.php?tid=12")
	f("/forums/topic/top-10-tips/", "/forums/topic/top-10-tips/")
	f("/forums/topic/best-of-10/", "/forums/topic/best-of-10/")
	f("/2026/01/my-ex", "/2026/01/my-ex")
	f("/Thread-Old-title", "/Thread-Old-title")
	f("/thread-12.html", "/thread-12.html")
}

func TestABadThreadIDPatternFailsAtStartUp(t *testing.T) {
	site := config.Site{Name: "fx", Engine: "generic", URL: goldenBase + "/", Entries: []string{"forum"},
		Selectors: &config.Selectors{Post: "div.post", PostIDAttr: "id", Body: ".body", ThreadIDPattern: `/topic/(\d+`}}
	if _, err := NewEngine(site); err == nil || !strings.Contains(err.Error(), "selectors.thread_id_pattern") {
		t.Fatalf("err %v, want one naming selectors.thread_id_pattern", err)
	}
}

// Two threads must never get one id: a post of the second would be taken
// for an edit of the first's, or dropped as seen. A number ending a slug
// after a dot is a XenForo id only where the slug could be XenForo's
// (lower case, no dot or comma in it); where the slug starts with a
// number (an id-first slug, vBulletin's or Invision's), that number may
// be the id and stays.
func TestGenericThreadIDsNeverJoinTwoThreads(t *testing.T) {
	for _, pair := range [][2]string{
		{"/threads/123-Windows-8.1", "/threads/456-Office-8.1"},            // vBulletin 4, advanced friendly URLs
		{"/showthread.php/123-Python-3.12", "/showthread.php/9-Tips-3.12"}, // vBulletin 4, path-info URLs
		{"/topic/123-windows-8.1/", "/topic/77-release-2.1/"},              // Invision
		{"/Thread-Windows-8.1", "/Thread-Office-8.1"},                      // MyBB with SEO URLs, no id
		{"/index.php/topic,123.0", "/index.php/topic,456.0"},               // SMF, queryless, board offset 0
		{"/threads/2024-budget.123/", "/threads/2024-budget.456/"},         // XenForo, a slug starting with a number
	} {
		a, b := genericThreadID(goldenBase+pair[0]), genericThreadID(goldenBase+pair[1])
		if a == b {
			t.Errorf("%s and %s share the id %q", pair[0], pair[1], a)
		}
	}
}

// thread_id_pattern names a thread; a post's permalink that names the
// post in its path or query, not its fragment (Invision's
// "?do=findComment&comment=789", Discourse's "/t/slug/123/4"), is more
// than its thread's URL. Keyed by the pattern's id and the (empty)
// fragment, every post of a thread had one id, and all but the first were
// dropped as seen.
func TestPostIDsFromPermalinksStayApartUnderAThreadIDPattern(t *testing.T) {
	for _, tc := range []struct {
		name, pattern string
		links         []string
	}{
		{"a comment in the query", `^/topic/(\d+)`, []string{"/topic/55-title/?do=findComment&comment=789", "/topic/55-title/?do=findComment&comment=790"}},
		{"a post number in the path", `^/t/[^/]+/(\d+)`, []string{"/t/a-title/123/4", "/t/a-title/123/5"}},
		{"a post in the fragment", `^/topic/(\d+)`, []string{"/topic/55-title/#comment-789", "/topic/55-title/#comment-790"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := config.Site{Name: "fx", Engine: "generic", URL: goldenBase + "/", Entries: []string{"forum"},
				Selectors: &config.Selectors{Post: "div.post", Body: ".body", Permalink: "a.perma", ThreadIDPattern: tc.pattern}}
			eng, err := NewEngine(site)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, l := range tc.links {
				fmt.Fprintf(&b, `<div class="post"><a class="perma" href="%s">#</a><div class="body">post %d</div></div>`, l, i)
			}
			u, _ := url.Parse(goldenBase + tc.links[0])
			pg, err := eng.Parse(&Input{Site: "fx", URL: u, Kind: Thread, Body: []byte("<html><body>" + b.String() + "</body></html>"), ContentType: "text/html"})
			if err != nil {
				t.Fatal(err)
			}
			if len(pg.Posts) != 2 || pg.Posts[0].SitePostID == pg.Posts[1].SitePostID {
				var got []string
				for _, p := range pg.Posts {
					got = append(got, p.SitePostID)
				}
				t.Fatalf("post ids %q, want two different ones", got)
			}
		})
	}
}
