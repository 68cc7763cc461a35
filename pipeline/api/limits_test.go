package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// A wall screen that reconnects in a loop without closing its streams, or
// a leaked viewer token, must not take every live stream: other callers
// still get theirs, and the caller's newest stream is the one it keeps.
func TestOneCallerCannotTakeEveryLiveStream(t *testing.T) {
	h := newHarness(t, func(c *config.Serve) { c.SSE.MaxClients = 25 })
	perCaller := config.Default().Serve.SSE.MaxClientsPerPrincipal
	open := func(role string) (int, *stream) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+testTokens[role])
		res, err := h.ts.Client().Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			cancel()
			return res.StatusCode, nil
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
		s.waitFor(t, "event: hello", 5*time.Second)
		return res.StatusCode, s
	}
	var viewer []*stream
	for i := range 30 {
		code, s := open(config.RoleViewer)
		if code != http.StatusOK {
			t.Fatalf("the viewer's stream %d: %d, want 200 (a caller's newest stream is served)", i+1, code)
		}
		viewer = append(viewer, s)
	}
	if code, _ := open(config.RoleResponder); code != http.StatusOK {
		t.Fatalf("the responder's stream: %d, want 200: one viewer token took every stream", code)
	}
	// The oldest streams were ended, with a reason, and the newest live on.
	select {
	case <-viewer[0].done:
	case <-time.After(5 * time.Second):
		t.Fatal("the viewer's oldest stream is still open")
	}
	if txt := viewer[0].text(); !strings.Contains(txt, "event: closed") || !strings.Contains(txt, "too many live streams for this caller") {
		t.Errorf("the ended stream was not told why:\n%s", txt)
	}
	select {
	case <-viewer[len(viewer)-1].done:
		t.Fatal("the viewer's newest stream was ended")
	default:
	}
	if n := h.srv.hub.Clients(); n != perCaller+1 {
		t.Errorf("%d streams open, want %d (the viewer's %d and the responder's)", n, perCaller+1, perCaller)
	}
}

// Behind a reverse proxy every request comes from the proxy's address: the
// failed-authentication limit must count each client behind it, or a few
// users with expired tokens lock everyone out. A client that is not a
// trusted proxy cannot choose its address with the header.
func TestFailedAuthsBehindATrustedProxyAreCountedPerClient(t *testing.T) {
	req := func(h *harness, token string, xff ...string) int {
		t.Helper()
		r, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/me", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		for _, v := range xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		res, err := h.ts.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	good, bad := testTokens[config.RoleViewer], "expired-token-0123456789abcdef"
	limit := config.Default().Serve.RateLimit.FailedAuthPerMinute

	t.Run("a client behind the proxy is not locked out by another", func(t *testing.T) {
		h := newHarness(t, func(c *config.Serve) { c.TrustedProxies = []string{"127.0.0.0/8", "10.0.0.0/8"} })
		for range limit {
			if code := req(h, bad, "198.51.100.7"); code != http.StatusUnauthorized {
				t.Fatalf("a bad token: %d, want 401", code)
			}
		}
		if code := req(h, bad, "198.51.100.7"); code != http.StatusTooManyRequests {
			t.Fatalf("the client over its limit: %d, want 429", code)
		}
		if code := req(h, good, "198.51.100.8"); code != http.StatusOK {
			t.Fatalf("another client behind the same proxy: %d, want 200", code)
		}
		// Through two trusted hops, the client is the right-most other one.
		if code := req(h, good, "198.51.100.9, 10.1.2.3"); code != http.StatusOK {
			t.Fatalf("a client behind two proxies: %d, want 200", code)
		}
		// Header lines are one list: the throttled client, through two
		// proxies, is still throttled, even with a good token.
		if code := req(h, good, "203.0.113.1", "198.51.100.7, 10.1.2.3"); code != http.StatusTooManyRequests {
			t.Fatalf("the throttled client through two proxies: %d, want 429", code)
		}
	})
	t.Run("a client cannot pick its address through a trusted proxy", func(t *testing.T) {
		h := newHarness(t, func(c *config.Serve) { c.TrustedProxies = []string{"127.0.0.0/8"} })
		// The proxy appends the address it saw; whatever the client wrote
		// before it is not believed.
		for i := range limit {
			if code := req(h, bad, fmt.Sprintf("203.0.113.%d, 198.51.100.7", i)); code != http.StatusUnauthorized {
				t.Fatalf("a bad token: %d, want 401", code)
			}
		}
		if code := req(h, bad, "203.0.113.200, 198.51.100.7"); code != http.StatusTooManyRequests {
			t.Fatalf("a client forging earlier hops escaped its limit: %d, want 429", code)
		}
	})
	t.Run("without trusted proxies the header is ignored", func(t *testing.T) {
		h := newHarness(t, nil)
		for i := range limit {
			if code := req(h, bad, fmt.Sprintf("203.0.113.%d", i)); code != http.StatusUnauthorized {
				t.Fatalf("a bad token: %d, want 401", code)
			}
		}
		if code := req(h, good, "203.0.113.250"); code != http.StatusTooManyRequests {
			t.Fatalf("a client choosing its own X-Forwarded-For escaped its limit: %d, want 429", code)
		}
	})
}

// smallBuffers is a listener whose connections have a small send buffer,
// so a client that reads slowly holds the server's writes back at once.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// slowReader reads at most 4 KB every pause: a slow link.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 4<<10)])
}

