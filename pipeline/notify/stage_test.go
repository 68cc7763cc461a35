package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a notify stage over a private Redis whose receivers are
// Recorders, with a settable clock.
type harness struct {
	t     *testing.T
	stage *notify.Stage
	state *alertstate.State
	clock *clock
	recs  map[string]*notifytest.Recorder
	store *store.Store
}

// keepAliveRecorder is a Recorder that asks for keep-alives, like the
// Alertmanager sink.
type keepAliveRecorder struct{ *notifytest.Recorder }

func (keepAliveRecorder) KeepAlive() time.Duration { return time.Minute }

// recorderFactory builds Recorders, looked up by receiver name.
func recorderFactory(recs map[string]*notifytest.Recorder) []notify.Factory {
	mk := func(typ string, keep bool) notify.Factory {
		return notify.Factory{Type: typ, Doc: "test", Settings: func() any { return &struct{}{} },
			New: func(_ *yaml.Node, d notify.Deps) (notify.Sink, error) {
				r := &notifytest.Recorder{}
				recs[d.Receiver] = r
				if keep {
					return keepAliveRecorder{r}, nil
				}
				return r, nil
			}}
	}
	ack := notify.Factory{Type: "ackrec", Doc: "test", Settings: func() any { return &struct{}{} },
		New: func(_ *yaml.Node, d notify.Deps) (notify.Sink, error) {
			r := &notifytest.Recorder{}
			recs[d.Receiver] = r
			acks := &notifytest.Recorder{}
			recs[d.Receiver+"/acks"] = acks
			return ackRecorder{r, acks}, nil
		}}
	return []notify.Factory{mk("rec", false), mk("keepalive", true), ack}
}

// ackRecorder is a Recorder whose receiving system has acknowledgements
// (like PagerDuty); they are recorded apart.
type ackRecorder struct {
	*notifytest.Recorder
	acks *notifytest.Recorder
}

func (a ackRecorder) Acknowledge(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	return a.acks.Notify(ctx, alerts...)
}

