package scrapers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// cfChallengePage is Cloudflare's challenge page, as its script names it.
const cfChallengePage = `<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"></script></body></html>`

// respond writes a test server's answer.
func respond(w http.ResponseWriter, status int, header map[string]string, body string) {
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func TestBotChallengesAreNamedNotWaitedOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		reason string
	}{
		{"Cloudflare's managed challenge", 403, map[string]string{"Cf-Mitigated": "challenge", "Server": "cloudflare"}, cfChallengePage, "challenge"},
		{"Cloudflare's older 503 challenge, with a Retry-After", 503, map[string]string{"Server": "cloudflare", "Retry-After": "5"}, cfChallengePage, "challenge"},
		{"DDoS-Guard", 403, map[string]string{"Server": "ddos-guard"}, `<html><head><title>DDoS-Guard</title></head><body>Checking your browser</body></html>`, "challenge"},
		{"a plain 403", 403, nil, "Forbidden", "http_4xx"},
		{"Cloudflare's page for a dead origin", 503, map[string]string{"Server": "cloudflare", "Retry-After": "5"}, "<title>Error 521: Web server is down</title>", "throttled"},
		{"a page that quotes a challenge", 200, map[string]string{"Server": "cloudflare"}, cfChallengePage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/robots.txt" {
					return
				}
				respond(w, tc.status, tc.header, tc.body)
			}))
			defer srv.Close()
			f := testFetcher(t, nil)
			_, err := f.Get(context.Background(), srv.URL+"/threads/1/", Validators{})
			if got := fetchErrReason(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
			if tc.reason == "challenge" {
				if !errors.Is(err, ErrChallenge) {
					t.Errorf("%v does not wrap ErrChallenge", err)
				}
				if until := f.lim.heldUntil(hostOf(t, srv.URL)); !until.IsZero() {
					t.Errorf("a challenge held the host until %v, as if it were a Retry-After", until)
				}
			}
		})
	}
}

// A site behind a challenge is dark at once, and says why; when its pages
// come back, so does its health.
func TestChallengedSiteIsBlockedAndStale(t *testing.T) {
	ts := newTestSite(t, "xenforo")
	h := newHarness(t, "xenforo", ts, nil)
	doRound(t, h)
	var got []Health
	h.c.health.sink = func(_ context.Context, hl Health) error { got = append(got, hl); return nil }
	ts.mu.Lock()
	ts.hook = challengeHook(http.StatusForbidden, "Cf-Mitigated", "challenge")
	ts.mu.Unlock()
	_, _ = h.c.Round(context.Background())
	hl := h.c.Health()
	if hl.State != HealthBlocked || !hl.Stale() || !strings.Contains(hl.Reason, "challenge") {
		t.Fatalf("health %+v, want blocked and stale after one challenged round", hl)
	}
	if len(got) == 0 || !got[len(got)-1].Level().Stale || got[len(got)-1].Level().Name != "scraper_blocked" {
		t.Fatalf("health signals %+v", got)
	}
	ts.mu.Lock()
	ts.hook = nil
	ts.mu.Unlock()
	h.c.now = func() time.Time { return time.Now().Add(time.Minute) }
	doRound(t, h)
	if s := h.c.Health().State; s != HealthOK {
		t.Fatalf("health %q after the pages came back", s)
	}
}

// A primary behind a challenge is left for a mirror that serves, as a
// primary that does not answer is.
func TestChallengedPrimaryMovesToItsMirror(t *testing.T) {
	mirror := newTestSite(t, "xenforo")
	primary := newTestSite(t, "xenforo")
	primary.hook = challengeHook(http.StatusServiceUnavailable, "Server", "cloudflare")
	h := newHarness(t, "xenforo", mirror, nil)
	site := h.cfg.Sites[0]
	site.URL, site.Mirrors = primary.URL+"/", []string{mirror.URL + "/"}
	h.cfg.Sites[0] = site
	h.build(site)
	doRound(t, h)
	if len(h.posts()) != 5 || h.c.Health().State != HealthMirror {
		t.Fatalf("posts %v, health %+v: want the mirror's 5 posts", ids(h.posts()), h.c.Health())
	}
}

// challengeHook answers every page of a test site (robots.txt aside) with
// a Cloudflare challenge: status, one header, and the challenge's title.
func challengeHook(status int, header, value string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/robots.txt" {
			return false
		}
		w.Header().Set(header, value)
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<title>Just a moment...</title>"))
		return true
	}
}
