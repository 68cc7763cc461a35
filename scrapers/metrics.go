package scrapers

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the scrapers' Prometheus metrics, labelled by site.
type Metrics struct {
	// Requests counts responses by status code, or failures by reason.
	Requests *prometheus.CounterVec
	// Posts counts posts emitted, by kind (new, edited, backfill).
	Posts *prometheus.CounterVec
	// Drops counts what was set aside, by reason (too_large, markup,
	// bad_page, no_id, forbidden_address, ...).
	Drops *prometheus.CounterVec
	// Bytes counts body bytes read.
	Bytes *prometheus.CounterVec
	// RoundSeconds times one poll round of a site.
	RoundSeconds *prometheus.HistogramVec
	// Healthy is 1 while a site answers with markup its engine reads.
	Healthy *prometheus.GaugeVec
	// State is 1 for a site's current health state, 0 for the others.
	State *prometheus.GaugeVec
	// LastSuccess is the Unix time of a site's last good round.
	LastSuccess *prometheus.GaugeVec
	// Leases is the number of sites this process holds.
	Leases prometheus.Gauge
	// CrawlDelay is the Crawl-delay a site's robots.txt asks of us.
	CrawlDelay *prometheus.GaugeVec
	// PostTimeSkew is how far the newest new post of a site's last round
	// with new posts is dated from when it was read.
	PostTimeSkew *prometheus.GaugeVec
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_scrape_requests_total", Help: "HTTP requests by site and status code, or failure reason.",
		}, []string{"site", "code"}),
		Posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_scrape_posts_total", Help: "Posts emitted by site and kind (new, edited, backfill).",
		}, []string{"site", "kind"}),
		Drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_scrape_drops_total", Help: "Pages or posts set aside, and posts cut to the size limit (text_clipped), by site and reason.",
		}, []string{"site", "reason"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_scrape_response_bytes_total", Help: "Response body bytes read, by site.",
		}, []string{"site"}),
		RoundSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "threatwatch_scrape_round_duration_seconds", Help: "Time of one poll round of a site.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}, []string{"site"}),
		Healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_scrape_site_healthy_bool", Help: "1 while the site answers with markup its engine reads.",
		}, []string{"site"}),
		State: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_scrape_site_state_info", Help: "1 for the site's current health state (ok, unreachable, markup_changed, mirror, throttled, blocked).",
		}, []string{"site", "state"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_scrape_last_success_timestamp_seconds", Help: "Unix time of the site's last good round.",
		}, []string{"site"}),
		Leases: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "threatwatch_scrape_leases_held_sites", Help: "Sites this process holds the lease of.",
		}),
		CrawlDelay: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_scrape_crawl_delay_seconds", Help: "The Crawl-delay the site's robots.txt asks of our User-Agent (0: none); requests to its host are spaced by at least this.",
		}, []string{"site"}),
		PostTimeSkew: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_scrape_post_time_skew_seconds", Help: "Published time of the newest new post of the site's last round with new posts, less the time it was read: hours off means the site's time_zone is wrong.",
		}, []string{"site"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Posts, m.Drops, m.Bytes, m.RoundSeconds, m.Healthy, m.State, m.LastSuccess, m.Leases, m.CrawlDelay, m.PostTimeSkew)
	}
	return m
}
