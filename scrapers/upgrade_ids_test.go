package scrapers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// upgradeForum is a generic-engine forum with one thread: a listing at
// <prefix>forum and the thread's page, its posts numbered from 1.
type upgradeForum struct {
	ts     *testSite
	prefix string
	thread string // the thread's URL path
	rowID  string
	latest int
	texts  []string // post i+1's text
	footer string   // changes the thread page and nothing in it
}

func (f *upgradeForum) publish() {
	f.ts.set(f.prefix+"forum", []byte(fmt.Sprintf(`<html><body><table>
<tr class="row"><td class="tid" data-tid="%s"><a class="tl" href="%s">A thread</a></td><td class="last">%d</td></tr>
</table></body></html>`, f.rowID, f.thread, f.latest)))
	var b strings.Builder
	b.WriteString("<html><body><h1>A thread</h1>\n")
	for i, text := range f.texts {
		fmt.Fprintf(&b, `<div class="post" id="post_%d"><a class="perma" href="%s#post-%d">#</a><span class="date">2026-01-10 10:%02d</span><div class="body">%s</div></div>`+"\n",
			i+1, f.thread, i+1, i+1, text)
	}
	b.WriteString(f.footer + "</body></html>")
	f.ts.set(f.thread, []byte(b.String()))
}

