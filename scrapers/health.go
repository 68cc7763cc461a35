package scrapers

import (
	"context"
	"errors"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Health states of a site.
const (
	// HealthOK: the site answers with markup its engine reads.
	HealthOK = "ok"
	// HealthUnreachable: no page could be read for scrape.stale_after.
	HealthUnreachable = "unreachable"
	// HealthMarkup: pages come back but the engine no longer recognizes
	// them (selectors match nothing where they used to).
	HealthMarkup = "markup_changed"
	// HealthMirror: the primary URL is not answering and a mirror is used.
	HealthMirror = "mirror"
	// HealthThrottled: the site asks to back off (429/503 Retry-After).
	HealthThrottled = "throttled"
	// HealthBlocked: the site answers with a bot challenge (Cloudflare,
	// DDoS-Guard) instead of its pages. Waiting does not help: it needs a
	// proxy the site lets through, cookies, or the site's permission.
	HealthBlocked = "blocked"
)

var healthStates = []string{HealthOK, HealthUnreachable, HealthMarkup, HealthMirror, HealthThrottled, HealthBlocked}

// Health is a site's scraping health, kept in Redis and turned into a
// stale Level so a dark site does not look like a calm one.
type Health struct {
	Site  string    `json:"site"`
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// LastSuccess is the end of the last round that read a page.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Base is the host in use (the primary, or a mirror).
	Base string `json:"base,omitempty"`
	// Failures counts consecutive rounds that read nothing.
	Failures int `json:"failures,omitempty"`
	// Reason is the last error, for operators (URLs, never post text).
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Stale reports whether the site's posts can no longer be trusted to
// arrive: its level must not read as calm.
func (h Health) Stale() bool {
	return h.State == HealthUnreachable || h.State == HealthMarkup || h.State == HealthBlocked
}

// Level is the Level-compatible health signal: the site's level with Stale
// set while its scraper cannot read it, named "scraper_<state>". Aggregator
// and API treat a stale level as "unknown", not as zero.
func (h Health) Level() *msg.Level {
	return &msg.Level{Schema: msg.SchemaLevel, Site: h.Site, Time: h.At, Name: "scraper_" + h.State, Stale: h.Stale()}
}

type healthTracker struct {
	c      *Crawler
	sink   HealthSink
	cur    Health
	loaded bool
}

func newHealthTracker(c *Crawler, sink HealthSink) *healthTracker {
	h := &healthTracker{c: c, sink: sink, cur: Health{Site: c.site.Name, State: HealthOK}}
	h.setGauges()
	return h
}

// Current returns the crawler's view of its site's health.
func (c *Crawler) Health() Health { return c.health.cur }

func (h *healthTracker) observe(ctx context.Context, r *round) {
	if !h.loaded {
		// Continue from the health another process (or this one before a
		// restart) recorded, so a site dark for hours is not "ok" again for
		// stale_after after each restart.
		h.loaded = true
		if prev, ok, err := ReadHealth(ctx, h.c.st.s, h.c.site.Name); err == nil && ok && prev.Site == h.cur.Site {
			h.cur = prev
			h.setGauges()
		}
	}
	now := h.c.now()
	next := h.cur
	next.At = now
	next.Base = r.base().Host
	var fe *FetchError
	switch {
	case r.markup != nil:
		next.State = HealthMarkup
		next.Reason = r.markup.Error()
		if r.reached > 0 {
			next.LastSuccess, next.Failures = now, 0
		}
	case r.reached > 0:
		next.LastSuccess, next.Failures, next.Reason = now, 0, ""
		next.State = HealthOK
		if r.meta.Base != 0 {
			next.State = HealthMirror
		}
	case len(r.fetchErrs) > 0:
		next.Failures++
		next.Reason = r.fetchErrs[0].Error()
		throttled := errors.As(r.fetchErrs[0], &fe) && fe.Reason == "throttled"
		blocked := fe != nil && fe.Reason == "challenge"
		since := next.LastSuccess
		if since.IsZero() {
			since = h.cur.Since
			if h.cur.State == HealthOK && h.cur.Failures == 0 {
				since = now
			}
		}
		switch {
		case blocked:
			// A round that read nothing but challenges: dark at once,
			// since no wait brings the pages back.
			next.State = HealthBlocked
		case now.Sub(since) >= h.c.cfg.StaleAfter:
			next.State = HealthUnreachable
		case throttled:
			next.State = HealthThrottled
		}
	}
	changed := next.State != h.cur.State
	if changed || next.Since.IsZero() {
		next.Since = now
	}
	h.cur = next
	h.setGauges()
	if changed {
		h.c.log.Warn("site health changed", "state", next.State, "reason", next.Reason)
	}
	_ = h.c.st.SetHealth(ctx, next)
	if h.sink != nil && (changed || next.Stale()) {
		if err := h.sink(ctx, next); err != nil {
			h.c.log.Warn("cannot publish site health", "err", err)
		}
	}
}

func (h *healthTracker) setGauges() {
	m, site := h.c.m, h.c.site.Name
	for _, s := range healthStates {
		v := 0.0
		if s == h.cur.State {
			v = 1
		}
		m.State.WithLabelValues(site, s).Set(v)
	}
	healthy := 0.0
	if !h.cur.Stale() {
		healthy = 1
	}
	m.Healthy.WithLabelValues(site).Set(healthy)
	if !h.cur.LastSuccess.IsZero() {
		m.LastSuccess.WithLabelValues(site).Set(float64(h.cur.LastSuccess.Unix()))
	}
}
