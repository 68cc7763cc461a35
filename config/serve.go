package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// The console roles, from least to most trusted. Each role can do
// everything the ones before it can.
const (
	RoleViewer    = "viewer"
	RoleResponder = "responder"
	RoleAnalyst   = "analyst"
)

// Roles lists the roles in increasing order of trust.
var Roles = []string{RoleViewer, RoleResponder, RoleAnalyst}

// Serve configures the serve stage: the HTTP API and the dashboard
// (pipeline/api).
type Serve struct {
	// Listen is host:port of the API and dashboard; "" disables the server.
	Listen string `yaml:"listen"`
	// PublicURL is the address operators use (https://console.example.org);
	// it is used in links and as the only origin the dashboard trusts.
	PublicURL string `yaml:"public_url"`
	// ReplicaID names this replica. Every replica consumes the levels and
	// alerts topics in a consumer group of its own (serve-<replica_id>-…),
	// because each must see every update to push it to its own clients.
	// Default: the host name.
	ReplicaID string `yaml:"replica_id"`
	// TLS serves HTTPS with this certificate (empty: plain HTTP, for use
	// behind a TLS-terminating proxy).
	TLS ServeTLS `yaml:"tls"`
	// Tokens are bearer tokens, stored as SHA-256 hashes only. Create one
	// with `threatwatch serve --hash-token`.
	Tokens []ServeToken `yaml:"tokens"`
	// OIDC accepts JWTs from an OpenID Connect issuer.
	OIDC OIDC `yaml:"oidc"`
	// RateLimit bounds requests per token (or per user of a JWT).
	RateLimit ServeRateLimit `yaml:"rate_limit"`
	// MaxBodyBytes caps a request body; a larger one gets 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// TrustedProxies lists the reverse proxies (CIDRs, or single
	// addresses) in front of the console: an ingress, a load balancer, an
	// identity-aware proxy. Only for a request whose peer is one of them is
	// the client address read from X-Forwarded-For (the right-most hop that
	// is not itself a trusted proxy); any other peer is the client, whatever
	// it sends. The client address keys the failed-authentication limit.
	// Empty (the default): the peer address is always the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// CORSAllowedOrigins lists origins (scheme://host[:port]) that may call
	// the API from another site's pages. Empty (the default): none.
	CORSAllowedOrigins []string `yaml:"cors_allowed_origins"`
	// Retention bounds what the read model keeps in Redis.
	Retention ServeRetention `yaml:"retention"`
	// SSE tunes the live-update stream.
	SSE ServeSSE `yaml:"sse"`
	// Feed tunes the check that tells dashboards their data is not current
	// (Kafka unreachable, or a stage upstream stalled).
	Feed ServeFeed `yaml:"feed"`
	// MountOps also serves /metrics, /healthz and /readyz on the API
	// listener (they are always on http.listen).
	MountOps bool `yaml:"mount_ops"`

	// off records a listen key given as "" in the file, so that filling
	// the defaults does not turn the disabled console back on.
	off bool
}

// ServeTLS names the server certificate.
type ServeTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// ServeToken is one bearer token, known to the server only by its hash.
type ServeToken struct {
	// Name identifies the token's holder in the audit log ("wall-screen",
	// "oncall-bot"); never the token itself.
	Name string `yaml:"name"`
	// SHA256 is the lower-case hex SHA-256 of the token.
	SHA256 string `yaml:"sha256"`
	// Role is viewer, responder or analyst.
	Role string `yaml:"role"`
}

