package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

const tgPage = `<!DOCTYPE html><html><head><title>Chan</title></head><body><main class="tgme_main">
<section class="tgme_channel_history js-message_history">
<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message js-widget_message" data-post="chan/7">
<div class="tgme_widget_message_bubble"><div class="tgme_widget_message_text js-message_text" dir="auto">first post</div>
<div class="tgme_widget_message_footer"><span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/chan/7"><time datetime="2026-01-10T12:00:00+00:00" class="time">12:00</time></a></span></div></div></div></div>
<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message js-widget_message" data-post="chan/8">
<div class="tgme_widget_message_bubble"><div class="tgme_widget_message_text js-message_text" dir="auto">second post</div>
<div class="tgme_widget_message_footer"><span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/chan/8"><time datetime="2026-01-10T12:05:00+00:00" class="time">12:05</time></a></span></div></div></div></div>
</section></main></body></html>`

func TestScrapeOnceWritesPostsWithoutKafka(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/s/chan" && r.URL.Query().Get("before") == "" {
			_, _ = w.Write([]byte(tgPage))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(`scrape:
  rate_limit: {delay: 1ms}
  sites:
    - name: tg
      engine: telegram
      url: `+srv.URL+`/
      entries: [chan]
      allow_private: true
`), 0o600)
	code, out, errOut := run(t, "", "scrape", "--config", cfg, "--once", "--site", "tg", "--output", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"site_post_id":"chan/7"`) || !strings.Contains(lines[1], `"text":"second post"`) || !strings.Contains(lines[0], `"backfill":true`) {
		t.Fatalf("output %q, stderr %q", out, errOut)
	}
	if !strings.Contains(errOut, "site tg: 2 posts") {
		t.Errorf("summary %q", errOut)
	}
	if code, _, errOut := run(t, "", "scrape", "--config", cfg, "--once"); code != 2 || !strings.Contains(errOut, "--site") {
		t.Errorf("--once without --site: exit %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", "scrape", "--config", cfg, "--once", "--site", "nope"); code != 2 {
		t.Errorf("unknown site: exit %d", code)
	}
}

// readTopic reads every message of a topic until want arrived or the
// deadline passed.
func readTopic(t *testing.T, kc *kafkatest.Cluster, topic string, want int, within time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	parts, err := kc.Bus.Partitions(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []string
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kc.Bus.PartitionReader(topic, p)
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				out = append(out, string(m.Value))
				n := len(out)
				mu.Unlock()
				if n >= want {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func TestScrapeStageWritesPostsAndSiteHealth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/s/chan" && r.URL.Query().Get("before") == "" {
			_, _ = w.Write([]byte(tgPage))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	kc := kafkatest.New(t, kafkatest.Options{})
	cfg := kc.Config
	cfg.Redis.URL = config.NewSecret(redistest.Start(t).URL)
	cfg.Redis.KeyPrefix = "stage-test:"
	cfg.HTTP.Listen = ""
	cfg.Log.Level = "error"
	cfg.Scrape.PollInterval = time.Second
	cfg.Scrape.StaleAfter = time.Millisecond
	cfg.Scrape.RateLimit.Delay = time.Millisecond
	cfg.Scrape.Backfill.MaxAge = 100 * 365 * 24 * time.Hour
	cfg.Scrape.Sites = []config.Site{
		{Name: "tg", Engine: "telegram", URL: srv.URL + "/", Entries: []string{"chan"}, AllowPrivate: true},
		{Name: "dark", Engine: "telegram", URL: "http://127.0.0.1:1/", Entries: []string{"chan"}, AllowPrivate: true},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	p, err := openProcess(ctx, &env{stderr: &stderr, stdout: &stderr, getenv: func(string) string { return "" }}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	done := make(chan error, 1)
	go func() { done <- runScrapeStage(ctx, p) }()
	posts := readTopic(t, kc, kc.Topic(cfg.Topics.Posts), 2, 20*time.Second)
	if len(posts) != 2 || !strings.Contains(strings.Join(posts, "\n"), `"site_post_id":"chan/8"`) {
		t.Fatalf("posts topic: %q", posts)
	}
	levels := readTopic(t, kc, kc.Topic(cfg.Topics.Levels), 1, 20*time.Second)
	if len(levels) == 0 || !strings.Contains(levels[0], `"site":"dark"`) || !strings.Contains(levels[0], `"stale":true`) || !strings.Contains(levels[0], `"name":"scraper_unreachable"`) {
		t.Fatalf("levels topic: %q", levels)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stage: %v", err)
	}
}
