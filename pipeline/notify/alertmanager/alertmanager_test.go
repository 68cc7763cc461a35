package alertmanager_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/alertmanager"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
)

// binary finds Alertmanager: Debian's package names it
// prometheus-alertmanager, upstream's tarball alertmanager.
func binary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("prometheus-alertmanager is not installed (CI=true: required; .ci/run installs it)")
	}
	t.Skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager); skipping")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// webhookSink records what Alertmanager itself notifies, to prove the
// alerts went all the way through its routing.
type webhookSink struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (w *webhookSink) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var m map[string]any
	_ = json.NewDecoder(r.Body).Decode(&m)
	w.mu.Lock()
	w.msgs = append(w.msgs, m)
	w.mu.Unlock()
}

func (w *webhookSink) statuses() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.msgs {
		out = append(out, fmt.Sprint(m["status"]))
	}
	return out
}

// startAlertmanager runs a private Alertmanager that routes everything to
// hook, and returns its base URL.
func startAlertmanager(t *testing.T, hook string) string {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname, site]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
`, hook)
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(dir, "am.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	logf, err := os.Create(filepath.Join(dir, "am.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "am.log"))
			t.Logf("alertmanager log:\n%s", b)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager did not become ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gettableAlert is the part of Alertmanager's GET /api/v2/alerts answer the
// test reads.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func alerts(t *testing.T, base string) []gettableAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []gettableAlert
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET /api/v2/alerts: %v: %s", err, b)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRealAlertmanagerReceivesFiringAndResolved(t *testing.T) {
	hook := &webhookSink{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	base := startAlertmanager(t, hs.URL)

	var n yaml.Node
	if err := yaml.Unmarshal([]byte("url: "+base+"\nresend_interval: 30s\n"), &n); err != nil {
		t.Fatal(err)
	}
	s, err := alertmanager.Factory.Build(n.Content[0], notify.Deps{Receiver: "am", ExternalURL: "https://tw.example"})
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := s.(notify.KeepAliver); !ok || k.KeepAlive() != 30*time.Second {
		t.Fatalf("the sink must ask for keep-alives every resend_interval")
	}

	a := notifytest.PIIAlert("forum-a")
	a.StartsAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	sent := time.Now()
	if _, err := s.Notify(context.Background(), a); err != nil {
		t.Fatalf("Notify firing: %v", err)
	}
	got := alerts(t, base)
	if len(got) != 1 {
		t.Fatalf("alertmanager holds %d alerts, want 1", len(got))
	}
	g := got[0]
	if g.Status.State != "active" || g.Labels["alertname"] != "ThreatSpike" || g.Labels["site"] != "forum-a" || g.Labels["target"] != "t_3fa9c0" {
		t.Errorf("alert in alertmanager: %+v", g)
	}
	if !g.StartsAt.Equal(a.StartsAt) {
		t.Errorf("startsAt %v, want %v", g.StartsAt, a.StartsAt)
	}
	// Firing alerts carry endsAt = now + 4 × resend_interval.
	if d := g.EndsAt.Sub(sent); d < 119*time.Second || d > 121*time.Second+time.Since(sent) {
		t.Errorf("endsAt is %v after sending, want 2m", d)
	}
	raw, _ := json.Marshal(g)
	if leaked := notifytest.LeakedPII(raw); len(leaked) > 0 {
		t.Errorf("alertmanager holds raw PII %v: %s", leaked, raw)
	}
	if g.Annotations["fingerprint"] != a.Fingerprint || !strings.Contains(g.Annotations["summary"], "[ADDRESS]") {
		t.Errorf("annotations %v", g.Annotations)
	}
	waitFor(t, "alertmanager to notify the firing alert", func() bool { return len(hook.statuses()) >= 1 })

	a.Status, a.EndsAt = msg.StatusResolved, time.Now().UTC()
	if _, err := s.Notify(context.Background(), a); err != nil {
		t.Fatalf("Notify resolved: %v", err)
	}
	for _, g := range alerts(t, base) {
		if g.Status.State == "active" && g.EndsAt.After(time.Now()) {
			t.Errorf("alert still active after its resolution: %+v", g)
		}
	}
	waitFor(t, "alertmanager to notify the resolution", func() bool {
		st := hook.statuses()
		return len(st) >= 2 && st[len(st)-1] == "resolved"
	})
}

func TestUnreachableAlertmanagerIsRetryable(t *testing.T) {
	var n yaml.Node
	_ = yaml.Unmarshal([]byte(fmt.Sprintf("url: http://127.0.0.1:%d\n", freePort(t))), &n)
	s, err := alertmanager.Factory.Build(n.Content[0], notify.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := s.Notify(context.Background(), notifytest.Alert("forum-a"))
	if err == nil || !retry {
		t.Fatalf("retry=%v err=%v; want a retryable error", retry, err)
	}
}

// An episode can start a little ahead of the notify stage's clock: the
// aggregator accepts posts stamped up to max_future (10m by default) ahead.
// Alertmanager refuses, with a 400 the stage does not retry for a repeat
// interval, an alert whose startsAt is after its endsAt.
func TestAnEpisodeStampedAheadOfTheClockStillReachesAlertmanager(t *testing.T) {
	hook := &webhookSink{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	base := startAlertmanager(t, hs.URL)

	var n yaml.Node
	if err := yaml.Unmarshal([]byte("url: "+base+"\nresend_interval: 1m\n"), &n); err != nil {
		t.Fatal(err)
	}
	s, err := alertmanager.Factory.Build(n.Content[0], notify.Deps{Receiver: "am"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ahead := range []time.Duration{0, 3 * time.Minute, 6 * time.Minute, 10 * time.Minute} {
		t.Run(fmt.Sprintf("starting %v ahead", ahead), func(t *testing.T) {
			a := notifytest.Alert(fmt.Sprintf("forum-ahead-%d", int(ahead.Minutes())))
			a.StartsAt = time.Now().Add(ahead).UTC().Truncate(time.Second)
			a.Fingerprint = msg.Fingerprint(a.Labels, a.StartsAt)
			if _, err := s.Notify(context.Background(), a); err != nil {
				t.Fatalf("Notify firing: %v", err)
			}
			for _, g := range alerts(t, base) {
				if g.Labels["site"] != a.Labels["site"] {
					continue
				}
				if g.Status.State != "active" {
					t.Errorf("alert in alertmanager is %q, want active", g.Status.State)
				}
				if g.StartsAt.After(g.EndsAt) {
					t.Errorf("startsAt %v after endsAt %v", g.StartsAt, g.EndsAt)
				}
				return
			}
			t.Fatal("alertmanager does not hold the alert")
		})
	}
}

func TestAFiringAlertNeverStartsAfterItEnds(t *testing.T) {
	now := notifytest.Start
	s := alertmanager.New(alertmanager.Settings{URL: "http://am.example", ResendInterval: time.Minute}, notify.Deps{Now: func() time.Time { return now }})
	f := func(ahead time.Duration) {
		t.Helper()
		a := notifytest.Alert("forum-a")
		a.StartsAt = now.Add(ahead)
		pa := s.Build([]*msg.Alert{a}, now)[0]
		if !pa.StartsAt.Before(pa.EndsAt) {
			t.Errorf("starting %v ahead: startsAt %v, endsAt %v", ahead, pa.StartsAt, pa.EndsAt)
		}
		if !pa.EndsAt.Equal(now.Add(4 * time.Minute)) {
			t.Errorf("starting %v ahead: endsAt %v, want now + 4 × resend_interval", ahead, pa.EndsAt)
		}
		if ahead <= 0 && !pa.StartsAt.Equal(a.StartsAt) {
			t.Errorf("starting %v ahead: startsAt %v, want the episode's own %v", ahead, pa.StartsAt, a.StartsAt)
		}
	}
	f(-time.Hour)
	f(0)
	f(3 * time.Minute)
	f(4 * time.Minute)
	f(10 * time.Minute)
}

// A mistyped URL is named in the error `config check` prints, but not the
// password in it: the url setting is a plain string, and Alertmanager
// behind basic auth is configured as https://user:password@host.
func TestABadURLIsNamedWithoutItsPassword(t *testing.T) {
	for _, u := range []string{"htps://ops:hunter2hunter2@am.example:9093", "ops:hunter2hunter2@am.example:9093"} {
		var n yaml.Node
		_ = yaml.Unmarshal([]byte("url: "+u+"\n"), &n)
		_, err := alertmanager.Factory.Build(n.Content[0], notify.Deps{Path: "notify.receivers[0].settings"})
		if err == nil || !strings.Contains(err.Error(), "settings.url") || !strings.Contains(err.Error(), "am.example") {
			t.Errorf("url %s: error %v, want one naming settings.url and the host", u, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2hunter2") {
			t.Errorf("url %s: error %v holds the password", u, err)
		}
	}
}