// serveSlowly serves h's console through Serve (its real timeouts) on a
// listener with small buffers, and returns a client with a small receive
// buffer.
func serveSlowly(t *testing.T, h *harness) (base string, client *http.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ctx, smallBuffers{ln}) }()
	t.Cleanup(func() { cancel(); <-done })
	d := &net.Dialer{}
	client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(8 << 10)
		}
		return c, err
	}}}
	t.Cleanup(client.CloseIdleConnections)
	return "http://" + ln.Addr().String(), client
}

// seedExport stores n resolved alerts, each with about 4 KB of evidence.
func seedExport(h *harness, n int) {
	h.t.Helper()
	snippet := strings.Repeat("a long quoted post about the target ", 110)
	for i := range n {
		l := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-x", "n": fmt.Sprint(i)}
		start := h.now.Add(-time.Duration(i+1) * time.Minute)
		h.alert(msg.Alert{Labels: l, Fingerprint: msg.Fingerprint(l, start), Status: msg.StatusResolved, StartsAt: start, EventTime: start, EndsAt: start,
			Evidence: []msg.Contributor{{PostID: fmt.Sprintf("forum-x:%d", i), Snippet: snippet, At: start, Weight: 1}}})
	}
}

func exportRequest(t *testing.T, ctx context.Context, base string, client *http.Client, max int) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/export/alerts?format=jsonl&max=%d", base, max), nil)
	req.Header.Set("Authorization", "Bearer "+testTokens[config.RoleAnalyst])
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("export: %d %s", res.StatusCode, b)
	}
	return res
}

// A large export read over a slow link takes longer than any one
// request's deadline: it must arrive whole, as long as the client keeps
// reading.
func TestALargeExportOverASlowLinkArrivesWhole(t *testing.T) {
	const n = 600 // two pages of the export's reads, 2.4 MB
	h := newHarness(t, nil)
	seedExport(h, n)
	// At about 800 KB/s the export takes three seconds.
	h.srv.writeTimeout = time.Second
	base, client := serveSlowly(t, h)
	res := exportRequest(t, context.Background(), base, client, n)
	defer res.Body.Close()
	start := time.Now()
	b, err := io.ReadAll(slowReader{r: res.Body, pause: 5 * time.Millisecond})
	lines := strings.Count(string(b), "\n")
	if err != nil || lines != n {
		t.Fatalf("after %v: %d of %d alerts, read error %v; want all of them and no error", time.Since(start).Round(time.Millisecond), lines, n, err)
	}
}

// An export that fails midway (Redis goes away) must not end like a whole
// one: the client reading it gets an error, not a short file.
func TestAnExportCutShortEndsInAnError(t *testing.T) {
	if os.Getenv(redistest.EnvURL) != "" {
		t.Skip("cannot stop an external Redis")
	}
	rs := redistest.Start(t)
	var st *store.Store = redistest.Connect(t, rs)
	h := newHarnessOn(t, st, slog.New(slog.DiscardHandler), nil)
	const n = 600
	seedExport(h, n)
	base, client := serveSlowly(t, h)
	res := exportRequest(t, context.Background(), base, client, n)
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// The first page is being written; the second cannot be read.
	rs.Stop()
	b, err := io.ReadAll(br)
	lines := strings.Count(string(b), "\n") + 1
	if err == nil {
		last := strings.TrimSpace(string(b))
		last = last[strings.LastIndexByte(last, '\n')+1:]
		t.Fatalf("the export ended cleanly after %d of %d alerts; last line: %.200s", lines, n, last)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("read error: %v", err)
	}
}

