package scrapers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// A board prints its times in its own zone, and XenForo 1, phpBB before
// 3.2, sloppy feeds and generic sites print them without an offset. Read
// as UTC, every post of a board in New York (UTC-5) came out five hours
// early: late to the aggregator (beyond its grace), so the board could
// never page; a board east of UTC came out hours in the future. The
// site's time_zone applies to every engine, and only where the page shows
// no offset.
func TestTimesWithoutAnOffsetAreReadInTheSitesZone(t *testing.T) {
	fetched := time.Date(2026, 1, 10, 18, 0, 0, 0, time.UTC) // 21:00 in Moscow
	eleven := time.Date(2026, 1, 10, 11, 0, 0, 0, time.UTC)  // 14:00 in Moscow
	fourteen := time.Date(2026, 1, 10, 14, 0, 0, 0, time.UTC)
	f := func(name, engine, zone, page string, want time.Time) {
		t.Run(name, func(t *testing.T) {
			site := config.Site{Name: "tz", Engine: engine, URL: "https://forum.example/", Entries: []string{"x"}, TimeZone: zone}
			if engine == "generic" {
				site.Selectors = &config.Selectors{Post: "div.post", PostIDAttr: "id", Body: ".body", Time: ".date", ThreadLink: "a.thread", ThreadRow: "li.row", ThreadLatest: ".last"}
			}
			eng, err := NewEngine(site)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse("https://forum.example/threads/x.1/")
			pg, err := eng.Parse(&Input{Site: "tz", URL: u, Kind: Thread, Body: []byte(page), Fetched: fetched})
			if err != nil {
				t.Fatal(err)
			}
			var got []time.Time
			for _, p := range pg.Posts {
				got = append(got, p.Published)
			}
			for _, th := range pg.Threads {
				got = append(got, th.Latest)
			}
			if len(got) == 0 {
				t.Fatal("no post and no thread on the page")
			}
			for _, g := range got {
				if !g.Equal(want) {
					t.Errorf("read %v, want %v", g.UTC(), want)
				}
			}
		})
	}
	xf1Post := func(date string) string {
		return `<html id="XenForo"><body><div class="titleBar"><h1>T</h1></div><ol class="messageList">
<li id="post-1" class="message" data-author="a"><blockquote class="messageText">hello</blockquote>
<div class="messageMeta">` + date + `</div></li></ol></body></html>`
	}
	f("xenforo 1: a date in a title", "xenforo", "Europe/Moscow",
		xf1Post(`<span class="DateTime" title="Jan 10, 2026 at 2:00 PM">Jan 10, 2026</span>`), eleven)
	f("xenforo 1: today at a time", "xenforo", "Europe/Moscow",
		xf1Post(`<abbr class="DateTime">Today at 2:00 PM</abbr>`), eleven)
	f("xenforo 1: the epoch is not moved", "xenforo", "Europe/Moscow",
		xf1Post(`<abbr class="DateTime" data-time="1768053600" title="Jan 10, 2026 at 5:00 PM">Today at 5:00 PM</abbr>`), fourteen)
	f("xenforo 1: a listing's last post", "xenforo", "Europe/Moscow",
		`<html id="XenForo"><body><ol class="discussionListItems"><li class="discussionListItem"><h3 class="title"><a href="threads/x.1/">T</a></h3>
<div class="lastPost"><span class="DateTime" title="Jan 10, 2026 at 2:00 PM">Jan 10, 2026</span></div></li></ol></body></html>`, eleven)
	f("xenforo 1: west of UTC", "xenforo", "America/New_York",
		xf1Post(`<span class="DateTime" title="Jan 10, 2026 at 9:00 AM">Jan 10, 2026</span>`), fourteen)
	f("xenforo 1: no zone configured is UTC", "xenforo", "",
		xf1Post(`<span class="DateTime" title="Jan 10, 2026 at 2:00 PM">Jan 10, 2026</span>`), fourteen)

	phpbbPost := func(author string) string {
		return `<html><body><div id="page-body"><h2 class="topic-title"><a href="./viewtopic.php?t=5">T</a></h2>
<div class="post" id="p1"><p class="author">` + author + `</p><div class="content">hello</div></div></div></body></html>`
	}
	f("phpbb 3.0: the text after »", "phpbb", "Europe/Moscow",
		phpbbPost(`by <a class="username">wolf</a> » Sat Jan 10, 2026 2:00 pm`), eleven)
	phpbbListing := func(last string) string {
		return `<html><body><div id="page-body"><ul class="topiclist topics"><li class="row"><dl><dt><a href="./viewtopic.php?f=2&amp;t=5" class="topictitle">T</a></dt>
<dd class="posts">3 <dfn>Replies</dfn></dd><dd class="lastpost"><span><dfn>Last post </dfn>` + last + `</span></dd></dl></li></ul></div></body></html>`
	}
	f("phpbb 3.0: a listing's last post after the line break", "phpbb", "Europe/Moscow",
		phpbbListing(`by <a href="./memberlist.php?mode=viewprofile&amp;u=2">wolf</a> <a href="./viewtopic.php?f=2&amp;t=5&amp;p=9#p9"><img src="x.gif" alt="View the latest post" /></a> <br />Sat Jan 10, 2026 2:00 pm`), eleven)
	f("phpbb 3.1: a listing's last post, today", "phpbb", "Europe/Moscow",
		phpbbListing(`by <a href="./memberlist.php?mode=viewprofile&amp;u=2" class="username">wolf</a> <a href="./viewtopic.php?f=2&amp;t=5&amp;p=9#p9" title="Go to last post"><i class="icon fa-external-link-square"></i></a><br />Today, 2:00 pm`), eleven)
	f("phpbb 3.2: a datetime with its offset is not moved", "phpbb", "Europe/Moscow",
		phpbbPost(`by <a class="username">wolf</a> » <time datetime="2026-01-10T14:00:00+00:00">Sat Jan 10, 2026 5:00 pm</time>`), fourteen)

	f("rss: a pubDate without a zone", "rss", "Europe/Moscow",
		`<rss version="2.0"><channel><title>F</title><item><guid>1</guid><title>x</title><description>hello</description><pubDate>2026-01-10 14:00:00</pubDate></item></channel></rss>`, eleven)
	f("rss: a pubDate with its zone is not moved", "rss", "Europe/Moscow",
		`<rss version="2.0"><channel><title>F</title><item><guid>1</guid><title>x</title><description>hello</description><pubDate>Sat, 10 Jan 2026 14:00:00 GMT</pubDate></item></channel></rss>`, fourteen)

	f("generic: the site's zone when the selectors name none", "generic", "Europe/Moscow",
		`<html><body><ul><li class="row"><a class="thread" href="/t/1">T</a><span class="last">2026-01-10 14:00</span></li></ul>
<div class="post" id="post_1"><span class="date">2026-01-10 14:00</span><div class="body">hello</div></div></body></html>`, eleven)
}

