package api

// Load benchmarks. The load comes from a second process on loopback: the
// test binary re-executed in client mode (TestMain below), so the server's
// numbers do not share a Go runtime with the client's.
//
//	go test -run '^$' -bench 'APILatency|SSEFanout' -benchtime 1x ./pipeline/api
//
// Each op of BenchmarkAPILatency is one load run (TW_BENCH_REQUESTS
// requests, default 20,000, at TW_BENCH_CONCURRENCY, default 16) per
// endpoint; each op of BenchmarkSSEFanout is TW_BENCH_EVENTS events
// (default 200, one every TW_BENCH_INTERVAL_MS, default 2) fanned out to
// TW_BENCH_CLIENTS streams (default 1,000).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestMain(m *testing.M) {
	switch os.Getenv("TW_BENCH_CLIENT") {
	case "http":
		os.Exit(httpClient())
	case "sse":
		os.Exit(sseClient())
	}
	os.Exit(m.Run())
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// clientResult is what a client process prints as its last line.
type clientResult struct {
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Bytes     int64   `json:"bytes"`
	Delivered int64   `json:"delivered,omitempty"`
	Streams   int     `json:"streams,omitempty"`
	Dropped   int     `json:"dropped,omitempty"`
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d)-1) * p)
	return float64(d[i]) / float64(time.Millisecond)
}

// httpClient runs TW_BENCH_REQUESTS GETs of TW_BENCH_URL at
// TW_BENCH_CONCURRENCY and prints a clientResult.
func httpClient() int {
	url, tok := os.Getenv("TW_BENCH_URL"), os.Getenv("TW_BENCH_TOKEN")
	n, conc := envInt("TW_BENCH_REQUESTS", 20000), envInt("TW_BENCH_CONCURRENCY", 16)
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	lat := make([][]time.Duration, conc)
	var next, errs atomic.Int64
	var bytes atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				t0 := time.Now()
				res, err := cl.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				k, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				bytes.Add(k)
				if res.StatusCode != 200 {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r := clientResult{Requests: len(all), Errors: int(errs.Load()), Seconds: el.Seconds(), P50ms: percentile(all, .5), P99ms: percentile(all, .99), Bytes: bytes.Load()}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	return 0
}

// sseClient opens TW_BENCH_CLIENTS streams, prints "ready", reads until
// every stream saw TW_BENCH_EVENTS bench events (or TW_BENCH_TIMEOUT), and
// prints a clientResult with delivery latency (publish time is in the event).
func sseClient() int {
	url, tok := os.Getenv("TW_BENCH_URL"), os.Getenv("TW_BENCH_TOKEN")
	clients, events := envInt("TW_BENCH_CLIENTS", 1000), envInt("TW_BENCH_EVENTS", 200)
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: 0}
	cl := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var delivered atomic.Int64
	var dropped atomic.Int64
	var opened sync.WaitGroup
	var done sync.WaitGroup
	for i := 0; i < clients; i++ {
		opened.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := cl.Do(req)
			if err != nil {
				dropped.Add(1)
				opened.Done()
				return
			}
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			sawHello := false
			got := 0
			local := make([]time.Duration, 0, events)
			for sc.Scan() {
				line := sc.Text()
				if !sawHello && strings.HasPrefix(line, "event: hello") {
					sawHello = true
					opened.Done()
					continue
				}
				v, ok := strings.CutPrefix(line, `data: {"bench":`)
				if !ok {
					continue
				}
				ns, err := strconv.ParseInt(strings.TrimSuffix(v, "}"), 10, 64)
				if err != nil {
					continue
				}
				local = append(local, time.Since(time.Unix(0, ns)))
				got++
				if got == events {
					break
				}
			}
			if !sawHello {
				opened.Done()
			}
			if got < events {
				dropped.Add(1)
			}
			delivered.Add(int64(got))
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	opened.Wait()
	fmt.Println("ready")
	start := time.Now()
	done.Wait()
	r := clientResult{Requests: clients, Streams: clients, Delivered: delivered.Load(), Dropped: int(dropped.Load()), Seconds: time.Since(start).Seconds(), P50ms: percentile(lat, .5), P99ms: percentile(lat, .99)}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	return 0
}

// startClient re-executes the test binary as a load client.
func startClient(b *testing.B, mode string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"TW_BENCH_CLIENT=" + mode}, env...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

func lastResult(b *testing.B, cmd *exec.Cmd, sc *bufio.Scanner) clientResult {
	b.Helper()
	var r clientResult
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("client: %v", err)
	}
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		b.Fatalf("client output %q: %v", last, err)
	}
	return r
}

