package api

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// stream is an open SSE connection read in the background.
type stream struct {
	mu     sync.Mutex
	buf    strings.Builder
	cancel context.CancelFunc
	done   chan struct{}
}

func (h *harness) openStream(role, lastID string) *stream {
	h.t.Helper()
	return openStream(h.t, h.ts.Client(), h.ts.URL, role, lastID)
}

// openStream opens /api/v1/events of the console at base as role.
func openStream(t testing.TB, client *http.Client, base, role, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+testTokens[role])
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &stream{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.mu.Lock()
			s.buf.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

func (s *stream) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the stream holds sub.
func (s *stream) waitFor(t *testing.T, sub string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if txt := s.text(); strings.Contains(txt, sub) {
			return txt
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stream never got %q; got:\n%s", sub, s.text())
	return ""
}

// collect waits briefly for in-flight frames and returns the text so far.
func (s *stream) collect(t *testing.T, d time.Duration) string {
	t.Helper()
	last, stable := "", 0
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && stable < 5 {
		txt := s.text()
		if txt == last {
			stable++
		} else {
			stable, last = 0, txt
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

func lastEventID(txt string) string {
	id := ""
	for _, l := range strings.Split(txt, "\n") {
		if v, ok := strings.CutPrefix(l, "id: "); ok {
			id = v
		}
	}
	return id
}

func TestLiveStreamDeliversLevelsAlertsAndActions(t *testing.T) {
	h := newHarness(t, nil)
	viewer := h.openStream(config.RoleViewer, "")
	analyst := h.openStream(config.RoleAnalyst, "")
	viewer.waitFor(t, "event: hello", 2*time.Second)
	analyst.waitFor(t, "event: hello", 2*time.Second)
	firing, _ := h.seed()
	viewer.waitFor(t, `"site":"forum-a","time"`, 2*time.Second)
	viewer.waitFor(t, `"fingerprint":"`+firing, 2*time.Second)
	if code, b, _ := h.do("POST", "/api/v1/alerts/"+firing+"/ack", config.RoleResponder, map[string]string{"note": "looking"}); code != 200 {
		t.Fatalf("ack: %d %s", code, b)
	}
	txt := viewer.waitFor(t, "event: action", 2*time.Second)
	if !strings.Contains(txt, `"action":"ack"`) || !strings.Contains(txt, `"by":"`+viewerSeesResponder+`"`) || strings.Contains(txt, "looking") {
		t.Fatalf("viewer's action frame: %s", txt)
	}
	// The analyst's frames carry the operator's note raw, and the alert's
	// own content as responders get it: raw only through the audited
	// evidence call.
	atxt := analyst.waitFor(t, `"note":"looking"`, 2*time.Second)
	if !strings.Contains(atxt, `"target":"`+TargetID("clara sorrenti")+`"`) || !strings.Contains(atxt, "[ADDRESS]") || strings.Contains(atxt, "clara sorrenti") {
		t.Fatalf("analyst's alert frame: want the target's pseudonym and placeholders: %s", atxt)
	}
	if strings.Contains(viewer.text(), "clara sorrenti") {
		t.Fatal("viewer's stream holds the raw target")
	}

	// A client reconnecting with Last-Event-ID gets exactly what it missed.
	id := lastEventID(viewer.text())
	h.level(msg.Level{Site: "forum-c", Time: h.now, Level: 3, Baseline: 1})
	again := h.openStream(config.RoleViewer, id)
	txt = again.waitFor(t, `"site":"forum-c"`, 2*time.Second)
	if strings.Contains(txt, `"site":"forum-a"`) || strings.Contains(txt, `"reset":true`) {
		t.Fatalf("replay after %s sent more than the missed event:\n%s", id, txt)
	}
	// An id from another server life asks the client to reload.
	stale := h.openStream(config.RoleViewer, "0123456789ab-5")
	stale.waitFor(t, `"reset":true`, 2*time.Second)
}

func TestTheHubDropsASlowClientWithoutBlocking(t *testing.T) {
	hub := NewHub(4, 16, 10, nil)
	slow, _, _, err := hub.Subscribe("")
	if err != nil {
		t.Fatal(err)
	}
	fast, _, _, _ := hub.Subscribe("")
	got := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range fast.C {
			got++
			if got == 100 {
				return
			}
		}
	}()
	start := time.Now()
	for i := 0; i < 100; i++ {
		if err := hub.Publish("level", map[string]int{"i": i}, nil, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("publishing took %v: blocked on the slow client?", d)
	}
	select {
	case <-slow.Gone:
	default:
		t.Fatal("the slow client was not dropped")
	}
	<-done
	if hub.Clients() != 1 {
		t.Fatalf("clients: %d, want 1", hub.Clients())
	}
	for i := 0; i < 9; i++ {
		if _, _, _, err := hub.Subscribe(""); err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
	}
	if _, _, _, err := hub.Subscribe(""); err != ErrTooManyClients {
		t.Fatalf("over the limit: %v", err)
	}
}