// An upgrade changed the generic engine's thread ids ("/t/old-title.123"
// is now "/t/123"; a site under a path keys its threads below it) and,
// with them, post ids taken from permalinks. Keyed by the new ids, every
// thread the previous version had read was a new one: read again from its
// start and each of its posts emitted again, under post ids downstream had
// never seen. The crawler now takes a thread's state over from the id the
// previous version gave it, once.
func TestAnUpgradeEmitsNothingTwice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix string // the site's path
		thread string
		rowID  string
		sel    func(s *config.Selectors)
		// oldThread is the thread's id as the previous version gave it,
		// oldPost its post ids (post number n).
		oldThread string
		oldPost   func(n int) string
	}{
		{
			name: "a slug beside the id, post ids from an attribute", thread: "/t/old-title.123",
			oldThread: "/t/old-title.123", oldPost: func(n int) string { return fmt.Sprint(n) },
		},
		{
			name: "a slug beside the id, post ids from permalinks", thread: "/t/old-title.123",
			sel:       func(s *config.Selectors) { s.PostIDAttr = "" },
			oldThread: "/t/old-title.123", oldPost: func(n int) string { return fmt.Sprintf("/t/old-title.123#post-%d", n) },
		},
		{
			name: "vBulletin's id before the slug, post ids from permalinks", thread: "/showthread.php?123-Old-title",
			sel:       func(s *config.Selectors) { s.PostIDAttr = "" },
			oldThread: "/showthread.php?123-Old-title", oldPost: func(n int) string { return fmt.Sprintf("/showthread.php?123-Old-title#post-%d", n) },
		},
		{
			name: "a site under a path, post ids from permalinks", prefix: "/forum/", thread: "/forum/topic/55",
			sel:       func(s *config.Selectors) { s.PostIDAttr = "" },
			oldThread: "/forum/topic/55", oldPost: func(n int) string { return fmt.Sprintf("/forum/topic/55#post-%d", n) },
		},
		{
			name: "an id from the listing row, post ids from permalinks", thread: "/Thread-Old-title", rowID: "tid_77",
			sel:       func(s *config.Selectors) { s.ThreadID, s.ThreadIDAttr, s.PostIDAttr = "td.tid", "data-tid", "" },
			oldThread: "/Thread-Old-title", oldPost: func(n int) string { return fmt.Sprintf("/Thread-Old-title#post-%d", n) },
		},
		{
			name: "a pattern over the URL", thread: "/topic/55/old-title",
			sel:       func(s *config.Selectors) { s.ThreadIDPattern = `^/topic/(\d+)/` },
			oldThread: "/topic/55/old-title", oldPost: func(n int) string { return fmt.Sprint(n) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := tc.prefix
			if prefix == "" {
				prefix = "/"
			}
			f := &upgradeForum{ts: newTestSite(t, ""), prefix: prefix, thread: tc.thread, rowID: tc.rowID, latest: 1,
				texts: []string{"post number 1", "post number 2"}}
			f.publish()
			sel := &config.Selectors{ThreadRow: "tr.row", ThreadLink: "a.tl", ThreadLatest: "td.last",
				Post: "div.post", PostIDAttr: "id", Body: ".body", Time: ".date", Permalink: "a.perma"}
			if tc.sel != nil {
				tc.sel(sel)
			}
			site := config.Site{Name: "fx", Engine: "generic", URL: f.ts.URL + prefix, Entries: []string{"forum"}, AllowPrivate: true, Selectors: sel}
			h := &harness{t: t, cfg: testScrapeConfig(), store: redistest.New(t)}
			h.cfg.Sites = []config.Site{site}

			// The state the previous version left: the site crawled, the
			// thread read to its end (its cursor root-relative), both
			// posts recorded under the old ids.
			s, key := h.store, func(parts ...string) string { return h.store.Key(append([]string{"scrape", "fx"}, parts...)...) }
			init := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
			if err := s.HSet(ctx, key("meta"), "init", init, "done", "1", "base", "0").Err(); err != nil {
				t.Fatal(err)
			}
			old, _ := json.Marshal(map[string]string{"m": "1", "c": tc.thread})
			if err := s.Set(ctx, key("thread", tc.oldThread), old, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			for n, text := range f.texts {
				if err := s.HSet(ctx, key("seen", tc.oldThread), tc.oldPost(n+1), msg.ContentHash(text, "")).Err(); err != nil {
					t.Fatal(err)
				}
			}
			h.build(site)

			// Upgraded, with nothing new: the thread is not read at all.
			doRound(t, h)
			if got := h.posts(); len(got) != 0 {
				t.Fatalf("nothing new: %v emitted", ids(got))
			}
			if log := f.ts.requestLog(); slices.Contains(log, tc.thread) {
				t.Errorf("the thread was read, its place lost: %v", log)
			}

			// A post edited, a post added: those two only, the edit as one.
			f.latest, f.texts = 2, []string{"post number 1", "post number 2, edited", "post number 3"}
			f.publish()
			doRound(t, h)
			got := h.posts()
			slices.SortFunc(got, func(a, b msg.Post) int { return strings.Compare(a.Text, b.Text) })
			if len(got) != 2 || got[0].Text != "post number 2, edited" || !got[0].Edited || got[1].Text != "post number 3" || got[1].Edited {
				t.Fatalf("after a post edited and one added: %v, want post 2 as an edit and post 3", ids(got))
			}
			h.reset()

			// The state now lives under the new id: the old one gone, the
			// thread read again, nothing in it is new.
			if err := s.Del(ctx, key("thread", tc.oldThread), key("seen", tc.oldThread)).Err(); err != nil {
				t.Fatal(err)
			}
			f.latest, f.footer = 3, "<p>footer</p>"
			f.publish()
			doRound(t, h)
			if got := h.posts(); len(got) != 0 {
				t.Fatalf("read again: %v emitted again", ids(got))
			}
			if log := f.ts.requestLog(); !slices.Contains(log, tc.thread) {
				t.Errorf("the thread was not read again: %v", log)
			}
		})
	}
}

