package obs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReadyzFailsOnChecksAndOnlyReportsInfos(t *testing.T) {
	down := func(context.Context) error { return errors.New("connection refused") }
	up := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name  string
		setup func(*Server)
		code  int
		body  []string
	}{
		{"all up", func(s *Server) { s.AddCheck("redis", up); s.AddCheck("kafka", up) }, 200, []string{`"kafka":"ok"`, `"redis":"ok"`}},
		{"a check down", func(s *Server) { s.AddCheck("redis", up); s.AddCheck("kafka", down) }, 503, []string{`"kafka":"connection refused"`}},
		{"an info down", func(s *Server) { s.AddCheck("redis", up); s.AddInfo("kafka", down) }, 200, []string{`"kafka":"connection refused (not required for readiness)"`, `"redis":"ok"`}},
		{"a check made an info", func(s *Server) { s.AddCheck("kafka", down); s.AddInfo("kafka", down) }, 200, []string{"not required"}},
		{"an info made a check", func(s *Server) { s.AddInfo("kafka", down); s.AddCheck("kafka", down) }, 503, []string{`"kafka":"connection refused"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(slog.New(slog.DiscardHandler))
			tc.setup(s)
			rec := httptest.NewRecorder()
			s.Mux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			b, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, b)
			}
			for _, w := range tc.body {
				if !strings.Contains(string(b), w) {
					t.Errorf("body %s lacks %s", b, w)
				}
			}
		})
	}
}

// A broker whose address blackholes packets (its node is gone) makes the
// Kafka check hang until the probe's deadline. Redis still answers, and a
// serve-only process must stay ready then; each check gets its own time,
// not what a hung one left over.
func TestReadyzAHungCheckDoesNotFailTheOthers(t *testing.T) {
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	redis := func(ctx context.Context) error { return ctx.Err() } // go-redis fails at once on a spent context
	for _, tc := range []struct {
		name  string
		setup func(*Server)
		code  int
		body  []string
	}{
		{"a hung info beside a check that answers", func(s *Server) { s.AddInfo("kafka", hang); s.AddCheck("redis", redis) }, 200, []string{`"redis":"ok"`, `(not required for readiness)`}},
		{"a hung check beside a check that answers", func(s *Server) { s.AddCheck("kafka", hang); s.AddCheck("redis", redis) }, 503, []string{`"redis":"ok"`, `"kafka":"context deadline exceeded"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(slog.New(slog.DiscardHandler))
			tc.setup(s)
			rec := httptest.NewRecorder()
			start := time.Now()
			s.Mux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			took := time.Since(start)
			b, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, b)
			}
			for _, w := range tc.body {
				if !strings.Contains(string(b), w) {
					t.Errorf("body %s lacks %s", b, w)
				}
			}
			// The Deployments give the probe 5 s.
			if took > 4*time.Second {
				t.Errorf("answered in %v", took)
			}
		})
	}
}
