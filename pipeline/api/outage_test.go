package api

import (
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/obs/obstest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// While Redis is away, the endpoints that read or write it answer 503 with
// a Retry-After and a message naming the store, not "internal error"; once
// it is back they answer again.
func TestRedisAwayIsAServiceUnavailableNotAnInternalError(t *testing.T) {
	if os.Getenv(redistest.EnvURL) != "" {
		t.Skip("cannot stop an external Redis")
	}
	srvRedis := redistest.Start(t)
	st := redistest.Connect(t, srvRedis)
	var logs obstest.Buffer
	h := newHarnessOn(t, st, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	l := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-a", "signal": "threat", "severity": "warning"}
	fp := msg.Fingerprint(l, h.now)
	h.alert(msg.Alert{Labels: l, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: h.now, EventTime: h.now})

	calls := []struct{ method, path, role string }{
		{"GET", "/api/v1/alerts", config.RoleViewer},
		{"GET", "/api/v1/alerts/" + fp, config.RoleViewer},
		{"GET", "/api/v1/silences", config.RoleViewer},
		{"GET", "/api/v1/audit", config.RoleResponder},
		{"POST", "/api/v1/alerts/" + fp + "/ack", config.RoleResponder},
	}
	for _, c := range calls {
		if code, b, _ := h.do(c.method, c.path, c.role, nil); code != http.StatusOK {
			t.Fatalf("%s %s with Redis up: %d %s", c.method, c.path, code, b)
		}
	}
	srvRedis.Stop()
	for _, c := range calls {
		code, b, hdr := h.do(c.method, c.path, c.role, nil)
		if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(string(b), "Redis") {
			t.Errorf("%s %s with Redis away: %d, Retry-After %q, %s; want 503 naming Redis with a Retry-After", c.method, c.path, code, hdr.Get("Retry-After"), b)
		}
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") || !strings.Contains(out, "state store is unavailable") {
		t.Errorf("the outage was logged as an error, or not at all:\n%s", out)
	}
	srvRedis.Restart(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, b, _ := h.do("GET", "/api/v1/silences", config.RoleViewer, nil)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis came back: %d %s", code, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
