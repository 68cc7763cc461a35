package scrapers

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// prefixForum serves a generic-engine forum under a path prefix: a
// listing at <prefix>forum linking to the threads given, each thread page
// with posts 1 to its number.
func prefixForum(t *testing.T, ts *testSite, prefix string, threads map[string]int) {
	t.Helper()
	var rows strings.Builder
	for u, n := range threads {
		fmt.Fprintf(&rows, `<tr class="row"><td><a class="tl" href="%s">t</a></td><td class="last">%d</td></tr>`+"\n", u, n)
		var posts strings.Builder
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&posts, `<div class="post" id="post_%d"><div class="body">post %d</div></div>`, i, i)
		}
		ts.set(u, []byte("<html><body>"+posts.String()+"</body></html>"))
	}
	ts.set(prefix+"forum", []byte("<html><body><table>\n"+rows.String()+"</table></body></html>"))
}

func prefixHarness(t *testing.T, s *store.Store, name, base string) *harness {
	t.Helper()
	sel := &config.Selectors{ThreadRow: "tr.row", ThreadLink: "a.tl", ThreadLatest: "td.last", Post: "div.post", PostIDAttr: "id", Body: ".body"}
	site := config.Site{Name: name, Engine: "generic", URL: base, Entries: []string{"forum"}, AllowPrivate: true, Selectors: sel}
	h := &harness{t: t, cfg: testScrapeConfig(), store: s}
	h.cfg.Sites = []config.Site{site}
	h.build(site)
	return h
}

// A site served under a path ("https://host/forum/", a mirror's or a
// hosting service's) is the part of the host under that path: links
// leaving it are another site's pages, robots.txt is the host's (at its
// root, RFC 9309), and another site on the same host keeps its own state.
func TestASiteUnderAPathPrefix(t *testing.T) {
	t.Run("links that leave the prefix are not followed", func(t *testing.T) {
		ts := newTestSite(t, "")
		prefixForum(t, ts, "/forum/", map[string]int{"/forum/t/a.1": 1, "/other/t/b.1": 1, "/forumx/t/c.1": 1})
		h := prefixHarness(t, redistest.New(t), "fx", ts.URL+"/forum/")
		doRound(t, h)
		if got := h.posts(); len(got) != 1 || got[0].ThreadURL != ts.URL+"/forum/t/a.1" {
			t.Errorf("posts %v, want only the thread under /forum/", ids(got))
		}
		for _, r := range ts.requestLog() {
			if strings.HasPrefix(r, "/other/") || strings.HasPrefix(r, "/forumx/") {
				t.Errorf("requested %s, outside the site's prefix", r)
			}
		}
	})
	t.Run("robots.txt is read at the host's root and applies to the prefix", func(t *testing.T) {
		ts := newTestSite(t, "")
		ts.robot = "User-agent: *\nDisallow: /forum/private/\n"
		prefixForum(t, ts, "/forum/", map[string]int{"/forum/t/a.1": 1, "/forum/private/t/b.1": 1})
		h := prefixHarness(t, redistest.New(t), "fx", ts.URL+"/forum/")
		doRound(t, h)
		if got := h.posts(); len(got) != 1 || got[0].ThreadURL != ts.URL+"/forum/t/a.1" {
			t.Errorf("posts %v, want only the allowed thread", ids(got))
		}
		log := ts.requestLog()
		if !slices.Contains(log, "/robots.txt") || slices.Contains(log, "/forum/robots.txt") || slices.Contains(log, "/forum/private/t/b.1") {
			t.Errorf("requests %v: want /robots.txt read, the disallowed thread not", log)
		}
	})
	t.Run("two sites on one host under different prefixes keep their own state", func(t *testing.T) {
		ts := newTestSite(t, "")
		// The same paths below each prefix, the same post ids.
		prefixForum(t, ts, "/forum/", map[string]int{"/forum/t/a.1": 1})
		prefixForum(t, ts, "/board/", map[string]int{"/board/t/a.1": 1})
		s := redistest.New(t)
		a, b := prefixHarness(t, s, "site-a", ts.URL+"/forum/"), prefixHarness(t, s, "site-b", ts.URL+"/board/")
		doRound(t, a)
		doRound(t, b)
		if len(a.posts()) != 1 || len(b.posts()) != 1 || a.posts()[0].ID == b.posts()[0].ID {
			t.Fatalf("site a %v, site b %v: want one post each, told apart", ids(a.posts()), ids(b.posts()))
		}
		a.reset()
		b.reset()
		prefixForum(t, ts, "/board/", map[string]int{"/board/t/a.1": 2})
		doRound(t, a)
		doRound(t, b)
		if len(a.posts()) != 0 || strings.Join(ids(b.posts()), ",") != "2" {
			t.Errorf("second round: site a %v, site b %v", ids(a.posts()), ids(b.posts()))
		}
	})
	t.Run("a thread's place moves to a mirror under another prefix", func(t *testing.T) {
		primary, mirror := newTestSite(t, ""), newTestSite(t, "")
		prefixForum(t, primary, "/forum/", map[string]int{"/forum/t/a.1": 1})
		prefixForum(t, mirror, "/mirror/", map[string]int{"/mirror/t/a.1": 1})
		s := redistest.New(t)
		h := prefixHarness(t, s, "fx", primary.URL+"/forum/")
		site := h.c.Site()
		site.Mirrors = []string{mirror.URL + "/mirror/"}
		h.build(site)
		doRound(t, h)
		if len(h.posts()) != 1 {
			t.Fatalf("first crawl %v", ids(h.posts()))
		}
		h.reset()
		primary.Close()
		mirror.requestLog()
		prefixForum(t, mirror, "/mirror/", map[string]int{"/mirror/t/a.1": 2})
		doRound(t, h)
		log := mirror.requestLog()
		if got := ids(h.posts()); strings.Join(got, ",") != "2" {
			t.Errorf("on the mirror: posts %v, want the new post only (requests %v)", got, log)
		}
		for _, r := range log {
			if !strings.HasPrefix(r, "/mirror/") && r != "/robots.txt" {
				t.Errorf("requested %s on the mirror, outside its prefix", r)
			}
		}
	})
}

