package scrapers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A robots.txt that answers 503 or 429 with a Retry-After is not asked for
// again before then: the host said when it could take a request. It used
// to be asked again after robotsRetry (10 minutes) whatever it said. A
// Retry-After sooner than robotsRetry, or none, keeps robotsRetry, and a
// long one is bounded by scrape.max_retry_after, as for pages.
func TestRobotsTxtRetryAfterIsHonoured(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		want       time.Duration
	}{
		{"503, forty minutes", http.StatusServiceUnavailable, "2400", 40 * time.Minute},
		{"429, an HTTP date in 50 minutes", http.StatusTooManyRequests, now.Add(50 * time.Minute).UTC().Format(http.TimeFormat), 50 * time.Minute},
		{"503, a minute: robotsRetry still", http.StatusServiceUnavailable, "60", robotsRetry},
		{"503, none", http.StatusServiceUnavailable, "", robotsRetry},
		{"503, a week: max_retry_after (1h)", http.StatusServiceUnavailable, "604800", time.Hour},
		{"503, garbage", http.StatusServiceUnavailable, "soon", robotsRetry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/robots.txt" {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(tc.status)
					return
				}
				_, _ = w.Write([]byte("ok"))
			}))
			t.Cleanup(srv.Close)
			f := testFetcher(t, nil)
			before := time.Now()
			if _, err := f.Get(context.Background(), srv.URL+"/public", Validators{}); fetchErrReason(err) != "robots" {
				t.Fatalf("robots.txt %d: %v, want a robots refusal", tc.status, err)
			}
			f.robotsMu.Lock()
			at := f.robotsRetryAt
			f.robotsMu.Unlock()
			if got := at.Sub(before); got < tc.want-2*time.Second || got > tc.want+2*time.Second {
				t.Errorf("robots.txt asked for again in %v, want %v", got.Round(time.Second), tc.want)
			}
			// Before then, nothing is asked: a second page is refused
			// without a request for the file.
			n := f.Requests.Load()
			if _, err := f.Get(context.Background(), srv.URL+"/other", Validators{}); fetchErrReason(err) != "robots" || f.Requests.Load() != n {
				t.Errorf("within the wait: %v, %d more requests", err, f.Requests.Load()-n)
			}
		})
	}
}
