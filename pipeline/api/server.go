package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Options are what a Server needs.
type Options struct {
	Config config.Serve
	Store  *store.Store
	// State holds acks, silences, resolve requests and the audit log; nil:
	// a State on Store.
	State *alertstate.State
	// Registerer takes the API's metrics (nil: not registered).
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Redact replaces personal data with typed placeholders for every role
	// but analyst. Nil: FallbackRedact.
	Redact Redactor
	// Ops, when set and Config.MountOps is on, serves /metrics, /healthz
	// and /readyz on the API listener too.
	Ops http.Handler
	// HTTPClient fetches the OIDC key set (nil: a client with a timeout).
	HTTPClient *http.Client
	// Scraper reports scraper health per site (nil: levels only).
	Scraper HealthSource
	// FeedCheck is how often Run checks that the stream answers and the
	// stages upstream make progress (0: 10s).
	FeedCheck time.Duration
	// FeedStall is how long an upstream stage may have work waiting
	// without committing any before the feed is called behind (0: 5m).
	FeedStall time.Duration
}

// HealthSource reports what the scrapers know of a site: last successful
// fetch, last post seen, markup or mirror changes. Values must hold no
// personal data.
type HealthSource interface {
	SiteHealth(ctx context.Context, sites []string) (map[string]map[string]string, error)
}

// Server is the console: API, live updates and dashboard.
type Server struct {
	cfg     config.Serve
	model   *ReadModel
	state   *alertstate.State
	hub     *Hub
	auth    *Authenticator
	log     *slog.Logger
	red     Redactor
	limit   *limiter
	authLim *limiter
	ops     http.Handler
	scraper HealthSource
	store   *store.Store
	handler http.Handler
	now     func() time.Time
	metrics *apiMetrics
	bodyMu  sync.Mutex
	bodies  map[string]cachedBody
	silMu   sync.Mutex
	silAt   time.Time
	sils    []alertstate.Silence
	feed    feedState
	feedInt time.Duration
	stall   time.Duration
	// writeTimeout bounds writing a response; a live stream or an export
	// instead bounds each of its writes.
	writeTimeout time.Duration
	proxies      []netip.Prefix
	// origins are serve.cors_allowed_origins in canonical form.
	origins []string
}

type apiMetrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	authFail    *prometheus.CounterVec
	rateLimited prometheus.Counter
	applied     *prometheus.CounterVec
}

func newAPIMetrics(reg prometheus.Registerer) *apiMetrics {
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_api_requests_total", Help: "API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "threatwatch_api_request_duration_seconds", Help: "API request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 10),
		}, []string{"route"}),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_api_auth_failures_total", Help: "Refused authentications, by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "threatwatch_api_rate_limited_total", Help: "Requests refused by the per-token rate limit.",
		}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_api_readmodel_updates_total", Help: "Updates applied to the read model, by kind and outcome (current, late, restored: read back from the topic after Redis lost the read model; failed: a level that could not be stored, logged with its offset).",
		}, []string{"kind", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.authFail, m.rateLimited, m.applied)
	}
	return m
}

// New builds a server. It does not listen; use Handler or Serve.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("api: a store is required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Redact == nil {
		o.Redact = FallbackRedact
	}
	if o.State == nil {
		o.State = alertstate.New(o.Store)
	}
	c := o.Config
	var jv *JWTVerifier
	if c.OIDC.Issuer != "" {
		jv = NewJWTVerifier(c.OIDC, o.HTTPClient, o.Log)
	}
	auth, err := NewAuthenticator(c, jv)
	if err != nil {
		return nil, err
	}
	var proxies []netip.Prefix
	for _, tp := range c.TrustedProxies {
		p, err := config.ParseCIDROrIP(tp)
		if err != nil {
			return nil, fmt.Errorf("serve.trusted_proxies: %q: %w", tp, err)
		}
		proxies = append(proxies, p)
	}
	var origins []string
	for _, listed := range c.CORSAllowedOrigins {
		co, ok := canonicalOrigin(listed)
		if !ok {
			// No browser sends such an Origin: it can never match.
			o.Log.Warn("serve.cors_allowed_origins: not an origin (want scheme://host[:port]); ignored", "origin", listed)
			continue
		}
		origins = append(origins, co)
	}
	s := &Server{
		cfg: c, store: o.Store, state: o.State, auth: auth, log: o.Log, red: o.Redact,
		model:   NewReadModel(o.Store, c.Retention.Levels, c.Retention.LevelsHourly, c.Retention.Alerts),
		hub:     NewHub(c.SSE.ClientBuffer, c.SSE.Replay, c.SSE.MaxClients, o.Registerer),
		limit:   newLimiter(c.RateLimit.PerSecond, c.RateLimit.Burst),
		authLim: newLimiter(float64(c.RateLimit.FailedAuthPerMinute)/60, c.RateLimit.FailedAuthPerMinute),
		ops:     o.Ops, scraper: o.Scraper, now: time.Now,
		metrics: newAPIMetrics(o.Registerer),
		feedInt: o.FeedCheck,
		stall:   o.FeedStall,

		writeTimeout: 60 * time.Second, proxies: proxies, origins: origins,
	}
	if s.feedInt <= 0 {
		s.feedInt = 10 * time.Second
	}
	if s.stall <= 0 {
		s.stall = 5 * time.Minute
	}
	s.hub.LimitPerCaller(c.SSE.MaxClientsPerPrincipal)
	// Live until a check says otherwise: the stages wait for the stream
	// before the console starts.
	s.feed.cur = FeedEvent{State: FeedLive, Since: s.now().UTC()}
	if !c.AuthConfigured() {
		s.log.Warn("no serve.tokens or serve.oidc configured: the API refuses every request; create a token with `threatwatch serve --hash-token`")
	}
	s.handler = s.routes()
	return s, nil
}

