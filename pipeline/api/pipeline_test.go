package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// running is a console on the embedded default: an in-process Kafka
// cluster, a test Redis, the two serve stages and the HTTP listener.
type running struct {
	kc     *kafkatest.Cluster
	deps   pipeline.Deps
	url    string
	srv    *Server
	state  *alertstate.State
	prod   *pipeline.Producer
	levels string
	alerts string
}

func startPipeline(t testing.TB, mut func(*config.Serve)) *running {
	t.Helper()
	return startPipelineOn(t, kafkatest.Options{Partitions: 2}, 0, 0, mut)
}

// startPipelineOn is startPipeline on a cluster made with ko, checking
// the feed every feedCheck with a stall of stall (0: the defaults).
func startPipelineOn(t testing.TB, ko kafkatest.Options, feedCheck, stall time.Duration, mut func(*config.Serve)) *running {
	t.Helper()
	kc := kafkatest.New(t, ko)
	st := redistest.New(t)
	c := testServeConfig()
	if mut != nil {
		mut(&c)
	}
	state := alertstate.New(st)
	log := slog.New(slog.DiscardHandler)
	srv, err := New(Options{Config: c, Store: st, State: state, Log: log, FeedCheck: feedCheck, FeedStall: stall})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := kc.Config
	deps := pipeline.Deps{Bus: kc.Bus, Store: st, Log: log, Config: cfg.Runner, Topics: cfg.Topics}
	go func() { done <- srv.Run(ctx, deps, ln) }()
	prod := pipeline.NewProducer(kc.Bus, "test", nil, log)
	t.Cleanup(func() {
		_ = prod.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("console stopped with: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("console did not stop")
		}
	})
	return &running{kc: kc, deps: deps, url: "http://" + ln.Addr().String(), srv: srv, state: state, prod: prod,
		levels: cfg.Topics.Name(cfg.Topics.Levels), alerts: cfg.Topics.Name(cfg.Topics.Alerts)}
}

func (r *running) sendLevel(t testing.TB, l msg.Level) {
	t.Helper()
	l.Schema = msg.SchemaLevel
	if err := r.prod.Send(context.Background(), pipeline.Output{Topic: r.levels, Msg: &l}); err != nil {
		t.Fatal(err)
	}
}

func (r *running) sendAlert(t testing.TB, a msg.Alert) {
	t.Helper()
	a.Schema = msg.SchemaAlert
	if err := r.prod.Send(context.Background(), pipeline.Output{Topic: r.alerts, Msg: &a}); err != nil {
		t.Fatal(err)
	}
}

func (r *running) get(t testing.TB, path, role string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", r.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+testTokens[role])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// eventually polls f until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestTheConsoleFollowsTheLevelsAndAlertsTopics(t *testing.T) {
	r := startPipeline(t, nil)
	// A live stream opened before anything happens sees what happens.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.url+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+testTokens[config.RoleViewer])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	frames := make(chan string, 100)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := res.Body.Read(buf)
			if n > 0 {
				frames <- string(buf[:n])
			}
			if err != nil {
				close(frames)
				return
			}
		}
	}()

	now := time.Now().UTC()
	r.sendLevel(t, msg.Level{Site: "forum-a", Time: now, Level: 7, Baseline: 2, Name: "high"})
	labels := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-a", "signal": "threat", "severity": "warning"}
	fp := msg.Fingerprint(labels, now)
	r.sendAlert(t, msg.Alert{Labels: labels, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: now, EventTime: now, Level: 7, Baseline: 2})
	// A message that is not a level goes to the dead-letter topic, and the
	// stage goes on.
	if err := r.prod.Send(context.Background(), pipeline.Output{Topic: r.levels, Msg: &msg.Level{Schema: msg.SchemaLevel, Site: "forum-x"}}); err != nil {
		t.Fatal(err)
	}
	r.sendLevel(t, msg.Level{Site: "forum-b", Time: now, Level: 1, Baseline: 1, Name: "normal"})

	eventually(t, 15*time.Second, "both sites in the API", func() bool {
		code, body := r.get(t, "/api/v1/sites", config.RoleViewer)
		return code == 200 && strings.Contains(body, `"site":"forum-a"`) && strings.Contains(body, `"site":"forum-b"`) && strings.Contains(body, `"firing":1`)
	})
	var seen strings.Builder
	eventually(t, 10*time.Second, "the level and the alert on the live stream", func() bool {
		for {
			select {
			case f := <-frames:
				seen.WriteString(f)
				continue
			default:
			}
			break
		}
		s := seen.String()
		return strings.Contains(s, "event: level") && strings.Contains(s, `"site":"forum-a"`) && strings.Contains(s, `"fingerprint":"`+fp)
	})
	code, body := r.get(t, "/api/v1/alerts/"+fp, config.RoleViewer)
	var v AlertView
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.Status != msg.StatusFiring {
		t.Fatalf("alert: %d %s", code, body)
	}
	if code, body := r.get(t, "/api/v1/sites/forum-x", config.RoleViewer); code != 404 {
		t.Fatalf("the invalid level reached the read model: %d %s", code, body)
	}
}

