package scrapers_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/scrapers"
)

// A channel that posts a burst of pictures without captions (screenshots,
// a photo dump) after a text message: the newest page holds only the
// pictures, which are no posts, so the crawler saw no new post on it and
// did not read the older page, and the text message before the burst was
// never read. Messages that are not posts count as read items of the
// stream, so the walk goes on while all of them are new.
func TestAChannelBurstOfUncaptionedMediaDoesNotHideTheMessageBeforeIt(t *testing.T) {
	type message struct {
		id   int
		text string
	}
	var mu sync.Mutex
	var msgs []message
	add := func(text string) {
		mu.Lock()
		defer mu.Unlock()
		msgs = append(msgs, message{len(msgs) + 1, text})
	}
	at := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/s/chan" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		before := len(msgs) + 1
		if b, err := strconv.Atoi(r.URL.Query().Get("before")); err == nil {
			before = b
		}
		var page []message
		for _, m := range msgs {
			if m.id < before {
				page = append(page, m)
			}
		}
		mu.Unlock()
		page = page[max(0, len(page)-20):]
		var b strings.Builder
		b.WriteString(`<html><body><div class="tgme_channel_info_header_title">Chan</div><section class="tgme_channel_history">`)
		for _, m := range page {
			fmt.Fprintf(&b, `<div class="tgme_widget_message" data-post="chan/%d">`, m.id)
			if m.text == "" {
				b.WriteString(`<a class="tgme_widget_message_photo_wrap" style="background-image:url('x.jpg')"></a>`)
			} else {
				fmt.Fprintf(&b, `<div class="tgme_widget_message_text">%s</div>`, m.text)
			}
			fmt.Fprintf(&b, `<a class="tgme_widget_message_date" href="/chan/%d"><time datetime="%s"></time></a></div>`, m.id, at.Add(time.Duration(m.id)*time.Minute).Format(time.RFC3339))
		}
		b.WriteString(`</section></body></html>`)
		_, _ = w.Write([]byte(b.String()))
	}))
	defer srv.Close()

	cfg := config.Default().Scrape
	cfg.RateLimit.Delay = 0
	cfg.Backfill.MaxAge = 100 * 365 * 24 * time.Hour
	cfg.Backfill.MaxPages = 1
	cfg.RequestTimeout = 5 * time.Second
	site := config.Site{Name: "tg", Engine: "telegram", URL: srv.URL + "/", Entries: []string{"chan"}, AllowPrivate: true, IgnoreRobotsTxt: true}
	cfg.Sites = []config.Site{site}
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
	for i := range 5 {
		add(fmt.Sprintf("old message %d", i))
	}
	if _, err := c.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	add("his plate number is below")
	for range 20 {
		add("")
	}
	mu.Lock()
	posts = nil
	mu.Unlock()
	for range 2 {
		if _, err := c.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, p := range posts {
		got = append(got, p.SitePostID)
	}
	if len(got) != 1 || got[0] != "chan/6" {
		t.Errorf("posts after the burst: %v, want only chan/6, the text before the pictures", got)
	}
}
