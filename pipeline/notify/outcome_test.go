package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// A firing whose delivery failed in a way that leaves open whether the
// receiver got it (a timeout, a 5xx) may have opened an incident: when
// the alert resolves before a retry of the firing got through, the
// resolution must still be sent, or a PagerDuty incident stays open for
// good. A firing the receiver certainly never got (refused with a 4xx, a
// connection refused) gets no resolution: on Slack it would announce the
// end of something never announced.
func TestAResolutionIsSentWhenTheFiringMayHaveReachedTheReceiver(t *testing.T) {
	f := func(name, firing string, wantResolution bool) {
		t.Run(name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				got     []string // statuses the server received
				firings atomic.Int32
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var a msg.Alert
				if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				if a.Status == msg.StatusFiring {
					mode := firing
					if firing == "timeout, then 429" {
						mode = "timeout"
						if firings.Add(1) > 1 {
							mode = "429"
						}
					}
					switch mode {
					case "timeout":
						// Received, but the answer comes too late.
						mu.Lock()
						got = append(got, a.Status)
						mu.Unlock()
						time.Sleep(300 * time.Millisecond)
						return
					case "503":
						mu.Lock()
						got = append(got, a.Status)
						mu.Unlock()
						w.WriteHeader(http.StatusServiceUnavailable)
						return
					case "400":
						w.WriteHeader(http.StatusBadRequest)
						return
					case "429":
						w.WriteHeader(http.StatusTooManyRequests)
						return
					}
				}
				mu.Lock()
				got = append(got, a.Status)
				mu.Unlock()
			}))
			defer srv.Close()
			dead := httptest.NewServer(http.NotFoundHandler())
			deadURL := dead.URL
			dead.Close() // nothing listens there any more: connection refused

			cfg, err := config.Parse([]byte(`
notify:
  retry: {attempts: 2}
  receivers:
    - {name: pd, type: http}
  default_receivers: [pd]
`))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Notify.Retry.Initial, cfg.Notify.Retry.Max = time.Millisecond, 5*time.Millisecond
			fac := notify.Factory{Type: "http", Doc: "test", Settings: func() any { return &struct{}{} },
				New: func(_ *yaml.Node, d notify.Deps) (notify.Sink, error) {
					return sinkFunc(func(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
						url := srv.URL
						if firing == "refused" && alerts[0].Status == msg.StatusFiring {
							url = deadURL
						}
						body, _ := json.Marshal(alerts[0])
						return notify.Do(ctx, d.Client, notify.Request{URL: url, Body: body})
					}), nil
				}}
			c := &clock{t: notifytest.Start}
			state := alertstate.New(redistest.New(t), alertstate.WithClock(c.now))
			s, err := notify.New(cfg.Notify, []notify.Factory{fac}, state, notify.Options{
				Now: c.now, Client: &http.Client{Timeout: 100 * time.Millisecond},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a := notifytest.Alert("forum-a")
			if _, err := s.Handle(ctx, a, pipeline.Meta{}); err != nil {
				t.Fatal(err)
			}
			c.add(time.Minute)
			if _, err := s.Handle(ctx, resolved(a), pipeline.Meta{}); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				c.add(time.Minute)
				if _, err := s.Tick(ctx, c.now()); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			resolutions := 0
			for _, st := range got {
				if st == msg.StatusResolved {
					resolutions++
				}
			}
			switch {
			case wantResolution && resolutions != 1:
				t.Errorf("the receiver got %v, want the resolution once after a firing it may have got", got)
			case !wantResolution && resolutions != 0:
				t.Errorf("the receiver got %v, want no resolution of a firing it never got", got)
			}
			tr, err := state.Tracked(ctx, a.Fingerprint)
			if err != nil {
				t.Fatal(err)
			}
			if d := tr.Deliveries["pd"]; d.Pending != "" {
				t.Errorf("delivery %+v is still pending", d)
			}
		})
	}
	f("a firing that timed out is resolved", "timeout", true)
	f("a firing answered with a 503 is resolved", "503", true)
	f("a firing that timed out, then was refused with a 429, is resolved", "timeout, then 429", true)
	f("a firing refused with a 400 is not resolved", "400", false)
	f("a firing refused with a 429 is not resolved", "429", false)
	f("a firing whose connection was refused is not resolved", "refused", false)
}