// A post id the previous version took from a permalink is re-keyed to the
// one Parse takes from the same permalink now, whatever the shape of the
// URL; ids read from an attribute stay as they are.
func TestPostIDsFromLegacyPermalinks(t *testing.T) {
	f := func(siteURL, pattern, threadURL, permalink string) {
		t.Helper()
		sel := &config.Selectors{Post: "div.post", Body: ".body", Permalink: "a.perma", ThreadIDPattern: pattern}
		e, err := NewEngine(config.Site{Name: "fx", Engine: "generic", URL: siteURL, Entries: []string{"forum"}, Selectors: sel})
		if err != nil {
			t.Fatal(err)
		}
		g := e.(*generic)
		pu, _ := url.Parse(permalink)
		old := pu.RequestURI() + "#" + pu.Fragment // the previous version's rule
		want := g.threadID(permalink, nil) + "#" + pu.Fragment
		if got := g.PostIDFromLegacy(threadURL, old); got != want {
			t.Errorf("%s: %q re-keyed to %q, want %q", permalink, old, got, want)
		}
	}
	f("https://h.example/", "", "https://h.example/t/old-title.123", "https://h.example/t/old-title.123#post-5")
	f("https://h.example/", "", "https://h.example/t/old-title.123", "https://h.example/t/old-title.123/page-2#post-5")
	f("https://h.example/", "", "https://h.example/t/a%20b.7", "https://h.example/t/a%20b.7#p1")
	f("https://h.example/", "", "https://h.example/showthread.php?123-Old", "https://h.example/showthread.php?123-Old#post9")
	f("https://h.example/", "", "https://h.example/showthread.php?123-Old", "https://h.example/showthread.php?p=9#post9")
	f("https://h.example/forum/", "", "https://h.example/forum/t/x.1", "https://h.example/forum/t/x.1#post-2")
	f("https://h.example/forum/", `^/topic/(\d+)/`, "https://h.example/forum/topic/55/title", "https://h.example/forum/topic/55/title#p3")

	e, _ := NewEngine(config.Site{Name: "fx", Engine: "generic", URL: "https://h.example/", Entries: []string{"forum"},
		Selectors: &config.Selectors{Post: "div.post", PostIDAttr: "id", Body: ".body"}})
	if got := e.(*generic).PostIDFromLegacy("https://h.example/t/x.1", "42"); got != "42" {
		t.Errorf("an id read from an attribute re-keyed to %q", got)
	}
}

// Adoption reads the old id's records, then writes them under the new id.
// Another crawler of the site (a lease that ran out mid-round, a
// one-off scrape beside the runner) that wrote the thread's state under
// the new id in between has the newer place: a transaction that does not
// watch the new id's key put the older one back over it, and the thread
// was read again from there.
func TestAdoptionNeverOverwritesStateWrittenMeanwhile(t *testing.T) {
	ctx := context.Background()
	s := redistest.New(t)
	st := NewState(s, "fx", time.Hour)
	if err := st.SetThread(ctx, "/t/old-title.123", ThreadState{Marker: "1", Cursor: "t/old-title.123"}); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkSeen(ctx, []msg.Post{{ThreadID: "/t/old-title.123", SitePostID: "1", ContentHash: "h1"}}); err != nil {
		t.Fatal(err)
	}
	newer := ThreadState{Marker: "5", Cursor: "t/123?page=2"}
	wrote := false
	got, _, err := st.AdoptThread(ctx, "/t/old-title.123", "/t/123", func(old string) string {
		if !wrote {
			// The other crawler, between the read and the write.
			wrote = true
			if err := st.SetThread(ctx, "/t/123", newer); err != nil {
				t.Fatal(err)
			}
		}
		return old
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, found, err := st.LookupThread(ctx, "/t/123")
	if err != nil || !found {
		t.Fatalf("no state under the new id: %v", err)
	}
	if stored != newer || got != newer {
		t.Errorf("state under the new id %+v, returned %+v; want the one written meanwhile, %+v", stored, got, newer)
	}
}

// A pipeline reports its first error only: with no state under the old id
// (nil), a failed read of its seen-set went unnoticed, and the thread was
// read as new, its posts emitted again. The failure is reported instead.
func TestAdoptionReportsAFailedReadOfTheOldSeenSet(t *testing.T) {
	ctx := context.Background()
	s := redistest.New(t)
	st := NewState(s, "fx", time.Hour)
	// Not a hash: HGETALL fails (WRONGTYPE).
	if err := s.Set(ctx, s.Key("scrape", "fx", "seen", "/t/old-title.123"), "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AdoptThread(ctx, "/t/old-title.123", "/t/123", func(old string) string { return old }); err == nil {
		t.Fatal("no error, want the failed read of the seen-set")
	}
}
