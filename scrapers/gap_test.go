package scrapers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"log/slog"
	"sync"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/scrapers"
	"github.com/threatwatch/threatwatch/scrapers/scrapetest"
)

// TestABurstLargerThanOnePageIsNotLost: a newest-first stream (a Telegram
// channel, a Reddit or Discourse listing) shows the newest page first; when
// more posts arrived than one page holds, the crawler walks older pages
// until it meets posts it has seen. If that walk is cut short (an older
// page fails, or the round's page budget runs out), the posts beyond the
// cut must still be read in a later round, though the first page now holds
// only posts already seen. That holds too when the process stops in the
// middle of the walk (a deploy, a lost lease): the walk's place was written
// only once it ended, with the round's context already cancelled, so the
// posts beyond it were never read.
func TestABurstLargerThanOnePageIsNotLost(t *testing.T) {
	f := func(name string, perRound int, failOlderOnce, stopOnOlderOnce bool) {
		t.Run(name, func(t *testing.T) {
			forum := scrapetest.NewForum(scrapetest.Telegram, 1, 30)
			defer forum.Close()
			target, _ := url.Parse(forum.URL())
			var failing, stopping atomic.Bool
			var stopRound atomic.Pointer[context.CancelFunc]
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if failing.Load() && r.URL.Query().Get("before") != "" {
					failing.Store(false)
					http.Error(w, "boom", http.StatusInternalServerError)
					return
				}
				if stopping.Load() && r.URL.Query().Get("before") != "" {
					// The process stops while this page is on its way.
					stopping.Store(false)
					(*stopRound.Load())()
					<-r.Context().Done()
					return
				}
				httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
			}))
			defer front.Close()

			cfg := config.Default().Scrape
			cfg.RateLimit.Delay = 0
			cfg.Backfill.MaxAge = 100 * 365 * 24 * time.Hour
			cfg.Backfill.MaxPages = 50
			cfg.RequestTimeout = 5 * time.Second
			cfg.MaxPagesPerRound = perRound
			site := config.Site{Name: "tg", Engine: "telegram", URL: front.URL + "/", Entries: []string{"chan"}, AllowPrivate: true}
			cfg.Sites = []config.Site{site}
			var mu sync.Mutex
			var posts []msg.Post
			sink := func(_ context.Context, ps []msg.Post) error {
				mu.Lock()
				defer mu.Unlock()
				posts = append(posts, ps...)
				return nil
			}
			c, err := scrapers.NewCrawler(&cfg, site, redistest.New(t), sink, scrapers.Options{Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Round(context.Background()); err != nil {
				t.Fatalf("first round: %v", err)
			}
			if len(posts) != 30 {
				t.Fatalf("first crawl got %d posts, want 30", len(posts))
			}
			posts = nil

			want := map[string]bool{}
			for i := 0; i < 2*scrapetest.PerPage+5; i++ {
				id, _ := forum.AddPost(1, "burst post")
				want[id] = true
			}
			failing.Store(failOlderOnce)
			stopping.Store(stopOnOlderOnce)
			for round := 0; round < 4; round++ {
				ctx, cancel := context.WithCancel(context.Background())
				stopRound.Store(&cancel)
				_, _ = c.Round(ctx)
				cancel()
			}
			got := map[string]int{}
			for _, p := range posts {
				got[p.SitePostID]++
			}
			var missing, twice []string
			for id := range want {
				if got[id] == 0 {
					missing = append(missing, id)
				}
			}
			for id, n := range got {
				if n > 1 || !want[id] {
					twice = append(twice, id)
				}
			}
			sort.Strings(missing)
			sort.Strings(twice)
			if len(missing) > 0 {
				t.Errorf("%d of %d new posts never emitted: %s", len(missing), len(want), strings.Join(missing, " "))
			}
			if len(twice) > 0 {
				t.Errorf("emitted twice or not new: %s", strings.Join(twice, " "))
			}
		})
	}
	f("an older page that fails once is read in a later round", 20, true, false)
	f("a round's page budget running out leaves the rest for the next round", 2, false, false)
	f("a process stopping in the middle of the walk leaves the rest for the next one", 20, false, true)
}