// A receiver that refused a firing for good and is then retried after a
// repeat interval, failing retryably this time (it is being redeployed),
// is retried with the normal backoff, not only at the next repeat
// interval.
func TestARetryableFailureAfterARefusalIsRetriedWithBackoff(t *testing.T) {
	h := newHarness(t, twoReceivers)
	var mode atomic.Int32 // 0 refuse, 1 down, 2 up
	h.recs["oncall"].Fail = func(int) (bool, error) {
		switch mode.Load() {
		case 0:
			return false, errors.New("400 invalid routing key")
		case 1:
			return true, notifytest.ErrDown
		}
		return false, nil
	}
	a := notifytest.Alert("forum-a")
	h.handle(a) // refused: tried again after the repeat interval (1h)
	mode.Store(1)
	h.clock.add(time.Hour + time.Minute)
	h.tick() // down: retryable
	mode.Store(2)
	calls := len(h.recs["oncall"].Calls())
	for range 3 {
		h.clock.add(time.Minute)
		h.tick()
	}
	if n := len(h.recs["oncall"].Calls()) - calls; n != 1 {
		t.Fatalf("oncall got %d calls in the 3 minutes after a retryable failure, want the retry within the backoff", n)
	}
	tr, err := h.state.Tracked(context.Background(), a.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Deliveries["oncall"]; d.Status != msg.StatusFiring || d.Pending != "" || d.Failed != "" {
		t.Errorf("oncall delivery %+v, want the firing delivered", d)
	}
}

// A receiver that asked to be left alone for a while (429 with
// Retry-After) is not retried by the tick before then, as the retry stage
// would not within one retry run (up to retry.max).
func TestTheTickHonorsRetryAfter(t *testing.T) {
	s, c, _, recs := rateLimitedSlack(t)
	ctx := context.Background()
	if _, err := s.Handle(ctx, notifytest.Alert("forum-a"), pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		c.add(10 * time.Second)
		if _, err := s.Tick(ctx, c.now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(recs["slack"].Calls()); n != 1 {
		t.Fatalf("slack got %d calls in the 40s after it asked to wait 45s, want none but the first", n)
	}
	c.add(10 * time.Second)
	if _, err := s.Tick(ctx, c.now()); err != nil {
		t.Fatal(err)
	}
	if got := recs["slack"].Statuses(); len(got) != 2 {
		t.Fatalf("slack got %v, want the firing retried once the wait it asked for is over", got)
	}
}

// A receiver that answered 429 with Retry-After asked for no calls until
// then, for any alert. New alerts used to get one call each all the same
// (a PagerDuty or Slack rate limit, hit again with every new page); they
// are now held back, audited as deferred, and sent by the tick once the
// wait is over.
func TestNewAlertsWaitOutTheReceiversRetryAfter(t *testing.T) {
	s, c, state, recs := rateLimitedSlack(t)
	ctx := context.Background()
	sites := []string{"forum-a", "forum-b", "forum-c", "forum-d"}
	for _, site := range sites {
		if _, err := s.Handle(ctx, notifytest.Alert(site), pipeline.Meta{}); err != nil {
			t.Fatal(err)
		}
		c.add(5 * time.Second)
	}
	for range 2 {
		c.add(10 * time.Second)
		if _, err := s.Tick(ctx, c.now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(recs["slack"].Calls()); n != 1 {
		t.Fatalf("slack got %d calls in the 40s after it asked to wait 45s, want none but the first", n)
	}
	entries, _, err := state.Audit(ctx, alertstate.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	deferred := 0
	for _, e := range entries {
		if e.Result == alertstate.ResultDeferred {
			deferred++
		}
	}
	if deferred != 3 {
		t.Errorf("%d deferrals audited, want one for each of the 3 alerts held back", deferred)
	}
	c.add(10 * time.Second)
	if _, err := s.Tick(ctx, c.now()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, call := range recs["slack"].Calls() {
		for _, a := range call.Alerts {
			got[a.Labels["site"]]++
		}
	}
	for _, site := range sites {
		want := 1
		if site == "forum-a" {
			want = 2 // refused, then sent
		}
		if got[site] != want {
			t.Errorf("%s sent %d times once the wait was over, want %d (all: %v)", site, got[site], want, got)
		}
	}
}

// rateLimitedSlack is a notify stage on a fake clock with one receiver,
// slack, that answers its first call with a 429 asking for 45 s.
func rateLimitedSlack(t *testing.T) (*notify.Stage, *clock, *alertstate.State, map[string]*notifytest.Recorder) {
	t.Helper()
	cfg, err := config.Parse([]byte(`
notify:
  retry: {attempts: 1, max: 1m}
  receivers:
    - {name: slack, type: rec}
  default_receivers: [slack]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: notifytest.Start}
	state := alertstate.New(redistest.New(t), alertstate.WithClock(c.now))
	recs := map[string]*notifytest.Recorder{}
	s, err := notify.New(cfg.Notify, recorderFactory(recs), state, notify.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	recs["slack"].Fail = func(n int) (bool, error) {
		if n == 1 {
			return true, &notify.HTTPError{Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second}
		}
		return false, nil
	}
	return s, c, state, recs
}

// A receiver's Retry-After longer than a tick is not waited out inside the
// handling of an alert: the stage's loop, which also runs the tick, was
// held for up to (retry.attempts - 1) x retry.max (3 minutes by default),
// delaying every other page and the keep-alives that hold Alertmanager's
// alerts firing. The delivery is left pending, and the tick sends it once
// the wait is over.
func TestALongRetryAfterDoesNotHoldUpTheAlertsTopic(t *testing.T) {
	for _, wait := range []time.Duration{time.Second, 2 * time.Second} {
		t.Run(fmt.Sprintf("Retry-After %v", wait), func(t *testing.T) {
			cfg, err := config.Parse([]byte(`
notify:
  tick: 100ms
  retry: {attempts: 3, initial: 1ms, max: 1m}
  receivers:
    - {name: slack, type: rec}
  default_receivers: [slack]
`))
			if err != nil {
				t.Fatal(err)
			}
			c := &clock{t: notifytest.Start}
			state := alertstate.New(redistest.New(t), alertstate.WithClock(c.now))
			recs := map[string]*notifytest.Recorder{}
			s, err := notify.New(cfg.Notify, recorderFactory(recs), state, notify.Options{Now: c.now})
			if err != nil {
				t.Fatal(err)
			}
			recs["slack"].Fail = func(n int) (bool, error) {
				if n == 1 {
					return true, &notify.HTTPError{Status: http.StatusTooManyRequests, RetryAfter: wait}
				}
				return false, nil
			}
			ctx := context.Background()
			a := notifytest.Alert("forum-a")
			if _, err := s.Handle(ctx, a, pipeline.Meta{}); err != nil {
				t.Fatal(err)
			}
			if n := len(recs["slack"].Calls()); n != 1 {
				t.Fatalf("handling the alert called slack %d times, waiting out its Retry-After; want 1 and the rest left to the tick", n)
			}
			c.add(wait)
			if _, err := s.Tick(ctx, c.now()); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(recs["slack"].Statuses()); got != "[firing firing]" {
				t.Errorf("slack got %s, want the refused firing and the tick's retry", got)
			}
		})
	}
}