func newHarness(t *testing.T, yml string) *harness {
	t.Helper()
	cfg, err := config.Parse([]byte(yml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c := &clock{t: notifytest.Start}
	rs := redistest.New(t)
	st := alertstate.New(rs, alertstate.WithClock(c.now))
	recs := map[string]*notifytest.Recorder{}
	cfg.Notify.Retry.Initial = time.Millisecond
	cfg.Notify.Retry.Max = 5 * time.Millisecond
	s, err := notify.New(cfg.Notify, recorderFactory(recs), st, notify.Options{Now: c.now})
	if err != nil {
		t.Fatalf("notify.New: %v", err)
	}
	return &harness{t: t, stage: s, state: st, clock: c, recs: recs, store: rs}
}

func (h *harness) handle(a *msg.Alert) {
	h.t.Helper()
	out, err := h.stage.Handle(context.Background(), a, pipeline.Meta{})
	if err != nil || len(out) != 0 {
		h.t.Fatalf("Handle: %v outputs, err %v", len(out), err)
	}
}

func (h *harness) tick() {
	h.t.Helper()
	if _, err := h.stage.Tick(context.Background(), h.clock.now()); err != nil {
		h.t.Fatalf("Tick: %v", err)
	}
}

// results lists the audit results of notify entries, oldest first, as
// "receiver:status:result".
func (h *harness) results() []string {
	h.t.Helper()
	es, _, err := h.state.Audit(context.Background(), alertstate.AuditQuery{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		if e := es[i]; e.Action == alertstate.ActionNotify {
			out = append(out, e.Receiver+":"+e.Status+":"+e.Result)
		}
	}
	return out
}

const twoReceivers = `
notify:
  repeat_interval: 1h
  receivers:
    - {name: oncall, type: rec}
    - {name: team, type: rec}
  routes:
    - matchers: ['target="t_protected"']
      receivers: [team]
    - matchers: ['severity="critical"']
      receivers: [oncall]
  default_receivers: [team]
`

func resolved(a *msg.Alert) *msg.Alert {
	c := *a
	c.Status, c.EndsAt = msg.StatusResolved, a.StartsAt.Add(30*time.Minute)
	return &c
}

func TestRoutingByLabels(t *testing.T) {
	h := newHarness(t, twoReceivers)
	crit := notifytest.Alert("forum-a")
	prot := notifytest.Alert("forum-b")
	prot.Labels["target"] = "t_protected"
	prot.Fingerprint = msg.Fingerprint(prot.Labels, prot.StartsAt)
	low := notifytest.Alert("forum-c")
	low.Labels["severity"] = "elevated"
	low.Fingerprint = msg.Fingerprint(low.Labels, low.StartsAt)
	for _, a := range []*msg.Alert{crit, prot, low} {
		h.handle(a)
	}
	sites := func(r *notifytest.Recorder) string {
		var s []string
		for _, c := range r.Calls() {
			s = append(s, c.Alerts[0].Labels["site"])
		}
		return strings.Join(s, ",")
	}
	if got := sites(h.recs["oncall"]); got != "forum-a" {
		t.Errorf("oncall got %q, want forum-a", got)
	}
	if got := sites(h.recs["team"]); got != "forum-b,forum-c" {
		t.Errorf("team got %q, want the protected target's alert and the unrouted one", got)
	}
}

func TestDedupRepeatAndResolve(t *testing.T) {
	h := newHarness(t, twoReceivers)
	a := notifytest.Alert("forum-a")
	rec := func() []string { return h.recs["oncall"].Statuses() }

	h.handle(a)
	h.handle(a) // redelivered, or re-emitted by the aggregator
	h.clock.add(10 * time.Minute)
	h.tick()
	if got := rec(); len(got) != 1 {
		t.Fatalf("after a redelivery and an early tick: %v, want one firing", got)
	}
	h.clock.add(51 * time.Minute)
	h.tick()
	if got := rec(); fmt.Sprint(got) != "[firing firing]" {
		t.Fatalf("after the repeat interval: %v, want a repeat", got)
	}
	h.handle(resolved(a))
	h.handle(resolved(a))
	h.handle(a) // a late firing after the resolution must not page
	h.clock.add(2 * time.Hour)
	h.tick()
	if got := rec(); fmt.Sprint(got) != "[firing firing resolved]" {
		t.Fatalf("after resolution: %v", got)
	}
	last := h.recs["oncall"].Calls()[2].Alerts[0]
	if !last.EndsAt.Equal(a.StartsAt.Add(30 * time.Minute)) {
		t.Errorf("resolved endsAt %v", last.EndsAt)
	}
	if got := h.results(); fmt.Sprint(got) != "[oncall:firing:sent oncall:firing:sent oncall:resolved:sent]" {
		t.Errorf("audit %v", got)
	}
}

func TestSilencedAlertsAreNotSentButAudited(t *testing.T) {
	h := newHarness(t, twoReceivers)
	ctx := context.Background()
	sil, err := h.state.CreateSilence(ctx, alertstate.Silence{
		Matchers:  []alertstate.Matcher{alertstate.MustMatcher("site", alertstate.MatchEqual, "forum-a")},
		EndsAt:    h.clock.now().Add(30 * time.Minute),
		CreatedBy: "ana",
	})
	if err != nil {
		t.Fatal(err)
	}
	a := notifytest.Alert("forum-a")
	other := notifytest.Alert("forum-z")
	h.handle(a)
	h.handle(other)
	h.clock.add(time.Minute)
	h.tick() // still silenced: not sent, not audited twice
	if got := h.recs["oncall"].Calls(); len(got) != 1 || got[0].Alerts[0].Labels["site"] != "forum-z" {
		t.Fatalf("calls while silenced: %+v", got)
	}
	es, _, _ := h.state.Audit(ctx, alertstate.AuditQuery{Fingerprint: a.Fingerprint})
	if len(es) != 1 || es[0].Result != alertstate.ResultSilenced || es[0].SilenceID != sil.ID {
		t.Fatalf("audit of the silenced alert: %+v", es)
	}
	h.clock.add(30 * time.Minute)
	h.tick() // the silence ended while the alert still fires: now it is sent
	if got := h.recs["oncall"].Calls(); len(got) != 2 || got[1].Alerts[0].Fingerprint != a.Fingerprint {
		t.Fatalf("after the silence: %d calls", len(got))
	}
}

func TestAcknowledgedAlertsAreNotRepeated(t *testing.T) {
	h := newHarness(t, `
notify:
  repeat_interval: 1h
  receivers:
    - {name: oncall, type: rec}
    - {name: am, type: keepalive}
  routes:
    - receivers: [oncall, am]
`)
	ctx := context.Background()
	a := notifytest.Alert("forum-a")
	h.handle(a)
	if _, err := h.state.Acknowledge(ctx, a.Fingerprint, "ana", "looking"); err != nil {
		t.Fatal(err)
	}
	h.clock.add(2 * time.Hour)
	h.tick()
	h.handle(a)
	if got := h.recs["oncall"].Statuses(); fmt.Sprint(got) != "[firing]" {
		t.Fatalf("oncall after ack: %v, want no repeat", got)
	}
	if got := h.recs["am"].Statuses(); fmt.Sprint(got) != "[firing firing]" {
		t.Fatalf("keep-alive receiver after ack: %v, want a keep-alive", got)
	}
	h.handle(resolved(a))
	if got := h.recs["oncall"].Statuses(); fmt.Sprint(got) != "[firing resolved]" {
		t.Fatalf("oncall after resolution: %v, want the resolution sent", got)
	}
	if got := h.results(); !strings.Contains(fmt.Sprint(got), "oncall:firing:acked") {
		t.Errorf("audit lacks the suppressed repeat: %v", got)
	}
}

func TestReplayAlertsNeverPage(t *testing.T) {
	h := newHarness(t, `
notify:
  receivers:
    - {name: oncall, type: rec}
    - {name: analysts, type: rec, send_replay: true}
  routes:
    - receivers: [oncall, analysts]
`)
	a := notifytest.Alert("forum-a")
	a.Replay = true
	h.handle(a)
	h.handle(resolved(a))
	if n := len(h.recs["oncall"].Calls()); n != 0 {
		t.Fatalf("oncall paged %d times for a replay", n)
	}
	if got := h.recs["analysts"].Statuses(); fmt.Sprint(got) != "[firing resolved]" {
		t.Fatalf("analysts got %v", got)
	}
	if got := h.results(); fmt.Sprint(got) != "[oncall:firing:replay analysts:firing:sent analysts:resolved:sent]" &&
		fmt.Sprint(got) != "[analysts:firing:sent oncall:firing:replay analysts:resolved:sent]" {
		t.Errorf("audit %v", got)
	}
}

func TestFailedDeliveriesAreRetried(t *testing.T) {
	h := newHarness(t, `
notify:
  retry: {attempts: 3}
  receivers:
    - {name: flaky, type: rec}
    - {name: down, type: rec}
    - {name: broken, type: rec}
  routes:
    - receivers: [flaky, down, broken]
`)
	h.recs["flaky"].Fail = func(n int) (bool, error) {
		if n < 3 {
			return true, notifytest.ErrDown
		}
		return false, nil
	}
	var downFor atomic.Int64
	downFor.Store(5)
	h.recs["down"].Fail = func(n int) (bool, error) {
		if int64(n) <= downFor.Load() {
			return true, notifytest.ErrDown
		}
		return false, nil
	}
	h.recs["broken"].Fail = func(int) (bool, error) { return false, errors.New("400 invalid routing key") }

	a := notifytest.Alert("forum-a")
	h.handle(a)
	if n := len(h.recs["flaky"].Calls()); n != 3 {
		t.Errorf("flaky: %d calls, want 3 (two retries)", n)
	}
	if n := len(h.recs["down"].Calls()); n != 3 {
		t.Errorf("down: %d calls, want 3 attempts", n)
	}
	if n := len(h.recs["broken"].Calls()); n != 1 {
		t.Errorf("broken: %d calls, want 1 (not retryable)", n)
	}
	// While a receiver is failing, a new alert within a tick of its last
	// call makes none (the tick sends it), not the whole retry sequence: a
	// dead receiver must not hold up the alerts topic.
	downFor.Store(6)
	h.handle(notifytest.Alert("forum-b"))
	if n := len(h.recs["down"].Calls()); n != 3 {
		t.Errorf("down after a second alert: %d calls, want 3", n)
	}
	// The ticks retry the pending deliveries, one call each, after backoff.
	for range 4 {
		h.clock.add(time.Second)
		h.tick()
	}
	// Ticks 1 to 3: the first pending delivery fails (calls 4, 5, 6) and
	// the receiver is left alone for the rest of the tick; tick 4: both
	// pending deliveries succeed (7, 8).
	if got := h.recs["down"].Calls(); len(got) != 8 {
		t.Errorf("down after ticks: %d calls, want 8", len(got))
	}
	if n := len(h.recs["broken"].Calls()); n != 2 {
		t.Errorf("broken: %d calls, want one per alert (not retried by the tick)", n)
	}
	tr, err := h.state.Tracked(context.Background(), a.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Deliveries["down"]; d.Status != msg.StatusFiring || d.Pending != "" {
		t.Errorf("down delivery %+v, want delivered", d)
	}
	if d := tr.Deliveries["broken"]; d.Status != "" || d.Pending != "" || !strings.Contains(d.LastError, "400") {
		t.Errorf("broken delivery %+v, want failed for good", d)
	}
	got := fmt.Sprint(h.results())
	for _, want := range []string{"flaky:firing:sent", "broken:firing:failed", "down:firing:failed", "down:firing:deferred", "down:firing:sent"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s: %s", want, got)
		}
	}
}

// TestABurstOfAlertsDoesNotWaitOnADeadReceiver: a receiver that is down
// costs a timeout a call (10 s by default). One call per new alert while
// it failed made a burst of 30 alerts wait five minutes on it, and the
// ticks meanwhile (which keep Alertmanager's alerts alive and deliver to
// the receivers that work) with them. Now a failing receiver gets at most
// one call a tick from new alerts; the rest are held for the tick, and
// the receivers that work get every alert at once.
func TestABurstOfAlertsDoesNotWaitOnADeadReceiver(t *testing.T) {
	h := newHarness(t, `
notify:
  tick: 10s
  retry: {attempts: 3}
  receivers:
    - {name: dead, type: rec}
    - {name: chat, type: rec}
  routes:
    - receivers: [dead, chat]
`)
	var up atomic.Bool
	h.recs["dead"].Fail = func(int) (bool, error) {
		if up.Load() {
			return false, nil
		}
		return true, notifytest.ErrDown
	}
	for i := range 30 {
		h.handle(notifytest.Alert(fmt.Sprintf("forum-%d", i)))
	}
	if n := len(h.recs["dead"].Calls()); n != 3 {
		t.Errorf("the dead receiver got %d calls for a burst of 30 alerts, want 3 (the first alert's retries)", n)
	}
	if n := len(h.recs["chat"].Calls()); n != 30 {
		t.Errorf("the working receiver got %d of 30 alerts", n)
	}
	// A tick later a new alert tries it again, once.
	h.clock.add(10 * time.Second)
	h.handle(notifytest.Alert("forum-30"))
	if n := len(h.recs["dead"].Calls()); n != 4 {
		t.Errorf("a tick later, %d calls, want 4", n)
	}
	// Back up: the ticks deliver everything held, none lost.
	before := len(h.recs["dead"].Calls())
	up.Store(true)
	for range 40 {
		h.clock.add(10 * time.Second)
		h.tick()
	}
	sent := map[string]bool{}
	for _, c := range h.recs["dead"].Calls()[before:] {
		for _, a := range c.Alerts {
			sent[a.Fingerprint] = true
		}
	}
	if len(sent) != 31 {
		t.Errorf("the receiver back up got %d of 31 alerts", len(sent))
	}
}

func TestRetryAfterIsHonored(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	sink := notify.Factory{Type: "t", New: func(_ *yaml.Node, d notify.Deps) (notify.Sink, error) {
		return sinkFunc(func(ctx context.Context, _ ...*msg.Alert) (bool, error) {
			return notify.Do(ctx, d.Client, notify.Request{URL: srv.URL})
		}), nil
	}}
	s, err := sink.Build(nil, notify.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	r := notify.Retry{Attempts: 3, Initial: time.Millisecond, Max: 5 * time.Second}
	start := time.Now()
	attempts, _, err := r.Send(context.Background(), s, notifytest.Alert("a"))
	if err != nil || attempts != 2 {
		t.Fatalf("attempts %d err %v, want success on the second", attempts, err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %v; the server asked for 1s", waited)
	}
}

type sinkFunc func(ctx context.Context, alerts ...*msg.Alert) (bool, error)

func (f sinkFunc) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	return f(ctx, alerts...)
}

func TestOperatorResolveRequest(t *testing.T) {
	h := newHarness(t, twoReceivers)
	ctx := context.Background()
	a := notifytest.Alert("forum-a")
	h.handle(a)
	if _, err := h.state.RequestResolve(ctx, a.Fingerprint, "ana", "false positive"); err != nil {
		t.Fatal(err)
	}
	h.handle(a) // the aggregator still re-emits it: must not go out again
	h.clock.add(time.Second)
	h.tick()
	h.clock.add(2 * time.Hour)
	h.tick()
	h.handle(a)
	if got := h.recs["oncall"].Statuses(); fmt.Sprint(got) != "[firing resolved]" {
		t.Fatalf("oncall got %v, want the firing and the operator's resolution", got)
	}
	if p, _ := h.state.PendingResolves(ctx); len(p) != 0 {
		t.Fatalf("resolve request still pending: %+v", p)
	}
}

func TestStoredStateAndAuditHoldNoPII(t *testing.T) {
	h := newHarness(t, twoReceivers)
	a := notifytest.PIIAlert("forum-a")
	h.handle(a)
	tr, err := h.state.Tracked(context.Background(), a.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	es, _, _ := h.state.Audit(context.Background(), alertstate.AuditQuery{})
	b, _ := json.Marshal([]any{tr, es, h.recs["oncall"].Calls()})
	if leaked := notifytest.LeakedPII(b); len(leaked) > 0 {
		t.Fatalf("stored or sent raw PII %v", leaked)
	}
	if !strings.Contains(string(b), "[PHONE]") {
		t.Fatal("no placeholder stored: was the alert stored at all?")
	}
}

func TestBadConfigIsReportedWithFieldPaths(t *testing.T) {
	cfg := config.Default()
	cfg.Notify.Receivers = []config.Receiver{{Name: "x", Type: "nope"}}
	cfg.Notify.DefaultReceivers = []string{"x"}
	err := notify.Check(cfg.Notify, recorderFactory(map[string]*notifytest.Recorder{}))
	if err == nil || !strings.Contains(err.Error(), "notify.receivers[0].type") || !errors.Is(err, config.ErrInvalidEnum) {
		t.Fatalf("Check = %v", err)
	}
}

// BenchmarkHandle measures the stage's own cost per alert message — state
// read and write, silences and acks, routing, redaction, audit — with a
// sink that does nothing, on a private redis-server.
func BenchmarkHandle(b *testing.B) {
	cfg, err := config.Parse([]byte(twoReceivers))
	if err != nil {
		b.Fatal(err)
	}
	st := alertstate.New(redistest.New(b))
	s, err := notify.New(cfg.Notify, recorderFactory(map[string]*notifytest.Recorder{}), st, notify.Options{})
	if err != nil {
		b.Fatal(err)
	}
	alerts := make([]*msg.Alert, 1000)
	for i := range alerts {
		a := notifytest.PIIAlert(fmt.Sprintf("forum-%d", i))
		a.Fingerprint = msg.Fingerprint(a.Labels, a.StartsAt)
		alerts[i] = a
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Handle(ctx, alerts[i%len(alerts)], pipeline.Meta{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestReplayAlertsNobodyTakesLeaveNoState(t *testing.T) {
	h := newHarness(t, twoReceivers)
	a := notifytest.Alert("forum-a")
	a.Replay = true
	h.handle(a)
	if n := len(h.recs["oncall"].Calls()); n != 0 {
		t.Fatalf("oncall paged %d times for a replay", n)
	}
	if all, _ := h.state.AllTracked(context.Background()); len(all) != 0 {
		t.Fatalf("%d episodes tracked for a replay nobody takes", len(all))
	}
	if got := h.results(); fmt.Sprint(got) != "[oncall:firing:replay]" {
		t.Fatalf("audit %v", got)
	}
}

func TestMetricsAreRegisteredAndCount(t *testing.T) {
	cfg, err := config.Parse([]byte(twoReceivers))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := notify.New(cfg.Notify, recorderFactory(map[string]*notifytest.Recorder{}), alertstate.New(redistest.New(t)), notify.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Handle(context.Background(), notifytest.Alert("forum-a"), pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP threatwatch_notify_notifications_total Notification decisions per receiver, by result: sent, failed, silenced, acked, replay, closed, deduped, ack_sent.
# TYPE threatwatch_notify_notifications_total counter
threatwatch_notify_notifications_total{receiver="oncall",result="sent"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "threatwatch_notify_notifications_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "threatwatch_notify_send_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("send duration series: %d, %v", n, err)
	}
}

func TestAcknowledgementsArePassedOnOnce(t *testing.T) {
	h := newHarness(t, `
notify:
  receivers:
    - {name: pd, type: ackrec}
    - {name: chat, type: rec}
  routes:
    - receivers: [pd, chat]
`)
	ctx := context.Background()
	a := notifytest.Alert("forum-a")
	h.handle(a)
	h.recs["pd/acks"].Fail = func(n int) (bool, error) {
		if n == 1 {
			return true, notifytest.ErrDown
		}
		return false, nil
	}
	if _, err := h.state.Acknowledge(ctx, a.Fingerprint, "ana", "mine"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.clock.add(time.Second)
		h.tick()
	}
	h.handle(a)
	if n := len(h.recs["pd/acks"].Calls()); n != 2 {
		t.Fatalf("pd acknowledge calls: %d, want 2 (one failure, one success, then never again)", n)
	}
	if got := h.recs["pd/acks"].Calls()[1].Alerts[0].Fingerprint; got != a.Fingerprint {
		t.Fatalf("acknowledged %s", got)
	}
	got := fmt.Sprint(h.results())
	if !strings.Contains(got, "pd:acknowledged:failed") || !strings.Contains(got, "pd:acknowledged:ack_sent") || strings.Contains(got, "chat:acknowledged") {
		t.Fatalf("audit %s", got)
	}
	// A second episode acknowledged before it was ever sent: nothing to pass on.
	b := notifytest.Alert("forum-b")
	if _, err := h.state.Acknowledge(ctx, b.Fingerprint, "ana", ""); err != nil {
		t.Fatal(err)
	}
	h.handle(b)
	if n := len(h.recs["pd/acks"].Calls()); n != 2 {
		t.Fatalf("acknowledged an alert the receiver never got: %d calls", n)
	}
}

// A receiver taken out of the config while a delivery to it was pending
// (often the very reason to replace it) leaves no delivery pending for
// ever: the backlog gauge empties, the episode can settle, and the audit
// log says what became of it.
func TestAPendingDeliveryToARemovedReceiverIsDropped(t *testing.T) {
	h := newHarness(t, `
notify:
  retry: {attempts: 2}
  receivers:
    - {name: old-pager, type: rec}
    - {name: team, type: rec}
  routes:
    - receivers: [old-pager, team]
`)
	h.recs["old-pager"].Fail = func(int) (bool, error) { return true, notifytest.ErrDown }
	a := notifytest.Alert("forum-a")
	h.handle(a)
	ctx := context.Background()
	tr, err := h.state.Tracked(ctx, a.Fingerprint)
	if err != nil || tr.Deliveries["old-pager"].Pending != msg.StatusFiring {
		t.Fatalf("the failing receiver's delivery is not pending: %+v %v", tr, err)
	}

	// The operator replaces it; the new config knows only team and new-pager.
	cfg, err := config.Parse([]byte(`
notify:
  receivers:
    - {name: new-pager, type: rec}
    - {name: team, type: rec}
  routes:
    - receivers: [new-pager, team]
`))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s2, err := notify.New(cfg.Notify, recorderFactory(map[string]*notifytest.Recorder{}), h.state, notify.Options{Now: h.clock.now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.add(time.Minute)
	if _, err := s2.Tick(ctx, h.clock.now()); err != nil {
		t.Fatal(err)
	}
	tr, err = h.state.Tracked(ctx, a.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Deliveries["old-pager"]; d.Pending != "" {
		t.Errorf("the removed receiver's delivery is still pending: %+v", d)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP threatwatch_notify_pending_deliveries Deliveries that failed and wait for a retry, as of the last tick.
# TYPE threatwatch_notify_pending_deliveries gauge
threatwatch_notify_pending_deliveries 0
`), "threatwatch_notify_pending_deliveries"); err != nil {
		t.Error(err)
	}
	if got := fmt.Sprint(h.results()); !strings.Contains(got, "old-pager:firing:dropped") {
		t.Errorf("the audit log does not say the delivery was dropped: %s", got)
	}
}

// BenchmarkTickKeepAlives measures a tick that re-sends keep-alives (as to
// Alertmanager) for 1,000 firing alerts, with a sink that answers at once
// or after 5 ms, and the state on a private redis-server: the time a tick
// takes per firing alert.
func BenchmarkTickKeepAlives(b *testing.B) {
	for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
		b.Run("receiver="+latency.String(), func(b *testing.B) { benchTickKeepAlives(b, latency) })
	}
}

// slowKeepAlive is a keep-alive sink that takes a while to answer.
type slowKeepAlive struct {
	keepAliveRecorder
	latency time.Duration
}

func (s slowKeepAlive) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	time.Sleep(s.latency)
	return s.keepAliveRecorder.Notify(ctx, alerts...)
}

func benchTickKeepAlives(b *testing.B, latency time.Duration) {
	cfg, err := config.Parse([]byte("notify:\n  tick: 0s\n  receivers:\n    - {name: am, type: slow}\n  default_receivers: [am]\n"))
	if err != nil {
		b.Fatal(err)
	}
	c := &clock{t: notifytest.Start}
	st := alertstate.New(redistest.New(b), alertstate.WithClock(c.now))
	rec := &notifytest.Recorder{}
	slow := notify.Factory{Type: "slow", Doc: "test", Settings: func() any { return &struct{}{} },
		New: func(_ *yaml.Node, _ notify.Deps) (notify.Sink, error) {
			return slowKeepAlive{keepAliveRecorder{rec}, latency}, nil
		}}
	s, err := notify.New(cfg.Notify, []notify.Factory{slow}, st, notify.Options{Now: c.now})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const firing = 1000
	for i := range firing {
		a := notifytest.Alert(fmt.Sprintf("forum-%d", i))
		a.Fingerprint = msg.Fingerprint(a.Labels, a.StartsAt)
		if _, err := s.Handle(ctx, a, pipeline.Meta{}); err != nil {
			b.Fatal(err)
		}
	}
	sent := len(rec.Calls())
	b.ResetTimer()
	for b.Loop() {
		c.add(time.Minute) // every keep-alive is due
		if _, err := s.Tick(ctx, c.now()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := len(rec.Calls()) - sent; got < b.N*firing {
		b.Fatalf("%d keep-alives sent over %d ticks, want %d a tick", got, b.N, firing)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*firing), "ns/alert")
}

// A resolution the receiver refused (a revoked token, a receiver being
// redeployed) is tried again after a repeat interval, as a refused firing
// is: otherwise the incident it should close stays open for good, since
// nothing else will ever send the resolution.
func TestARefusedResolutionIsTriedAgainAfterARepeatInterval(t *testing.T) {
	h := newHarness(t, twoReceivers)
	a := notifytest.Alert("forum-a")
	h.handle(a)
	var refused atomic.Bool
	refused.Store(true)
	h.recs["oncall"].Fail = func(int) (bool, error) {
		if refused.Load() {
			return false, errors.New("401 token revoked")
		}
		return false, nil
	}
	h.clock.add(time.Minute)
	h.handle(resolved(a))
	h.clock.add(10 * time.Minute)
	h.tick()
	if got := h.recs["oncall"].Statuses(); fmt.Sprint(got) != "[firing resolved]" {
		t.Fatalf("oncall got %v before a repeat interval passed, want the refused resolution not hammered", got)
	}
	refused.Store(false) // the operator fixed the token
	h.clock.add(time.Hour)
	h.tick()
	h.clock.add(time.Minute)
	h.tick()
	if got := h.recs["oncall"].Statuses(); fmt.Sprint(got) != "[firing resolved resolved]" {
		t.Fatalf("oncall got %v, want the refused resolution sent again once, after a repeat interval", got)
	}
	tr, err := h.state.Tracked(context.Background(), a.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Deliveries["oncall"]; d.Status != msg.StatusResolved || d.Failed != "" {
		t.Errorf("oncall delivery %+v, want the resolution delivered", d)
	}

	// A receiver that refuses every resolution is not tried for ever: the
	// episode is given up and forgotten like any resolved one.
	b := notifytest.Alert("forum-b")
	h.handle(b)
	refused.Store(true)
	h.handle(resolved(b))
	before := len(h.recs["oncall"].Calls())
	for range 24 * 15 {
		h.clock.add(time.Hour)
		h.tick()
	}
	if n := len(h.recs["oncall"].Calls()) - before; n < 24*6 || n > 24*7+1 {
		t.Errorf("a resolution refused for ever was tried %d more times, want one per repeat interval for resolved_retention", n)
	}
	if _, err := h.state.Tracked(context.Background(), b.Fingerprint); !errors.Is(err, alertstate.ErrNotFound) {
		t.Errorf("the episode whose resolution was refused for ever is still tracked: %v", err)
	}
}

// An alert no route matches, with no default receivers configured, reaches
// nobody: that must show, in the log and in the dropped counter, once per
// episode, not vanish without a trace.
func TestAnAlertNoRouteMatchesIsCountedAndLogged(t *testing.T) {
	cfg, err := config.Parse([]byte(`
notify:
  receivers:
    - {name: oncall, type: rec}
  routes:
    - matchers: ['severity="critical"']
      receivers: [oncall]
`))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var logs strings.Builder
	s, err := notify.New(cfg.Notify, recorderFactory(map[string]*notifytest.Recorder{}), alertstate.New(redistest.New(t)), notify.Options{
		Registerer: reg, Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := notifytest.Alert("forum-a")
	a.Labels["severity"] = "elevated"
	a.Fingerprint = msg.Fingerprint(a.Labels, a.StartsAt)
	for _, m := range []*msg.Alert{a, a, resolved(a)} { // a re-emission, then the end
		if _, err := s.Handle(context.Background(), m, pipeline.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP threatwatch_notify_dropped_total Alert messages or audit entries the notify stage could not act on, by reason.
# TYPE threatwatch_notify_dropped_total counter
threatwatch_notify_dropped_total{reason="no_receiver"} 1
`), "threatwatch_notify_dropped_total"); err != nil {
		t.Error(err)
	}
	if got := logs.String(); !strings.Contains(got, "matches no route") || !strings.Contains(got, a.Fingerprint) {
		t.Errorf("log %q: want a warning naming the alert", got)
	}
}

// Keep-alives re-send a firing alert to Alertmanager every minute. Were
// each audited, one firing alert would add some 1,400 entries a day, and
// the audit log, trimmed to its length, would soon lose the operators'
// actions (who silenced, who acknowledged) it is kept for.
func TestKeepAlivesDoNotFloodTheAuditLog(t *testing.T) {
	h := newHarness(t, `
notify:
  receivers:
    - {name: am, type: keepalive}
  default_receivers: [am]
`)
	a := notifytest.Alert("forum-a")
	h.handle(a)
	for range 120 {
		h.clock.add(time.Minute)
		h.tick()
	}
	if n := len(h.recs["am"].Calls()); n < 100 {
		t.Fatalf("%d calls in two hours: the keep-alives were not sent", n)
	}
	h.recs["am"].Fail = func(int) (bool, error) { return true, notifytest.ErrDown }
	h.clock.add(time.Minute)
	h.tick()
	h.recs["am"].Fail = nil
	h.clock.add(time.Minute)
	h.tick()
	h.handle(resolved(a))
	if got := fmt.Sprint(h.results()); got != "[am:firing:sent am:firing:failed am:firing:sent am:resolved:sent]" {
		t.Errorf("audit %s, want the first delivery, the failed keep-alive, the one that recovered it, and the resolution", got)
	}
}

// Passing acknowledgements on follows the rules of any other call to a
// receiver: once a tick saw it fail, the tick makes no more calls to it
// (each can cost a timeout, and the runner handles no new alert while the
// tick runs), and while it asked to be left alone (Retry-After), nobody
// calls it. A tick handles 16 episodes at a time, so up to 16 calls can
// be under way before the first failure is seen.
func TestAcknowledgementsWaitForAReceiverThatIsDownOrRateLimited(t *testing.T) {
	const (
		episodes   = 40
		tickWorker = 16
	)
	setup := func(t *testing.T) *harness {
		t.Helper()
		// Not newHarness: its retry.max of 5ms would cut the Retry-After.
		cfg, err := config.Parse([]byte(`
notify:
  retry: {attempts: 1, max: 1m}
  receivers:
    - {name: pd, type: ackrec}
  routes:
    - receivers: [pd]
`))
		if err != nil {
			t.Fatal(err)
		}
		c := &clock{t: notifytest.Start}
		st := alertstate.New(redistest.New(t), alertstate.WithClock(c.now))
		recs := map[string]*notifytest.Recorder{}
		s, err := notify.New(cfg.Notify, recorderFactory(recs), st, notify.Options{Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		h := &harness{t: t, stage: s, state: st, clock: c, recs: recs}
		ctx := context.Background()
		for i := range episodes {
			a := notifytest.Alert(fmt.Sprintf("forum-%02d", i))
			h.handle(a)
			if _, err := h.state.Acknowledge(ctx, a.Fingerprint, "ana", ""); err != nil {
				t.Fatal(err)
			}
		}
		return h
	}
	t.Run("a receiver seen down gets no more calls in that tick", func(t *testing.T) {
		h := setup(t)
		h.recs["pd/acks"].Fail = func(int) (bool, error) { return true, notifytest.ErrDown }
		before := 0
		for i := 1; i <= 3; i++ {
			h.clock.add(10 * time.Second)
			h.tick()
			n := len(h.recs["pd/acks"].Calls())
			if n == before || n-before > tickWorker {
				t.Fatalf("tick %d: %d acknowledge calls to a receiver that is down, want 1 to %d", i, n-before, tickWorker)
			}
			before = n
		}
	})
	t.Run("a receiver that asked to wait gets no call until then", func(t *testing.T) {
		h := setup(t)
		until := h.clock.now().Add(10*time.Second + 45*time.Second)
		h.recs["pd/acks"].Fail = func(int) (bool, error) {
			if h.clock.now().Before(until) {
				return true, &notify.HTTPError{Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second}
			}
			return false, nil
		}
		h.clock.add(10 * time.Second)
		h.tick()
		first := len(h.recs["pd/acks"].Calls())
		if first == 0 || first > tickWorker {
			t.Fatalf("first tick: %d acknowledge calls, want 1 to %d", first, tickWorker)
		}
		for range 4 {
			h.clock.add(10 * time.Second)
			h.tick()
		}
		if n := len(h.recs["pd/acks"].Calls()); n != first {
			t.Fatalf("%d acknowledge calls in the 40s after the receiver asked to wait 45s, want none", n-first)
		}
		h.clock.add(10 * time.Second)
		h.tick()
		if n := len(h.recs["pd/acks"].Calls()); n != first+episodes {
			t.Fatalf("%d acknowledge calls once the wait was over, want one per episode (%d)", n-first, episodes)
		}
	})
}

// An acknowledgement made while a notification waits for a retry is
// honoured as it is for any other: a repeat is not repeated, and a first
// notification the receiver certainly never got (refused with a 429, held
// back by its Retry-After) is not sent at all, as one acknowledged before
// its first try is not. A first notification the receiver may have got (a
// 5xx, a timeout) is retried, so that whatever it opened gets the
// acknowledgement passed on.
func TestAnAcknowledgementStopsANotificationWaitingForARetry(t *testing.T) {
	notDelivered := &notify.HTTPError{Status: http.StatusTooManyRequests}
	mayHaveArrived := &notify.HTTPError{Status: http.StatusServiceUnavailable}
	for _, tc := range []struct {
		name string
		// sentFirst: the firing got through before the failures began, so
		// the one waiting is a repeat.
		sentFirst bool
		err       error
		want      string // statuses the receiver got, calls that failed included
		wantAck   int    // acknowledge calls
	}{
		{"a first notification refused with a 429 is not sent", false, notDelivered, "[firing firing firing firing]", 0},
		{"a first notification that may have arrived is retried and acknowledged", false, mayHaveArrived, "[firing firing firing firing firing]", 1},
		{"a repeat is not repeated", true, mayHaveArrived, "[firing firing]", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, `
notify:
  repeat_interval: 1h
  receivers:
    - {name: pd, type: ackrec}
  routes:
    - receivers: [pd]
`)
			ctx := context.Background()
			var failing atomic.Bool
			h.recs["pd"].Fail = func(int) (bool, error) {
				if failing.Load() {
					return true, tc.err
				}
				return false, nil
			}
			a := notifytest.Alert("forum-a")
			if tc.sentFirst {
				h.handle(a)
				h.clock.add(time.Hour)
			}
			failing.Store(true)
			if tc.sentFirst {
				h.tick() // the repeat fails
			} else {
				h.handle(a)
			}
			tr, err := h.state.Tracked(ctx, a.Fingerprint)
			if err != nil || tr.Deliveries["pd"].Pending != msg.StatusFiring {
				t.Fatalf("before the ack: %+v, %v; want a firing pending", tr, err)
			}
			if _, err := h.state.Acknowledge(ctx, a.Fingerprint, "ana", "on it"); err != nil {
				t.Fatal(err)
			}
			failing.Store(false)
			for range 3 {
				h.clock.add(time.Minute)
				h.tick()
			}
			if got := fmt.Sprint(h.recs["pd"].Statuses()); got != tc.want {
				t.Errorf("pd got %s, want %s", got, tc.want)
			}
			if n := len(h.recs["pd/acks"].Calls()); n != tc.wantAck {
				t.Errorf("%d acknowledge calls, want %d", n, tc.wantAck)
			}
			if tr, err := h.state.Tracked(ctx, a.Fingerprint); err != nil || tr.Deliveries["pd"].Pending != "" {
				t.Errorf("after the ack: %+v, %v; want nothing pending", tr, err)
			}
		})
	}
}

// After a config reload that routes an alert elsewhere, the receiver it
// was routed to before gets no more repeats or keep-alives of it, only its
// resolution, so what it opened is closed; the receivers it routes to now
// get the firing at the next tick. Before, the old receiver went on being
// paged every repeat interval for an alert no longer its own.
func TestARoutingChangeMovesRepeatsToTheNewReceivers(t *testing.T) {
	for _, typ := range []string{"rec", "keepalive"} {
		t.Run("a receiver of type "+typ, func(t *testing.T) {
			conf := func(to, other string) string {
				return `
notify:
  repeat_interval: 1h
  receivers:
    - {name: old, type: ` + typ + `}
    - {name: new, type: ` + typ + `}
  routes:
    - receivers: [` + to + `]
  default_receivers: [` + other + `] # unused, so the config is valid
`
			}
			h := newHarness(t, conf("old", "new"))
			a := notifytest.Alert("forum-a")
			h.handle(a)

			cfg, err := config.Parse([]byte(conf("new", "old")))
			if err != nil {
				t.Fatal(err)
			}
			recs := map[string]*notifytest.Recorder{}
			s2, err := notify.New(cfg.Notify, recorderFactory(recs), h.state, notify.Options{Now: h.clock.now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for range 3 {
				h.clock.add(time.Hour)
				if _, err := s2.Tick(ctx, h.clock.now()); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s2.Handle(ctx, resolved(a), pipeline.Meta{}); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(recs["old"].Statuses()); got != "[resolved]" {
				t.Errorf("the receiver routed to before got %s after the change, want only the resolution", got)
			}
			if got := recs["new"].Statuses(); len(got) < 2 || got[0] != msg.StatusFiring || got[len(got)-1] != msg.StatusResolved {
				t.Errorf("the receiver routed to now got %v, want the firing, then its resolution", got)
			}
		})
	}
}
