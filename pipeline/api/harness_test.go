package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Tokens of the test principals, one per role.
var testTokens = map[string]string{
	config.RoleViewer:    "viewer-token-0123456789abcdef",
	config.RoleResponder: "responder-token-0123456789abcdef",
	config.RoleAnalyst:   "analyst-token-0123456789abcdef",
}

// Personal data planted in the test data. No viewer response may hold any
// of it.
var plantedPII = []string{
	"12 Maple Street", "555-867-5309", "+1 415 555 0199", "victim@example.com",
	"Clara Sorrenti", "clara sorrenti", "clara-sorrenti", "203.0.113.77",
}

type harness struct {
	t     testing.TB
	srv   *Server
	ts    *httptest.Server
	store *store.Store
	state *alertstate.State
	now   time.Time
}

func testServeConfig() config.Serve {
	c := config.Default().Serve
	c.ReplicaID = "test"
	c.RateLimit.PerSecond, c.RateLimit.Burst = 10000, 10000
	for _, role := range config.Roles {
		c.Tokens = append(c.Tokens, config.ServeToken{Name: role + "-user", Role: role, SHA256: HashToken(testTokens[role])})
	}
	return c
}

func newHarness(t testing.TB, mut func(*config.Serve)) *harness {
	t.Helper()
	return newHarnessOn(t, redistest.New(t), slog.New(slog.DiscardHandler), mut)
}

// newHarnessOn is newHarness on a given store, logging to log.
func newHarnessOn(t testing.TB, st *store.Store, log *slog.Logger, mut func(*config.Serve)) *harness {
	t.Helper()
	c := testServeConfig()
	if mut != nil {
		mut(&c)
	}
	h := &harness{t: t, store: st, state: alertstate.New(st), now: time.Now().UTC().Truncate(time.Minute)}
	srv, err := New(Options{Config: c, Store: st, State: h.state, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(h.ts.Close)
	t.Cleanup(srv.hub.Close)
	return h
}

// do sends a request as role ("" for none) and returns status, body and headers.
func (h *harness) do(method, path, role string, body any) (int, []byte, http.Header) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+testTokens[role])
	}
	res, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

// getJSON fetches path as role, wants 200 and decodes into v.
func (h *harness) getJSON(path, role string, v any) {
	h.t.Helper()
	code, b, _ := h.do("GET", path, role, nil)
	if code != http.StatusOK {
		h.t.Fatalf("GET %s as %s: %d %s", path, role, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
}

func (h *harness) level(l msg.Level) {
	h.t.Helper()
	l.Schema = msg.SchemaLevel
	if _, err := h.srv.HandleLevel(context.Background(), &l, pipeline.Meta{Time: time.Now()}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) alert(a msg.Alert) {
	h.t.Helper()
	a.Schema = msg.SchemaAlert
	if _, err := h.srv.HandleAlert(context.Background(), &a, pipeline.Meta{Time: time.Now()}); err != nil {
		h.t.Fatal(err)
	}
}

// piiEvidence is evidence full of the planted personal data.
func piiEvidence(at time.Time) []msg.Contributor {
	return []msg.Contributor{
		{PostID: "forum-a:01", URL: "https://forum-a.example/t/clara-sorrenti-lives-at-12-maple-street", ThreadID: "clara-sorrenti",
			Thread: "Clara Sorrenti dox thread", Snippet: "she lives at 12 Maple Street, call 555-867-5309 or victim@example.com",
			Scores: map[msg.Signal]float64{msg.SignalDoxxing: 0.93}, At: at, Weight: 0.93},
		{PostID: "forum-a:02", URL: "https://forum-a.example/t/2", Thread: "swat her", Snippet: "send them to 12 Maple Street, +1 415 555 0199, her IP 203.0.113.77",
			Scores: map[msg.Signal]float64{msg.SignalSwatting: 0.81}, At: at, Weight: 0.81},
	}
}

// seed fills the read model: two sites, a target, a firing and a resolved
// alert, all carrying planted personal data where the pipeline could let
// it slip.
func (h *harness) seed() (firing, resolved string) {
	h.t.Helper()
	now := h.now
	for i := 0; i < 90; i++ {
		t := now.Add(-time.Duration(90-i) * time.Minute)
		h.level(msg.Level{Site: "forum-a", Time: t, Level: float64(i % 10), Baseline: 2, Name: "normal", Posts: i})
	}
	h.level(msg.Level{Site: "forum-a", Time: now, Level: 14, Baseline: 2, Score: 6, Name: "severe", Posts: 30,
		Signals: map[msg.Signal]float64{msg.SignalDoxxing: 9, msg.SignalSwatting: 5}, Contributors: piiEvidence(now)})
	h.level(msg.Level{Site: "forum-b", Time: now, Level: 1, Baseline: 1, Name: "normal", Stale: true})
	h.level(msg.Level{Site: "forum-a", Target: "clara sorrenti", Time: now, Level: 9, Baseline: 0.5, Name: "high", Contributors: piiEvidence(now)})
	labels := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-a", "signal": "doxxing", "severity": "critical", "target": "clara sorrenti", "note": "ask victim@example.com"}
	start := now.Add(-10 * time.Minute)
	firing = msg.Fingerprint(labels, start)
	h.alert(msg.Alert{Labels: labels, Fingerprint: firing, Status: msg.StatusFiring, StartsAt: start, EventTime: start,
		Annotations: map[string]string{"summary": "Clara Sorrenti doxxed at 12 Maple Street", "description": "call 555-867-5309", "level": "14.00"},
		Level:       14, Baseline: 2, Signals: map[msg.Signal]float64{msg.SignalDoxxing: 9}, Evidence: piiEvidence(now)})
	l2 := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-b", "signal": "threat", "severity": "warning"}
	s2 := now.Add(-3 * time.Hour)
	resolved = msg.Fingerprint(l2, s2)
	h.alert(msg.Alert{Labels: l2, Fingerprint: resolved, Status: msg.StatusFiring, StartsAt: s2, EventTime: s2, Level: 5, Baseline: 1})
	h.alert(msg.Alert{Labels: l2, Fingerprint: resolved, Status: msg.StatusResolved, StartsAt: s2, EventTime: s2.Add(time.Hour), EndsAt: s2.Add(time.Hour), Level: 1, Baseline: 1})
	return firing, resolved
}

func containsPII(b []byte) string {
	low := strings.ToLower(string(b))
	for _, p := range plantedPII {
		if strings.Contains(low, strings.ToLower(p)) {
			return p
		}
	}
	return ""
}
