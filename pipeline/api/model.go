// Package api is ThreatWatch's operations console: a JSON API over HTTP,
// live updates by server-sent events, and the dashboard, all served by
// `threatwatch serve`.
//
// The console keeps a read model in Redis, fed by its own stages on the
// levels and alerts topics: the current level of every site and target,
// level time series at full and hourly resolution, and every alert with
// its evidence. Acknowledgements, silences and the audit log live in
// pipeline/alertstate, shared with the notifier.
//
// Every response is shaped for the caller's role on the server: viewers
// get evidence fully redacted, responders get personal data replaced by
// typed placeholders, and only analysts get raw evidence, each access
// written to the audit log.
package api

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// SiteSummary is a site's current state as the wall view shows it.
type SiteSummary struct {
	Site string `json:"site"`
	// Time is the current level's; absent while the site is known only
	// from its scraper's health (a zero time would read as year 1).
	Time     time.Time              `json:"time,omitzero"`
	Level    float64                `json:"level"`
	Baseline float64                `json:"baseline"`
	Score    float64                `json:"score,omitempty"`
	Name     string                 `json:"name,omitempty"`
	Signals  map[msg.Signal]float64 `json:"signals,omitempty"`
	Posts    int                    `json:"posts,omitempty"`
	// Trend compares the level with the one an hour earlier: rising,
	// falling or steady.
	Trend  string `json:"trend,omitempty"`
	Firing int    `json:"firing"`
	Health Health `json:"health"`
	// Spark is the hourly maximum level over the requested window, one
	// value per hour from SparkFrom, null for an hour with no level (only
	// with ?spark=). Compact on purpose: a wall of 1,000 sites asks for it.
	Spark     []*float64 `json:"spark,omitempty"`
	SparkFrom time.Time  `json:"spark_from,omitzero"`
}

// Health is what the console knows of a site's scraper.
type Health struct {
	// Stale is set while the site is dark (its scraper reports it cannot
	// read it: unreachable, markup changed, blocked by a bot challenge) or
	// quiet; StaleReason says which.
	Stale bool `json:"stale"`
	// StaleReason is StaleScraper or StaleQuiet while Stale is set.
	StaleReason string `json:"stale_reason,omitempty"`
	// StaleSince is absent while the site is not stale. (omitempty never
	// leaves out a time.Time: the dashboard showed the zero as year 1.)
	StaleSince time.Time `json:"stale_since,omitzero"`
	// LastLive is the time of the latest level that was not stale; absent
	// for a site that has been stale since it was first seen.
	LastLive time.Time `json:"last_live,omitzero"`
	// Scraper holds what the scrapers report about the site, when they do.
	Scraper map[string]string `json:"scraper,omitempty"`
}

// The values of Health.StaleReason.
const (
	// StaleScraper: a scraper health signal says the site cannot be read,
	// so its level is not to be read as calm.
	StaleScraper = "scraper"
	// StaleQuiet: the latest level is stale in the aggregator's sense: no
	// post with a threat signal was counted in its last step, so the
	// level moved with the clock, not with new posts. A site crawled
	// without trouble is quiet most of the time (its ordinary posts weigh
	// nothing); its level is current.
	StaleQuiet = "quiet"
)

// SiteDetail is a site with its top contributing threads.
type SiteDetail struct {
	SiteSummary
	Contributors []msg.Contributor `json:"contributors,omitempty"`
}

// Point is one level point of a series.
type Point struct {
	T        time.Time `json:"t"`
	Level    float64   `json:"level"`
	Max      float64   `json:"max"`
	Baseline float64   `json:"baseline"`
	Name     string    `json:"name,omitempty"`
	Stale    bool      `json:"stale,omitempty"`
}

// Series is a level time series at a resolution.
type Series struct {
	Site   string    `json:"site,omitempty"`
	Target string    `json:"target,omitempty"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Step   string    `json:"step"`
	// Tier says which stored resolution answered: raw or hourly.
	Tier   string  `json:"tier"`
	Points []Point `json:"points"`
}

// AlertRecord is an alert as the read model keeps it: the latest message
// of its episode and when it was stored.
type AlertRecord struct {
	Alert   msg.Alert `json:"alert"`
	Updated time.Time `json:"updated"`
	// ResolvedAt is the resolution's event time.
	ResolvedAt time.Time `json:"resolved_at,omitempty"`
}

// TargetSiteLevel is a target's current level on one site.
type TargetSiteLevel struct {
	Site     string    `json:"site"`
	Time     time.Time `json:"time"`
	Level    float64   `json:"level"`
	Baseline float64   `json:"baseline"`
	Name     string    `json:"name,omitempty"`
	Stale    bool      `json:"stale,omitempty"`
}

// Target is a person or handle being discussed, across sites.
type Target struct {
	// ID is an opaque pseudonym derived from the ref: safe to show anyone.
	ID string `json:"id"`
	// Ref is the target as the pipeline keys it (possibly a name). It is
	// never encoded with the target: an analyst reads it only through the
	// audited ref call (GET /api/v1/targets/{id}/ref).
	Ref      string            `json:"-"`
	Updated  time.Time         `json:"updated"`
	MaxLevel float64           `json:"max_level"`
	Name     string            `json:"name,omitempty"`
	Sites    []TargetSiteLevel `json:"sites"`
	Firing   int               `json:"firing"`
}

// TargetID derives the pseudonymous id of a target ref the way the
// aggregator hashes its "target" label (pipeline/alert.TargetLabel), and
// returns a ref that already is such a hash unchanged, so levels and
// alerts of one target meet under one id whichever form they carry.
func TargetID(ref string) string {
	if ref == "" {
		return ""
	}
	if isTargetHash(ref) {
		return ref
	}
	h := sha256.Sum256([]byte("threatwatch-target\x00" + ref))
	return "tgt-" + hex.EncodeToString(h[:8])
}

func isTargetHash(s string) bool {
	if len(s) != 20 || s[:4] != "tgt-" {
		return false
	}
	_, err := hex.DecodeString(s[4:])
	return err == nil
}
