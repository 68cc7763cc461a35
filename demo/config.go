package demo

import (
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// ScrapeSites returns the scrape config of the demo sites, served at the
// server's URLs. They are ordinary site entries; only allow_private (the
// sites are on loopback, which the scrapers refuse by default) and the
// fast polling and backfill bounds fit a demo rather than a real forum.
func (s *Server) ScrapeSites(poll time.Duration) []config.Site {
	backfill := &config.Backfill{MaxAge: s.tl.History + time.Hour, MaxPages: 200}
	rate := config.RateLimit{Delay: 10 * time.Millisecond, Parallelism: 2}
	return []config.Site{
		{Name: SiteForum, Engine: "xenforo", URL: s.URL(SiteForum), Entries: []string{"forums/general.1/"},
			AllowPrivate: true, PollInterval: poll, Backfill: backfill, RateLimit: rate},
		{Name: SiteBoard, Engine: "imageboard", URL: s.URL(SiteBoard), Entries: []string{"b"},
			AllowPrivate: true, PollInterval: poll, Backfill: backfill, RateLimit: rate},
		{Name: SiteChannel, Engine: "telegram", URL: s.URL(SiteChannel), Entries: []string{Channel},
			AllowPrivate: true, PollInterval: poll, Backfill: backfill, RateLimit: rate},
	}
}