// A resolved alert stays for the alert retention counted from when it
// ended: one that fired for longer than the retention must not vanish
// from the console as it resolves. Firing alerts never expire, and do
// not hold back the expiry of resolved ones.
func TestAlertRetentionCountsFromWhenAnAlertEnded(t *testing.T) {
	f := func(name string, limit int) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Serve) { c.Retention.Alerts = 24 * time.Hour })
			m := h.srv.model
			add := func(name string, start time.Time, ended time.Time) string {
				l := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-a", "n": name}
				fp := msg.Fingerprint(l, start)
				h.alert(msg.Alert{Labels: l, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: start, EventTime: start})
				if !ended.IsZero() {
					h.alert(msg.Alert{Labels: l, Fingerprint: fp, Status: msg.StatusResolved, StartsAt: start, EventTime: ended, EndsAt: ended})
				}
				return fp
			}
			kept := []string{add("fired for two days, resolved an hour ago", h.now.Add(-49*time.Hour), h.now.Add(-time.Hour))}
			for i := range 3 {
				kept = append(kept, add(fmt.Sprintf("firing for three days %d", i), h.now.Add(-72*time.Hour-time.Duration(i)*time.Minute), time.Time{}))
			}
			old := add("resolved two days ago", h.now.Add(-50*time.Hour), h.now.Add(-48*time.Hour))

			n, err := m.Expire(t.Context(), limit)
			if err != nil {
				t.Fatal(err)
			}
			for i, fp := range kept {
				if _, err := m.Alert(t.Context(), fp); err != nil {
					t.Errorf("alert %d (%s): %v; want it kept", i, fp, err)
				}
			}
			if _, err := m.Alert(t.Context(), old); !errors.Is(err, ErrNotFound) || n != 1 {
				t.Errorf("expired %d; the alert resolved two days ago: %v; want it, and only it, expired", n, err)
			}
		})
	}
	f("with room for every old alert", 100)
	f("with fewer than the old firing alerts per call", 2)
}

// Resolved alerts stored by a version without the index of when alerts
// ended are indexed once, so they still expire.
func TestAlertsStoredBeforeTheEndedIndexStillExpire(t *testing.T) {
	h := newHarness(t, func(c *config.Serve) { c.Retention.Alerts = 24 * time.Hour })
	m := h.srv.model
	var fps []string
	for i, ended := range []time.Duration{48 * time.Hour, time.Hour, 0} {
		l := map[string]string{"alertname": "X", "site": "s", "n": fmt.Sprint(i)}
		start := h.now.Add(-72 * time.Hour)
		fp := msg.Fingerprint(l, start)
		a := msg.Alert{Labels: l, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: start, EventTime: start}
		if ended > 0 {
			a.Status, a.EventTime, a.EndsAt = msg.StatusResolved, h.now.Add(-ended), h.now.Add(-ended)
		}
		h.alert(a)
		fps = append(fps, fp)
	}
	// As an older version left Redis: no index, no mark.
	if err := m.s.Del(t.Context(), m.k("alerts", "ended"), m.k("alerts", "ended", "indexed")).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Expire(t.Context(), 100); err != nil || n != 1 {
		t.Fatalf("expired %d (%v), want 1", n, err)
	}
	if _, err := m.Alert(t.Context(), fps[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("the alert resolved two days ago: %v, want it expired", err)
	}
	for _, fp := range fps[1:] {
		if _, err := m.Alert(t.Context(), fp); err != nil {
			t.Errorf("alert %s: %v, want it kept", fp, err)
		}
	}
}

func TestTheClientAddressIsReadFromTrustedProxiesOnly(t *testing.T) {
	h := newHarness(t, func(c *config.Serve) { c.TrustedProxies = []string{"10.0.0.0/8", "fd00::1"} })
	f := func(peer string, xff []string, want string) {
		t.Helper()
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		for _, v := range xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := h.srv.clientIP(r); got != want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", peer, xff, got, want)
		}
	}
	f("192.0.2.1:5000", nil, "192.0.2.1")
	f("192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1")
	f("10.0.0.2:5000", nil, "10.0.0.2")
	f("10.0.0.2:5000", []string{"198.51.100.7"}, "198.51.100.7")
	f("10.0.0.2:5000", []string{"203.0.113.9, 198.51.100.7, 10.9.9.9"}, "198.51.100.7")
	f("10.0.0.2:5000", []string{"203.0.113.9", "198.51.100.7:4431"}, "198.51.100.7")
	f("10.0.0.2:5000", []string{"198.51.100.7, not-an-address, 10.9.9.9"}, "10.9.9.9")
	f("10.0.0.2:5000", []string{""}, "10.0.0.2")
	f("10.0.0.2:5000", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1")
	f("[::ffff:10.0.0.2]:5000", []string{"198.51.100.7"}, "198.51.100.7")
	f("[fd00::1]:5000", []string{"2001:db8::5"}, "2001:db8::5")
	f("[fd00::2]:5000", []string{"2001:db8::5"}, "fd00::2")
}