// TestTheConsoleRestoresALostReadModelFromTheTopics: Redis restarts empty
// under a running console. The serve stages only read what comes after
// their committed offsets, so the wall would show no firing alert and no
// history until each changed again; the console reads the alerts and
// levels topics back instead.
func TestTheConsoleRestoresALostReadModelFromTheTopics(t *testing.T) {
	r := startPipelineOn(t, kafkatest.Options{Partitions: 2}, 200*time.Millisecond, time.Second, nil)
	now := time.Now().UTC()
	for i := 3; i >= 1; i-- {
		r.sendLevel(t, msg.Level{Site: "forum-a", Time: now.Add(-time.Duration(i) * time.Hour), Level: float64(10 - i), Baseline: 2, Name: "high"})
	}
	labels := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-a", "signal": "threat", "severity": "warning"}
	fp := msg.Fingerprint(labels, now.Add(-time.Hour))
	r.sendAlert(t, msg.Alert{Labels: labels, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: now.Add(-time.Hour), EventTime: now.Add(-time.Hour), Level: 9, Baseline: 2})
	firingShown := func() bool {
		code, body := r.get(t, "/api/v1/sites", config.RoleViewer)
		return code == 200 && strings.Contains(body, `"site":"forum-a"`) && strings.Contains(body, `"firing":1`)
	}
	eventually(t, 15*time.Second, "the site and its firing alert", firingShown)
	history := func() int {
		code, body := r.get(t, "/api/v1/levels?site=forum-a&step=1m&from="+now.Add(-4*time.Hour).Format(time.RFC3339), config.RoleViewer)
		if code != 200 {
			return 0
		}
		return strings.Count(body, `"level":`)
	}
	before := history()
	if before < 3 {
		t.Fatalf("scenario: %d level points before the loss, want 3", before)
	}

	// Redis loses everything the console kept (once the restore that
	// runs at start, with nothing to restore, is over).
	ctx := context.Background()
	eventually(t, 15*time.Second, "the start's restore done", func() bool {
		return r.srv.model.s.Exists(ctx, r.srv.model.restoredKey()).Val() == 1
	})
	keys, err := r.srv.model.s.Keys(ctx, r.srv.model.k("*")).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("read model keys: %v %v", keys, err)
	}
	if err := r.srv.model.s.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	r.srv.model.cache.invalidate()
	eventually(t, 15*time.Second, "the firing alert back after the loss", firingShown)
	eventually(t, 5*time.Second, "the level history back", func() bool { return history() == before })
	code, body := r.get(t, "/api/v1/alerts/"+fp, config.RoleViewer)
	if code != 200 || !strings.Contains(body, `"status":"firing"`) {
		t.Errorf("alert after the restore: %d %s", code, body)
	}
}
