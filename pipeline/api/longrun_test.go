package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// fakeClock is a clock shared by the server's handlers and a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestTheSitesCacheDoesNotGrowWithEverySparkWindow asks for the sites with
// many different sparkline windows, as a script or a viewer token can: the
// answers shared for a second must not stay in memory for good.
func TestTheSitesCacheDoesNotGrowWithEverySparkWindow(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	clk := &fakeClock{t: time.Now()}
	h.srv.now, h.srv.model.now = clk.now, clk.now
	for i := range 200 {
		path := fmt.Sprintf("/api/v1/sites?spark=%dm", 60+i)
		if code, b, _ := h.do("GET", path, config.RoleViewer, nil); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
	}
	// Every one of those answers is past its time to live now.
	clk.add(2 * SitesCacheTTL)
	if code, b, _ := h.do("GET", "/api/v1/sites?spark=48h", config.RoleViewer, nil); code != http.StatusOK {
		t.Fatalf("GET sites: %d %s", code, b)
	}
	h.srv.bodyMu.Lock()
	bodies := len(h.srv.bodies)
	h.srv.bodyMu.Unlock()
	h.srv.model.cache.mu.Lock()
	entries := len(h.srv.model.cache.entries)
	h.srv.model.cache.mu.Unlock()
	if bodies > 1 || entries > 1 {
		t.Fatalf("after 200 expired windows the caches hold %d encoded answers and %d site lists, want at most 1 each", bodies, entries)
	}
}

// TestALiveStreamEndsWhenItsTokenExpires opens the live stream with an
// OIDC token that expires shortly: the stream must not go on delivering
// updates to a caller whose credential is no longer valid (a user removed
// from the group, a wall screen whose token ran out).
func TestALiveStreamEndsWhenItsTokenExpires(t *testing.T) {
	is := newIssuer(t)
	h := newHarness(t, func(c *config.Serve) {
		c.OIDC = config.OIDC{Issuer: is.srv.URL, Audience: "threatwatch", RolesClaim: "groups", UserClaim: "preferred_username",
			RoleMap: map[string]string{"soc-responders": "responder"}, KeysRefresh: time.Hour}
	})
	exp := time.Now().Add(2 * time.Second)
	tok := is.sign(t, "RS256", "rsa-1", is.claims(func(c map[string]any) { c["exp"] = exp.Unix() }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", res.StatusCode)
	}
	ended := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := res.Body.Read(buf); err != nil {
				ended <- time.Now()
				return
			}
		}
	}()
	select {
	case at := <-ended:
		if at.Before(exp.Truncate(time.Second)) {
			t.Fatalf("the stream ended at %v, before the token expired at %v", at, exp)
		}
	case <-time.After(time.Until(exp) + 4*time.Second):
		t.Fatalf("the stream still delivers 4 s after its token expired")
	}
	// And the same token opens no new one.
	if code, _, _ := func() (int, []byte, http.Header) {
		req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, nil, nil
	}(); code != http.StatusUnauthorized {
		t.Fatalf("reconnecting with the expired token: %d, want 401", code)
	}
}