// seedLarge fills a read model with sites sites (24 hourly points each)
// and alerts alerts spread over them, in parallel.
func seedLarge(b *testing.B, h *harness, sites, alerts int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int, 1024)
	var failed atomic.Value
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var err error
				if i < sites {
					for k := 23; k >= 0 && err == nil; k-- {
						l := &msg.Level{Schema: msg.SchemaLevel, Site: fmt.Sprintf("site-%04d", i), Time: h.now.Add(-time.Duration(k) * time.Hour), Level: float64((i + k) % 13), Baseline: 3, Name: "normal"}
						_, err = h.srv.model.ApplyLevel(ctx, l)
					}
				} else {
					j := i - sites
					l := map[string]string{"alertname": "ThreatLevelSpike", "site": fmt.Sprintf("site-%04d", j%sites), "signal": string(msg.Signals[j%3]), "severity": []string{"warning", "critical"}[j%2]}
					st := h.now.Add(-time.Duration(j) * time.Minute)
					status := msg.StatusResolved
					if j%50 == 0 {
						status = msg.StatusFiring
					}
					a := &msg.Alert{Schema: msg.SchemaAlert, Labels: l, Fingerprint: msg.Fingerprint(l, st), Status: status, StartsAt: st, EventTime: st, Level: 9, Baseline: 3,
						Annotations: map[string]string{"summary": "Threat level high for site " + l["site"]}, Evidence: piiEvidence(st)}
					_, err = h.srv.model.ApplyAlert(ctx, a)
				}
				if err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	for i := 0; i < sites+alerts; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d sites and %d alerts in %v", sites, alerts, time.Since(start).Round(time.Millisecond))
}

func loopbackServer(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// BenchmarkAPILatency measures the sites and alerts endpoints with 1,000
// sites and 100,000 stored alerts, under load from a second process.
func BenchmarkAPILatency(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 alerts")
	}
	h := newHarness(b, nil)
	seedLarge(b, h, envInt("TW_BENCH_SITES", 1000), envInt("TW_BENCH_ALERTS", 100000))
	base := loopbackServer(b, h.srv.Handler())
	paths := []struct{ name, path string }{
		{"sites", "/api/v1/sites"},
		{"sites-spark48h", "/api/v1/sites?spark=48h"},
		{"alerts", "/api/v1/alerts?limit=100"},
		{"alerts-firing-site", "/api/v1/alerts?status=firing&site=site-0000&limit=100"},
		{"alerts-filter-signal", "/api/v1/alerts?signal=threat&severity=critical&limit=50"},
		{"alert-one", "/api/v1/alerts/" + msg.Fingerprint(map[string]string{"alertname": "ThreatLevelSpike", "site": "site-0001", "signal": "swatting", "severity": "critical"}, h.now.Add(-time.Minute))},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			var r clientResult
			for i := 0; i < b.N; i++ {
				cmd, sc := startClient(b, "http", "TW_BENCH_URL="+base+p.path, "TW_BENCH_TOKEN="+testTokens[config.RoleViewer])
				r = lastResult(b, cmd, sc)
				if r.Errors > 0 {
					b.Fatalf("%d of %d requests failed", r.Errors, r.Requests)
				}
			}
			b.ReportMetric(r.P50ms, "p50-ms")
			b.ReportMetric(r.P99ms, "p99-ms")
			b.ReportMetric(float64(r.Requests)/r.Seconds, "req/s")
			b.ReportMetric(float64(r.Bytes)/float64(r.Requests), "bytes/resp")
		})
	}
}