// A feed in New York dating its items without a zone: read as UTC, each
// new item is five hours behind when it was read, which the crawler
// reports (a warning and the skew gauge); with the site's time_zone the
// same item is minutes old and nothing is reported.
func TestNewPostsDatedHoursAwayHintAtAWrongTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 10, 18, 0, 0, 0, time.UTC)
	f := func(name, zone string, wantSkew time.Duration, wantWarn bool) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			items := ""
			add := func(id int, at time.Time) {
				mu.Lock()
				defer mu.Unlock()
				items += fmt.Sprintf(`<item><guid>%d</guid><title>t</title><description>item %d</description><pubDate>%s</pubDate></item>`,
					id, id, at.In(ny).Format("2006-01-02 15:04:05"))
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/feed.xml" {
					http.NotFound(w, r)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				_, _ = fmt.Fprintf(w, `<rss version="2.0"><channel><title>F</title>%s</channel></rss>`, items)
			}))
			defer srv.Close()
			cfg := testScrapeConfig()
			site := config.Site{Name: "ny", Engine: "rss", URL: srv.URL + "/", Entries: []string{"feed.xml"}, AllowPrivate: true, TimeZone: zone}
			cfg.Sites = []config.Site{site}
			now := t0
			var log strings.Builder
			m := NewMetrics(nil)
			c, err := NewCrawler(cfg, site, redistest.New(t), func(context.Context, []msg.Post) error { return nil },
				Options{Now: func() time.Time { return now }, Metrics: m, Log: slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))})
			if err != nil {
				t.Fatal(err)
			}
			add(1, t0.Add(-24*time.Hour))
			if _, err := c.Round(context.Background()); err != nil {
				t.Fatal(err)
			}
			now = t0.Add(24 * time.Hour) // well after the first crawl: new posts are not history
			add(2, now.Add(-3*time.Minute))
			if _, err := c.Round(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(testutil.ToFloat64(m.PostTimeSkew.WithLabelValues("ny"))) * time.Second; got != wantSkew {
				t.Errorf("skew gauge %v, want %v", got, wantSkew)
			}
			mu.Lock()
			warned := strings.Contains(log.String(), "time_zone is wrong")
			mu.Unlock()
			if warned != wantWarn {
				t.Errorf("warned %v, want %v; log:\n%s", warned, wantWarn, log.String())
			}
		})
	}
	f("no zone: five hours behind, reported", "", -5*time.Hour-3*time.Minute, true)
	f("the board's zone: minutes old, not reported", "America/New_York", -3*time.Minute, false)
}
