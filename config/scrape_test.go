package config

import (
	"strings"
	"testing"
	"time"
)

func TestScrapeSection(t *testing.T) {
	t.Setenv("TW_TEST_PROXY", "socks5h://user:pw@127.0.0.1:9050")
	good := `
scrape:
  poll_interval: 30s
  sites:
    - name: demo-xf
      engine: xenforo
      url: http://127.0.0.1:8081/
      mirrors: [http://127.0.0.1:8091/]
      entries: ["forums/general.2/"]
      allow_private: true
      proxy: {env: TW_TEST_PROXY}
      headers: {X-Token: literal}
      backfill: {max_age: 720h}
    - name: mybb
      engine: generic
      url: https://forum.example/
      entries: ["forumdisplay.php?fid=2"]
      selectors: {post: "div.post", post_id_attr: id, body: "div.post_body", time_zone: Europe/Berlin}
`
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	s, _ := c.Scrape.Site("demo-xf")
	e := c.Scrape.Effective(s)
	if e.PollInterval != 30*time.Second || e.Backfill.MaxAge != 720*time.Hour || e.Backfill.MaxPages != 5 || e.RateLimit.Delay != 2*time.Second || e.UserAgent == "" {
		t.Errorf("effective site: %+v %+v", e, *e.Backfill)
	}
	if e.Proxy.Value() == "" || strings.Contains(e.Proxy.String(), "pw") {
		t.Errorf("proxy secret: %q", e.Proxy.String())
	}
	f := func(yaml, wantPath string) {
		t.Helper()
		_, err := Parse([]byte(yaml))
		if err == nil || !strings.Contains(err.Error(), wantPath) {
			t.Errorf("want an error at %s, got %v", wantPath, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error leaks the proxy credentials: %v", err)
		}
	}
	f("scrape: {poll_interval: 10ms}", "scrape.poll_interval")
	f("scrape: {jitter: 1.5}", "scrape.jitter")
	f("scrape: {sites: [{name: A B, engine: rss, url: https://x.example/}]}", "scrape.sites[0].name")
	f("scrape: {sites: [{name: a, engine: rss, url: https://x.example/}, {name: a, engine: rss, url: https://y.example/}]}", "scrape.sites[1].name")
	f("scrape: {sites: [{name: a, url: https://x.example/}]}", "scrape.sites[0].engine")
	f("scrape: {sites: [{name: a, engine: rss, url: ftp://x.example/}]}", "scrape.sites[0].url")
	f("scrape: {sites: [{name: a, engine: rss, url: https://u:p@x.example/}]}", "scrape.sites[0].url")
	f("scrape: {sites: [{name: a, engine: rss, url: https://x.example/, mirrors: [nope]}]}", "scrape.sites[0].mirrors[0]")
	f("scrape: {sites: [{name: a, engine: rss, url: https://x.example/, proxy: \"gopher://u:pw@h:1\"}]}", "scrape.sites[0].proxy")
	f("scrape: {sites: [{name: a, engine: generic, url: https://x.example/}]}", "scrape.sites[0].selectors")
	f("scrape: {sites: [{name: a, engine: generic, url: https://x.example/, selectors: {post: p}}]}", "scrape.sites[0].selectors.body")
	f("scrape: {sites: [{name: a, engine: rss, url: https://x.example/, selectors: {post: p, body: b}}]}", "scrape.sites[0].selectors")
	f("scrape: {sites: [{name: a, engine: imageboard, url: https://x.example/, thread_path: \"{board}/x.json\"}]}", "scrape.sites[0].thread_path")
	f("scrape: {sites: [{name: a, engine: rss, url: https://x.example/, bogus: 1}]}", "bogus")
	f("scrape: {sites: [{name: a, engine: phpbb, url: https://x.example/, time_zone: Moscow}]}", "scrape.sites[0].time_zone")
	f("scrape: {sites: [{name: a, engine: generic, url: https://x.example/, time_zone: Europe/Moscow, selectors: {post: p, body: b, post_id_attr: id, time_zone: Europe/Berlin}}]}", "scrape.sites[0].selectors.time_zone")
	if _, err := Parse([]byte("scrape: {sites: [{name: a, engine: xenforo, url: https://x.example/, time_zone: Europe/Moscow}]}")); err != nil {
		t.Errorf("a site with an IANA time_zone: %v", err)
	}
}
