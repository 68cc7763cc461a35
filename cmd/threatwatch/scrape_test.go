package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