// BenchmarkSSEFanout fans events out to 1,000 streams held by a second
// process and reports the delivery latency (publish to read).
func BenchmarkSSEFanout(b *testing.B) {
	clients, events := envInt("TW_BENCH_CLIENTS", 1000), envInt("TW_BENCH_EVENTS", 200)
	// The default, 2 ms between events (500 events/s), is a busy incident
	// far above normal; TW_BENCH_INTERVAL_MS sets another pace.
	interval := time.Duration(envInt("TW_BENCH_INTERVAL_MS", 2)) * time.Millisecond
	// Every stream is the one viewer token's.
	h := newHarness(b, func(c *config.Serve) {
		c.SSE.MaxClients, c.SSE.MaxClientsPerPrincipal, c.SSE.ClientBuffer = clients+10, clients+10, 1024
	})
	base := loopbackServer(b, h.srv.Handler())
	var r clientResult
	var pubTime time.Duration
	for i := 0; i < b.N; i++ {
		cmd, sc := startClient(b, "sse", "TW_BENCH_URL="+base+"/api/v1/events", "TW_BENCH_TOKEN="+testTokens[config.RoleViewer],
			fmt.Sprintf("TW_BENCH_CLIENTS=%d", clients), fmt.Sprintf("TW_BENCH_EVENTS=%d", events))
		for sc.Scan() && sc.Text() != "ready" {
		}
		if h.srv.hub.Clients() < clients {
			b.Fatalf("only %d streams connected", h.srv.hub.Clients())
		}
		start := time.Now()
		for e := 0; e < events; e++ {
			if err := h.srv.hub.Publish("bench", json.RawMessage(`{"bench":`+strconv.FormatInt(time.Now().UnixNano(), 10)+`}`), nil, nil); err != nil {
				b.Fatal(err)
			}
			time.Sleep(interval)
		}
		pubTime += time.Since(start)
		r = lastResult(b, cmd, sc)
	}
	b.ReportMetric(r.P50ms, "p50-ms")
	b.ReportMetric(r.P99ms, "p99-ms")
	b.ReportMetric(float64(r.Delivered)/r.Seconds, "deliveries/s")
	b.ReportMetric(float64(r.Dropped), "dropped-streams")
	b.ReportMetric(float64(r.Streams), "streams")
}

// BenchmarkSitesHandler is the in-process cost of one /api/v1/sites
// answer with 1,000 sites (no network, no second process).
func BenchmarkSitesHandler(b *testing.B) {
	h := newHarness(b, nil)
	seedLarge(b, h, 1000, 0)
	req := httptest.NewRequest("GET", "/api/v1/sites", nil)
	req.Header.Set("Authorization", "Bearer "+testTokens[config.RoleViewer])
	handler := h.srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
		b.SetBytes(int64(w.Body.Len()))
	}
}

// BenchmarkHubPublish is the cost of publishing one event to 1,000
// in-process subscribers that keep up.
func BenchmarkHubPublish(b *testing.B) {
	hub := NewHub(1024, 1024, 2000, nil)
	var wg sync.WaitGroup
	for i := 0; i < 1000; i++ {
		s, _, _, _ := hub.Subscribe("")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-s.C:
				case <-s.Gone:
					return
				}
			}
		}()
	}
	ev := LevelEvent{Site: "forum-a", Time: time.Now(), Level: 3, Baseline: 1, Name: "normal"}
	b.ReportAllocs()
	for b.Loop() {
		if err := hub.Publish("level", ev, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	hub.Close()
	wg.Wait()
}

// BenchmarkAlertsHandler is the in-process cost of one page of 100 alerts
// out of 20,000 (no network, no second process).
func BenchmarkAlertsHandler(b *testing.B) {
	h := newHarness(b, nil)
	seedLarge(b, h, 100, 20000)
	for _, q := range []string{"limit=100", "signal=threat&severity=critical&limit=50"} {
		b.Run(q, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/v1/alerts?"+q, nil)
			req.Header.Set("Authorization", "Bearer "+testTokens[config.RoleViewer])
			handler := h.srv.Handler()
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
				b.SetBytes(int64(w.Body.Len()))
			}
		})
	}
}