// TestAnAnalystReadsRawEvidenceOnlyThroughTheAuditedCall opens the views an
// analyst uses every day: none may hand out the raw evidence (snippets,
// thread titles, post URLs) without an evidence_view entry in the audit
// log, as the alert view does not.
func TestAnAnalystReadsRawEvidenceOnlyThroughTheAuditedCall(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	raw := []string{"12 Maple Street", "555-867-5309", "victim@example.com", "203.0.113.77", "https://forum-a.example/t/"}
	for _, path := range []string{"/api/v1/sites/forum-a", "/api/v1/sites/forum-a?spark=48h"} {
		code, body, _ := h.do("GET", path, config.RoleAnalyst, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		for _, p := range raw {
			if strings.Contains(string(body), p) {
				t.Errorf("GET %s as analyst holds raw evidence %q without an audit entry", path, p)
			}
		}
		var d struct {
			Site struct {
				Contributors []msg.Contributor `json:"contributors"`
			} `json:"site"`
			Redaction string `json:"redaction"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Site.Contributors) != 2 || d.Redaction != RedactPII || !strings.Contains(d.Site.Contributors[0].Snippet, "[ADDRESS]") {
			t.Errorf("GET %s as analyst: want the contributors with placeholders, as responders get them: %s", path, body)
		}
	}
	entries, _, err := h.state.Audit(t.Context(), alertstate.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == ActionEvidenceView {
			t.Fatalf("unexpected audit entry %+v", e)
		}
	}
}

// TestAnIssuerThatHangsDoesNotStallSignedInUsers lets the key set go stale
// while the issuer stops answering (a network partition drops the packets):
// callers whose token names a known key must be answered at once, not wait
// for the refresh to time out behind it.
func TestAnIssuerThatHangsDoesNotStallSignedInUsers(t *testing.T) {
	is := newIssuer(t)
	var hang atomic.Bool
	release := make(chan struct{})
	// The key set is published through a relay that, once hang is set,
	// answers nothing until the test ends.
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		res, err := http.Get(is.srv.URL + "/keys")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		_, _ = io.Copy(w, res.Body)
	}))
	t.Cleanup(relay.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the relay close
	h := newHarness(t, func(c *config.Serve) {
		c.OIDC = config.OIDC{Issuer: is.srv.URL, JWKSURL: relay.URL, Audience: "threatwatch", RolesClaim: "groups", UserClaim: "preferred_username",
			RoleMap: map[string]string{"soc-responders": "responder"}, KeysRefresh: time.Hour}
	})
	tok := is.sign(t, "RS256", "rsa-1", is.claims(nil))
	me := func() (int, time.Duration) {
		start := time.Now()
		req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, time.Since(start)
	}
	if code, _ := me(); code != http.StatusOK {
		t.Fatalf("first sign-in: %d", code)
	}
	// An hour later the key set is due for a refresh, and the issuer hangs.
	hang.Store(true)
	jv := h.srv.auth.jwt
	jv.mu.Lock()
	jv.fetched = jv.fetched.Add(-2 * time.Hour)
	jv.lastTry = time.Time{}
	jv.mu.Unlock()
	var wg sync.WaitGroup
	slow := make(chan string, 8)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			if code, took := me(); code != http.StatusOK || took > 2*time.Second {
				slow <- fmt.Sprintf("request %d: %d after %v", i, code, took.Round(100*time.Millisecond))
			}
		}()
	}
	wg.Wait()
	close(slow)
	for s := range slow {
		t.Errorf("a signed-in user waited for the hanging issuer: %s", s)
	}
}

// TestTokensUnderARotatedInKeyAtOnceAreAllAccepted sends a burst of
// requests, as the dashboard does on load, with a token signed by a key
// the verifier has not seen yet: all wait for the one read of the key set.
func TestTokensUnderARotatedInKeyAtOnceAreAllAccepted(t *testing.T) {
	is := newIssuer(t)
	h := newHarness(t, func(c *config.Serve) {
		c.OIDC = config.OIDC{Issuer: is.srv.URL, Audience: "threatwatch", RolesClaim: "groups", UserClaim: "preferred_username",
			RoleMap: map[string]string{"soc-responders": "responder"}, KeysRefresh: time.Hour}
	})
	me := func(tok string) int {
		req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := me(is.sign(t, "RS256", "rsa-1", is.claims(nil))); code != http.StatusOK {
		t.Fatalf("first sign-in: %d", code)
	}
	hits := is.jwksHits.Load()
	is.rotated.Store(true)
	jv := h.srv.auth.jwt
	jv.mu.Lock()
	jv.lastTry = time.Time{}
	jv.mu.Unlock()
	tok := is.sign(t, "RS256", "rsa-2", is.claims(nil))
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- me(tok)
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a request under the rotated-in key got %d, want 200", c)
		}
	}
	if n := is.jwksHits.Load() - hits; n != 1 {
		t.Errorf("the key set was read %d times, want 1", n)
	}
}
