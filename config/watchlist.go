package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Watchlist configures protected-person watchlists (classifiers/watchlist).
// The list itself lives in Redis as keyed hashes only; this section holds
// the keys those hashes are made with, which is why they are Secrets. With
// no keys the watchlist is off.
//
//	watchlist:
//	  keys:                       # oldest first; two during a rotation
//	    - id: k2026a
//	      secret: {file: /run/secrets/watchlist-k2026a}
//	  phone_regions: [US]
//
// A person's alerts are routed by the notify stage on the alert's target
// label (`threatwatch watchlist list` prints each person's), so no personal
// data is needed in the notify config either.
type Watchlist struct {
	// Keys are the HMAC-SHA256 keys, each at least 32 bytes, named by an id
	// stored beside the hashes it made. A list never written is hashed with
	// the last key; during a rotation both old and new are listed.
	Keys []WatchlistKey `yaml:"keys"`
	// PhoneRegions are the ISO 3166 regions tried, in order, for phone
	// numbers written without a country code (in posts, and in watchlist
	// files that name no region).
	PhoneRegions []string `yaml:"phone_regions"`
	// Refresh is how often the classify stage checks the list for changes.
	Refresh time.Duration `yaml:"refresh"`
	// Namespace is the Redis key namespace under redis.key_prefix.
	Namespace string `yaml:"namespace"`
}

// WatchlistKey is one HMAC key.
type WatchlistKey struct {
	// ID names the key in Redis and on the command line: 1-32 of a-z, 0-9,
	// '_' and '-'.
	ID     string `yaml:"id"`
	Secret Secret `yaml:"secret"`
}

// Enabled reports whether a watchlist is configured.
func (c Watchlist) Enabled() bool { return len(c.Keys) > 0 }

var (
	watchlistKeyID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	watchlistNS    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
)

func (c *Watchlist) setDefaults() {
	if len(c.PhoneRegions) == 0 {
		c.PhoneRegions = []string{"US"}
	}
	setDefault(&c.Refresh, 10*time.Second)
	setDefault(&c.Namespace, "wl")
}

func (c *Watchlist) validate(path string) error {
	var p Problems
	ids := map[string]int{}
	for i, k := range c.Keys {
		kp := fmt.Sprintf("%s.keys[%d]", path, i)
		if !watchlistKeyID.MatchString(k.ID) {
			p.Addf(kp+".id", ErrInvalidEnum, "%q, want 1-32 of a-z, 0-9, '_' and '-'", k.ID)
		}
		if j, dup := ids[k.ID]; dup {
			p.Addf(kp+".id", ErrInvalidEnum, "%q is also keys[%d]", k.ID, j)
		}
		ids[k.ID] = i
		switch {
		case !k.Secret.IsSet():
			p.Add(kp+".secret", ErrRequired, "")
		case len(k.Secret.Value()) < 32:
			p.Addf(kp+".secret", ErrOutOfRange, "%d bytes, want at least 32 (e.g. 32 random bytes, base64)", len(k.Secret.Value()))
		}
	}
	if len(c.Keys) > 2 {
		p.Addf(path+".keys", ErrOutOfRange, "%d keys, want at most 2 (old and new during a rotation)", len(c.Keys))
	}
	for i, r := range c.PhoneRegions {
		if phonenumbers.GetCountryCodeForRegion(strings.ToUpper(r)) == 0 {
			p.Addf(fmt.Sprintf("%s.phone_regions[%d]", path, i), ErrInvalidEnum, "%q is not a known region code", r)
		}
	}
	if c.Refresh < 100*time.Millisecond || c.Refresh > time.Hour {
		p.Addf(path+".refresh", ErrOutOfRange, "%s, want 100ms..1h", c.Refresh)
	}
	if !watchlistNS.MatchString(c.Namespace) {
		p.Addf(path+".namespace", ErrInvalidEnum, "%q, want 1-32 of A-Z, a-z, 0-9, '_' and '-'", c.Namespace)
	}
	return p.Err()
}