// OIDC configures JWT bearer authentication against an OpenID Connect
// issuer. Tokens are verified with the issuer's published keys (RS256 or
// ES256), and iss, aud, exp and nbf are checked.
type OIDC struct {
	// Issuer is the issuer URL, exactly as it appears in the iss claim.
	// Empty: JWTs are not accepted.
	Issuer string `yaml:"issuer"`
	// Audience must appear in the aud claim.
	Audience string `yaml:"audience"`
	// JWKSURL is where the keys are published. Empty: read from the
	// issuer's /.well-known/openid-configuration.
	JWKSURL string `yaml:"jwks_url"`
	// RolesClaim names the claim holding the user's roles or groups (a
	// string or a list). Default "roles".
	RolesClaim string `yaml:"roles_claim"`
	// UserClaim names the claim recorded as "who" in the audit log.
	// Default "preferred_username" (falls back to "sub").
	UserClaim string `yaml:"user_claim"`
	// RoleMap maps a value of the roles claim to a console role. A value
	// that is itself a role name needs no entry. The highest role wins.
	RoleMap map[string]string `yaml:"role_map"`
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration `yaml:"leeway"`
	// KeysRefresh is how often the key set is re-read (it is also re-read,
	// at most every 30 s, when a token names an unknown key).
	KeysRefresh time.Duration `yaml:"keys_refresh"`
}

// ServeRateLimit is a token bucket per caller.
type ServeRateLimit struct {
	// PerSecond is the sustained request rate per token or user.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many requests may come at once.
	Burst int `yaml:"burst"`
	// FailedAuthPerMinute bounds failed authentications per client
	// address, so tokens cannot be guessed at speed.
	FailedAuthPerMinute int `yaml:"failed_auth_per_minute"`
}

// ServeRetention bounds the read model.
type ServeRetention struct {
	// Levels keeps level points at full resolution this long.
	Levels time.Duration `yaml:"levels"`
	// LevelsHourly keeps hourly rollups (max level, last baseline) this long.
	LevelsHourly time.Duration `yaml:"levels_hourly"`
	// Alerts keeps resolved alerts this long after they resolved (firing
	// alerts are always kept).
	Alerts time.Duration `yaml:"alerts"`
}

// ServeSSE tunes server-sent events.
type ServeSSE struct {
	// ClientBuffer is how many events may wait for one slow client before
	// it is disconnected (it reconnects and catches up with Last-Event-ID).
	ClientBuffer int `yaml:"client_buffer"`
	// Replay is how many recent events are kept for reconnecting clients.
	Replay int `yaml:"replay"`
	// Heartbeat is how often an idle stream gets a comment line, so proxies
	// keep it open.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// MaxClients bounds concurrent streams.
	MaxClients int `yaml:"max_clients"`
	// MaxClientsPerPrincipal bounds the concurrent streams of one token or
	// one OIDC user, so one caller (a leaked token, a wall screen that
	// reconnects without closing) cannot take every stream. A new stream
	// over the bound ends that caller's oldest one.
	MaxClientsPerPrincipal int `yaml:"max_clients_per_principal"`
	// MaxAge: updates older than this (catching up after a restart) go to
	// the read model but are not pushed as live events.
	MaxAge time.Duration `yaml:"max_age"`
}

// ServeFeed tunes the feed check.
type ServeFeed struct {
	// Check is how often the console checks that Kafka answers and that the
	// classify and aggregate stages make progress.
	Check time.Duration `yaml:"check"`
	// Stall is how long messages may wait for the classify or aggregate
	// stage without a commit before dashboards show the feed as behind.
	// Longer than a deploy or a rebalance takes.
	Stall time.Duration `yaml:"stall"`
}

func (c *Serve) setDefaults() {
	if !c.off {
		setDefault(&c.Listen, "127.0.0.1:8080")
	}
	if c.ReplicaID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "local"
		}
		c.ReplicaID = sanitizeReplica(h)
	}
	setDefault(&c.OIDC.RolesClaim, "roles")
	setDefault(&c.OIDC.UserClaim, "preferred_username")
	setDefault(&c.OIDC.Leeway, 30*time.Second)
	setDefault(&c.OIDC.KeysRefresh, time.Hour)
	setDefault(&c.RateLimit.PerSecond, 20.0)
	setDefault(&c.RateLimit.Burst, 60)
	setDefault(&c.RateLimit.FailedAuthPerMinute, 30)
	setDefault(&c.MaxBodyBytes, 64<<10)
	setDefault(&c.Retention.Levels, 7*24*time.Hour)
	setDefault(&c.Retention.LevelsHourly, 400*24*time.Hour)
	setDefault(&c.Retention.Alerts, 400*24*time.Hour)
	setDefault(&c.SSE.ClientBuffer, 256)
	setDefault(&c.SSE.Replay, 1024)
	setDefault(&c.SSE.Heartbeat, 15*time.Second)
	setDefault(&c.SSE.MaxClients, 5000)
	setDefault(&c.SSE.MaxClientsPerPrincipal, 20)
	setDefault(&c.SSE.MaxAge, 5*time.Minute)
	setDefault(&c.Feed.Check, 10*time.Second)
	setDefault(&c.Feed.Stall, 5*time.Minute)
}