// Model returns the read model (the serve stages write into it).
func (s *Server) Model() *ReadModel { return s.model }

// Hub returns the live-update hub.
func (s *Server) Hub() *Hub { return s.hub }

// Handler returns the HTTP handler of the whole console.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: live streams are long. Every other response
		// gets a write deadline from the handler chain.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 32 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("serve.tls: cannot load certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.log.Info("serving the console", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		s.hub.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

// ---- plumbing ----

type ctxKey int

const principalKey ctxKey = 1

func principalOf(r *http.Request) *Principal {
	p, _ := r.Context().Value(principalKey).(*Principal)
	return p
}

// statusWriter records the status for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// csp allows only the console's own scripts, styles and connections: no
// inline script or style, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ServeHTTP-level wrapper: security headers, CORS, metrics, deadlines.
func (s *Server) outer(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !s.corsAllowed(origin) {
				if r.Method == http.MethodOptions {
					http.Error(w, "origin not allowed", http.StatusForbidden)
					return
				}
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Expose-Headers", exposedHeaders)
				h.Add("Vary", "Origin")
				if r.Method == http.MethodOptions {
					h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
					h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
					h.Set("Access-Control-Max-Age", "600")
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
		}
		if r.URL.Path != "/api/v1/events" {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.writeTimeout))
		}
		sw := &statusWriter{ResponseWriter: w}
		mux.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) corsAllowed(origin string) bool {
	o, ok := canonicalOrigin(origin)
	return ok && slices.Contains(s.origins, o)
}

// canonicalOrigin is scheme://host[:port] as a browser sends it in
// Origin: scheme and host in lower case, no default port, no path. A
// listed origin spelled otherwise (SOC.example.org, :443, a trailing
// slash) is the same origin and must match.
func canonicalOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host, true
}

// exposedHeaders are the response headers a page on a listed origin may
// read besides the CORS-safelisted ones: those the API documents.
const exposedHeaders = "Retry-After, Content-Disposition, X-Export-Max, X-Export-Count, X-Export-Truncated"

// clientIP is the address the failed-authentication limit counts. It is
// the peer address, unless the peer is a trusted proxy (serve.
// trusted_proxies): then it is the right-most X-Forwarded-For hop that is
// not itself a trusted proxy. Hops to its left were written by the client
// and prove nothing; so is the header of a peer that is not trusted.
func (s *Server) clientIP(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		h, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return h
	}
	client := ap.Addr().Unmap()
	if !s.trustedProxy(client) {
		return client.String()
	}
	// Several header lines are one list, in order.
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(strings.TrimSpace(hops[i]))
		if err != nil {
			// Not an address: what is left of it cannot be trusted either;
			// count the nearest proxy that wrote one.
			break
		}
		client = a
		if !s.trustedProxy(a) {
			break
		}
	}
	return client.String()
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port (some proxies add it).
func parseHop(h string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap(), nil
	}
	ap, err := netip.ParseAddrPort(h)
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// api wraps an API handler: authentication, the per-token rate limit, the
// role check, the body limit and JSON error replies.
func (s *Server) api(role string, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ip := s.clientIP(r)
		if !s.authLim.peek("ip:" + ip) {
			s.metrics.authFail.WithLabelValues("throttled").Inc()
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, "too many failed authentications from this address")
			return
		}
		p, err := s.auth.Authenticate(r.Context(), r)
		if err != nil {
			code, reason := http.StatusUnauthorized, "invalid"
			switch {
			case errors.Is(err, ErrNoRole):
				code, reason = http.StatusForbidden, "no_role"
			case errors.Is(err, ErrNoCredentials):
				reason = "missing"
			case errors.Is(err, ErrNoAuth):
				reason = "not_configured"
			}
			if reason == "invalid" || reason == "no_role" {
				s.authLim.allow("ip:" + ip)
			}
			s.metrics.authFail.WithLabelValues(reason).Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="threatwatch"`)
			// The reason is safe to show: it never echoes the credential.
			writeError(w, code, err.Error())
			return
		}
		if ok, wait := s.limit.allow(p.key); !ok {
			s.metrics.rateLimited.Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writeError(w, http.StatusTooManyRequests, "rate limit exceeded")
			return
		}
		if !p.Can(role) {
			writeError(w, http.StatusForbidden, "this needs the "+role+" role")
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey, p))
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// httpError is an error with a status and a message safe to show.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		writeError(w, he.code, he.msg)
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
	case errors.Is(err, ErrNotFound), errors.Is(err, alertstate.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, ErrRange), errors.Is(err, alertstate.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrTooManyClients):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case r.Context().Err() != nil:
		// The client went away; nothing to answer.
	case store.IsTransient(err):
		// Redis is away or failing over: say so, and when to ask again,
		// so the console shows an outage rather than a bug.
		s.log.Warn("request failed: the state store is unavailable", "route", r.Pattern, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the state store (Redis) is unavailable; try again shortly")
	default:
		s.log.Error("request failed", "route", r.Pattern, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the server log")
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// decodeBody reads a JSON body strictly.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("bad JSON body: %v", err)
	}
	// Anything but white space after the value is a second request the
	// caller meant to make, or a broken one: neither is half taken.
	var rest json.RawMessage
	switch err := dec.Decode(&rest); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
	}
	return badRequest("bad JSON body: want one JSON object, found data after it")
}