// A link is the site's whatever way it spells the site's URL: escapes in
// either case ("%c3%b6" is "%C3%B6", RFC 3986), an unescaped character,
// the host in capitals, http for https, the scheme's default port. Read
// as another site's, a thread was dropped as out_of_scope, or kept under
// an id of its own (its posts emitted again) and a place no mirror finds.
func TestALinkSpelledDifferentlyIsStillTheSites(t *testing.T) {
	base, _ := url.Parse("https://board.example/f%C3%B6rum/")
	c := &Crawler{bases: []*url.URL{base}, m: NewMetrics(nil), site: config.Site{Name: "fx"}}
	r := &round{c: c}
	for _, tc := range []struct {
		link    string
		inScope bool
		rel     string // "" for none to check
	}{
		{"https://board.example/f%C3%B6rum/t/1", true, "t/1"},
		{"https://board.example/f%c3%b6rum/t/1", true, "t/1"},
		{"https://board.example/förum/t/1", true, "t/1"},
		{"https://BOARD.example/f%C3%B6rum/t/1", true, "t/1"},
		{"http://board.example/f%C3%B6rum/t/1", true, "t/1"},
		{"https://board.example:443/f%C3%B6rum/t/1", true, "t/1"},
		{"https://board.example/f%C3%B6rum", true, ""},
		{"https://board.example/other/t/1", false, ""},
		{"https://board.example:443/other/t/1", false, ""},
		{"https://board.example/f%C3%B6rum-old/t/1", false, ""},
		{"https://board.example:8443/other/t/1", true, ""}, // another origin: the engine's business
		{"https://cdn.example/x", true, ""},
	} {
		if got := r.inScope(tc.link); got != tc.inScope {
			t.Errorf("%s: in scope %v, want %v", tc.link, got, tc.inScope)
		}
		if tc.rel == "" {
			continue
		}
		u, _ := url.Parse(tc.link)
		if got := r.rel(u); got != tc.rel {
			t.Errorf("%s: stored as %q, want %q", tc.link, got, tc.rel)
		}
	}
	// The generic engine's ids are below the site's path too.
	site := config.Site{Name: "fx", Engine: "generic", URL: base.String(), Entries: []string{"forum"},
		Selectors: &config.Selectors{Post: "div.post", PostIDAttr: "id", Body: ".body"}}
	eng, err := NewEngine(site)
	if err != nil {
		t.Fatal(err)
	}
	g := eng.(*generic)
	want := g.threadID("https://board.example/f%C3%B6rum/t/a.1", nil)
	for _, l := range []string{"https://board.example/f%c3%b6rum/t/a.1", "http://board.example:80/förum/t/a.1"} {
		if got := g.threadID(l, nil); got != want {
			t.Errorf("%s: thread id %q, want %q", l, got, want)
		}
	}
}