// sanitizeReplica keeps a host name usable inside a consumer group id.
func sanitizeReplica(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// validRole reports whether s is a console role.
func validRole(s string) bool {
	for _, r := range Roles {
		if r == s {
			return true
		}
	}
	return false
}

func (c *Serve) validate(path string) error {
	var p Problems
	validateListen(&p, path+".listen", c.Listen)
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.Addf(path+".public_url", ErrInvalidEnum, "%q is not an http(s) URL", c.PublicURL)
		}
	}
	if c.ReplicaID == "" || sanitizeReplica(c.ReplicaID) != c.ReplicaID {
		p.Addf(path+".replica_id", ErrInvalidEnum, "%q: want lower-case letters, digits, '-', '.', '_'", c.ReplicaID)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.Add(path+".tls.key_file", ErrRequired, "cert_file and key_file go together")
	}
	for name, f := range map[string]string{"cert_file": c.TLS.CertFile, "key_file": c.TLS.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			p.Addf(path+".tls."+name, ErrFile, "%v", err)
		}
	}
	names := map[string]bool{}
	hashes := map[string]string{}
	for i, t := range c.Tokens {
		tp := fmt.Sprintf("%s.tokens[%d]", path, i)
		if t.Name == "" {
			p.Add(tp+".name", ErrRequired, "")
		} else if names[t.Name] {
			p.Addf(tp+".name", ErrInvalidEnum, "%q is used by another token", t.Name)
		}
		names[t.Name] = true
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 || strings.ToLower(t.SHA256) != t.SHA256 {
			p.Add(tp+".sha256", ErrInvalidEnum, "want 64 lower-case hex digits (threatwatch serve --hash-token prints them)")
		} else if other, dup := hashes[t.SHA256]; dup {
			p.Addf(tp+".sha256", ErrInvalidEnum, "same token as %s", other)
		}
		hashes[t.SHA256] = tp
		if !validRole(t.Role) {
			p.Addf(tp+".role", ErrInvalidEnum, "%q, want viewer, responder or analyst", t.Role)
		}
	}
	o := c.OIDC
	if o.Issuer != "" {
		if !secureURL(o.Issuer) {
			p.Addf(path+".oidc.issuer", ErrInvalidEnum, "%q: want an https URL (http only on loopback)", o.Issuer)
		}
		if o.Audience == "" {
			p.Add(path+".oidc.audience", ErrRequired, "with an issuer")
		}
		if o.JWKSURL != "" && !secureURL(o.JWKSURL) {
			p.Addf(path+".oidc.jwks_url", ErrInvalidEnum, "%q: want an https URL (http only on loopback)", o.JWKSURL)
		}
		if o.RolesClaim == "" {
			p.Add(path+".oidc.roles_claim", ErrRequired, "")
		}
		for k, v := range o.RoleMap {
			if !validRole(v) {
				p.Addf(path+".oidc.role_map."+k, ErrInvalidEnum, "%q, want viewer, responder or analyst", v)
			}
		}
		if o.Leeway < 0 || o.Leeway > 10*time.Minute {
			p.Addf(path+".oidc.leeway", ErrOutOfRange, "%v, want 0..10m", o.Leeway)
		}
		if o.KeysRefresh < time.Minute {
			p.Addf(path+".oidc.keys_refresh", ErrOutOfRange, "%v, want >= 1m", o.KeysRefresh)
		}
	} else if o.Audience != "" || o.JWKSURL != "" {
		p.Add(path+".oidc.issuer", ErrRequired, "with an audience or jwks_url")
	}
	if c.RateLimit.PerSecond <= 0 || c.RateLimit.PerSecond > 100000 {
		p.Addf(path+".rate_limit.per_second", ErrOutOfRange, "%v, want 0 < x <= 100000", c.RateLimit.PerSecond)
	}
	if c.RateLimit.Burst < 1 {
		p.Addf(path+".rate_limit.burst", ErrOutOfRange, "%d, want >= 1", c.RateLimit.Burst)
	}
	if c.RateLimit.FailedAuthPerMinute < 1 {
		p.Addf(path+".rate_limit.failed_auth_per_minute", ErrOutOfRange, "%d, want >= 1", c.RateLimit.FailedAuthPerMinute)
	}
	if c.MaxBodyBytes < 1<<10 || c.MaxBodyBytes > 64<<20 {
		p.Addf(path+".max_body_bytes", ErrOutOfRange, "%d, want 1KiB..64MiB", c.MaxBodyBytes)
	}
	for i, o := range c.CORSAllowedOrigins {
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			p.Addf(fmt.Sprintf("%s.cors_allowed_origins[%d]", path, i), ErrInvalidEnum, "%q: want scheme://host[:port] (no wildcard)", o)
		}
	}
	for i, tp := range c.TrustedProxies {
		if _, err := ParseCIDROrIP(tp); err != nil {
			p.Addf(fmt.Sprintf("%s.trusted_proxies[%d]", path, i), ErrInvalidEnum, "%q: want a CIDR (10.0.0.0/8) or an address", tp)
		}
	}
	r := c.Retention
	if r.Levels < time.Hour {
		p.Addf(path+".retention.levels", ErrOutOfRange, "%v, want >= 1h", r.Levels)
	}
	if r.LevelsHourly < r.Levels {
		p.Addf(path+".retention.levels_hourly", ErrOutOfRange, "%v, want >= retention.levels", r.LevelsHourly)
	}
	if r.Alerts < time.Hour {
		p.Addf(path+".retention.alerts", ErrOutOfRange, "%v, want >= 1h", r.Alerts)
	}
	s := c.SSE
	if s.ClientBuffer < 1 || s.ClientBuffer > 1<<16 {
		p.Addf(path+".sse.client_buffer", ErrOutOfRange, "%d, want 1..65536", s.ClientBuffer)
	}
	if s.Replay < 0 || s.Replay > 1<<20 {
		p.Addf(path+".sse.replay", ErrOutOfRange, "%d, want 0..1048576", s.Replay)
	}
	if s.Heartbeat < time.Second {
		p.Addf(path+".sse.heartbeat", ErrOutOfRange, "%v, want >= 1s", s.Heartbeat)
	}
	if s.MaxClients < 1 {
		p.Addf(path+".sse.max_clients", ErrOutOfRange, "%d, want >= 1", s.MaxClients)
	}
	if s.MaxClientsPerPrincipal < 1 {
		p.Addf(path+".sse.max_clients_per_principal", ErrOutOfRange, "%d, want >= 1", s.MaxClientsPerPrincipal)
	}
	if s.MaxAge <= 0 {
		p.Addf(path+".sse.max_age", ErrOutOfRange, "%v, want > 0", s.MaxAge)
	}
	if f := c.Feed; f.Check < time.Second {
		p.Addf(path+".feed.check", ErrOutOfRange, "%v, want >= 1s", f.Check)
	} else if f.Stall < 2*f.Check {
		p.Addf(path+".feed.stall", ErrOutOfRange, "%v, want >= 2 x feed.check (%v)", f.Stall, 2*f.Check)
	}
	return p.Err()
}

// ParseCIDROrIP parses a CIDR, or a single address as the network of
// just that address.
func ParseCIDROrIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// AuthConfigured reports whether any way to authenticate is configured.
// Without one the API refuses every request (the dashboard still loads).
func (c *Serve) AuthConfigured() bool { return len(c.Tokens) > 0 || c.OIDC.Issuer != "" }

// secureURL accepts https URLs, and http URLs on a loopback host (for a
// local identity provider and tests).
func secureURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	if u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
