// Package obs serves what every long-running ThreatWatch process exposes:
// Prometheus /metrics, /healthz (the process is alive) and /readyz (its
// dependencies answer).
package obs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is ready.
type Check func(ctx context.Context) error

// Server is the operational HTTP server.
type Server struct {
	Registry *prometheus.Registry
	mu       sync.Mutex
	checks   map[string]check
	mux      *http.ServeMux
	log      *slog.Logger
}

// New returns a server with a fresh registry holding the Go and process
// collectors.
func New(log *slog.Logger) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{Registry: reg, checks: map[string]check{}, mux: http.NewServeMux(), log: log}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	return s
}

// Mux lets a process add its own handlers (the API server does).
func (s *Server) Mux() *http.ServeMux { return s.mux }

// check is a registered dependency check; an optional one is reported but
// does not make the process unready.
type check struct {
	f        Check
	optional bool
}

// AddCheck registers a readiness check.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check{f: c}
}

// AddInfo registers a check that /readyz reports but that does not make
// the process unready: a dependency the process can serve without.
func (s *Server) AddInfo(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check{f: c, optional: true}
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	checks := make(map[string]check, len(s.checks))
	for n, c := range s.checks {
		names, checks[n] = append(names, n), c
	}
	s.mu.Unlock()
	sort.Strings(names)
	// Checks run side by side, each with the whole budget: one after the
	// other, a dependency that hangs (a broker whose node is gone
	// blackholes the dial) spent the others' time too, so Redis was
	// reported down beside it and a serve-only process, which needs only
	// Redis, went unready during a Kafka outage.
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = checks[n].f(ctx)
		}()
	}
	wg.Wait()
	res := map[string]string{}
	ok := true
	for i, n := range names {
		switch err := errs[i]; {
		case err == nil:
			res[n] = "ok"
		case checks[n].optional:
			res[n] = err.Error() + " (not required for readiness)"
		default:
			res[n] = err.Error()
			ok = false
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(res)
}

// Serve listens on addr until ctx ends. An empty addr serves nothing.
func (s *Server) Serve(ctx context.Context, addr string) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx ends.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	s.log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
