package notify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// gatedKeepAlive is a keep-alive sink (like Alertmanager's) whose calls
// can be held at a gate, to interleave two notify instances.
type gatedKeepAlive struct {
	*notifytest.Recorder
	gate func()
}

func (g gatedKeepAlive) KeepAlive() time.Duration { return time.Minute }

func (g gatedKeepAlive) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	if g.gate != nil {
		g.gate()
	}
	return g.Recorder.Notify(ctx, alerts...)
}

// Two notify instances share the state in Redis: one handles the alerts of
// its partitions while the other runs the tick. The instance handling an
// alert's resolution must not have it undone by the tick, which read the
// episode as firing just before and writes it back after its keep-alive:
// the episode would then be kept alive, and repeated, as firing for good.
func TestATickDoesNotUndoAResolutionAnotherInstanceHandled(t *testing.T) {
	// Both instances deliver to the same Alertmanager: one recorder.
	ticker, handler, am, c, state, entered, release := gatedInstances(t)
	ctx := context.Background()
	a := notifytest.Alert("forum-a")
	if _, err := handler.Handle(ctx, a, pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}

	c.add(2 * time.Minute) // a keep-alive is due
	done := make(chan error)
	go func() {
		_, err := ticker.Tick(ctx, c.now())
		done <- err
	}()
	<-entered // the tick read the episode as firing and is sending its keep-alive
	if _, err := handler.Handle(ctx, resolved(a), pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tr, err := state.Tracked(ctx, a.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Alert.Status != msg.StatusResolved {
		t.Errorf("the episode is stored as %s after its resolution was handled", tr.Alert.Status)
	}
	// Alertmanager got the keep-alive after the resolution: the next tick
	// sends the resolution again, and then nothing more.
	for range 10 {
		c.add(time.Minute)
		if _, err := ticker.Tick(ctx, c.now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(am.Statuses()); got != "[firing resolved firing resolved]" {
		t.Errorf("Alertmanager got %s, want its last word to be the resolution", got)
	}
}

// slowKeepAliveSink is a keep-alive sink (like Alertmanager's) that takes
// a while to answer once slow is set.
type slowKeepAliveSink struct {
	*notifytest.Recorder
	slow  *atomic.Bool
	delay time.Duration
}

func (s slowKeepAliveSink) KeepAlive() time.Duration { return time.Minute }

func (s slowKeepAliveSink) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	if s.slow.Load() {
		time.Sleep(s.delay)
	}
	return s.Recorder.Notify(ctx, alerts...)
}

// A tick that takes longer than its lease (a slow receiver, many firing
// alerts) must keep the lease: otherwise a second notify instance starts a
// tick meanwhile, reads the episodes the first has not reached yet as due,
// and both send them. When the instance holding the lease stops, the
// lease still expires, and the other instance takes the tick over.
func TestASlowTickKeepsItsLeaseFromAnotherInstance(t *testing.T) {
	redistest.NeedOwnServer(t, "key expiry in real time")
	cfg := slowTickConfig(t)
	c := &clock{t: notifytest.Start}
	// One Redis, as two notify processes share it (a store each would get
	// a key prefix of its own).
	store := redistest.New(t)
	// Both instances deliver to the same Alertmanager: one recorder.
	am := &notifytest.Recorder{}
	var slow atomic.Bool
	instance := func() *notify.Stage {
		f := notify.Factory{Type: "slow", Doc: "test", Settings: func() any { return &struct{}{} },
			New: func(_ *yaml.Node, _ notify.Deps) (notify.Sink, error) {
				return slowKeepAliveSink{Recorder: am, slow: &slow, delay: 120 * time.Millisecond}, nil
			}}
		s, err := notify.New(cfg.Notify, []notify.Factory{f}, alertstate.New(store, alertstate.WithClock(c.now)), notify.Options{Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := instance(), instance()
	ctx := context.Background()
	const firing = 64 // 4 rounds of the tick's 16 workers: about 4 leases long
	for i := range firing {
		if _, err := a.Handle(ctx, notifytest.Alert(fmt.Sprintf("forum-%d", i)), pipeline.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(am.Calls())
	slow.Store(true)
	c.add(2 * time.Minute) // every keep-alive is due
	done := make(chan error)
	go func() {
		_, err := a.Tick(ctx, c.now())
		done <- err
	}()
	for range 4 {
		time.Sleep(150 * time.Millisecond) // past a's lease, unless renewed
		if _, err := b.Tick(ctx, c.now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sent := map[string]int{}
	for _, call := range am.Calls()[before:] {
		sent[call.Alerts[0].Labels["site"]]++
	}
	dups := 0
	for _, n := range sent {
		dups += n - 1
	}
	if len(sent) != firing || dups != 0 {
		t.Fatalf("%d alerts kept alive, %d keep-alives sent twice: two instances ran the tick at once", len(sent), dups)
	}

	// The instance holding the lease stops ticking: the other takes over
	// once the lease has expired.
	slow.Store(false)
	c.add(2 * time.Minute)
	before = len(am.Calls())
	deadline := time.Now().Add(5 * time.Second)
	for len(am.Calls()) == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if _, err := b.Tick(ctx, c.now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(am.Calls()) - before; n != firing {
		t.Fatalf("the second instance sent %d keep-alives after the first stopped, want %d", n, firing)
	}
}

// A tick whose lease another instance took over (it expired while Redis
// was slow to answer) starts no more episodes: the new holder's tick sends
// them.
func TestATickThatLostItsLeaseStartsNoMoreEpisodes(t *testing.T) {
	redistest.NeedOwnServer(t, "key expiry in real time")
	cfg := slowTickConfig(t)
	c := &clock{t: notifytest.Start}
	store := redistest.New(t)
	state := alertstate.New(store, alertstate.WithClock(c.now))
	am := &notifytest.Recorder{}
	var slow atomic.Bool
	f := notify.Factory{Type: "slow", Doc: "test", Settings: func() any { return &struct{}{} },
		New: func(_ *yaml.Node, _ notify.Deps) (notify.Sink, error) {
			return slowKeepAliveSink{Recorder: am, slow: &slow, delay: 200 * time.Millisecond}, nil
		}}
	s, err := notify.New(cfg.Notify, []notify.Factory{f}, state, notify.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const firing = 64 // 4 rounds of the tick's 16 workers
	for i := range firing {
		if _, err := s.Handle(ctx, notifytest.Alert(fmt.Sprintf("forum-%d", i)), pipeline.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(am.Calls())
	slow.Store(true)
	c.add(2 * time.Minute)
	done := make(chan error)
	go func() {
		_, err := s.Tick(ctx, c.now())
		done <- err
	}()
	time.Sleep(150 * time.Millisecond)
	if err := store.Del(ctx, store.Key("alertstate", "lease", "notify-tick")).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := state.Lease(ctx, "notify-tick", "another-instance", time.Minute); err != nil || !ok {
		t.Fatalf("cannot take the lease over: %v %v", ok, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(am.Calls()) - before; n >= firing {
		t.Fatalf("the tick sent all %d keep-alives after another instance took its lease over", n)
	}
}

// As above, but the tick's keep-alive times out: Alertmanager may have got
// it after the resolution all the same, so the resolution is sent again.
func TestAKeepAliveThatTimedOutAfterAResolutionIsFollowedByTheResolution(t *testing.T) {
	ticker, handler, am, c, _, entered, release := gatedInstances(t)
	ctx := context.Background()
	a := notifytest.Alert("forum-a")
	if _, err := handler.Handle(ctx, a, pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}
	c.add(2 * time.Minute)
	// The keep-alive reaches Alertmanager, but its answer times out.
	am.Fail = func(n int) (bool, error) {
		if n == 3 { // 1: the firing, 2: the resolution, 3: the keep-alive
			return true, errors.New("cannot reach http://alertmanager:9093: context deadline exceeded")
		}
		return false, nil
	}
	done := make(chan error)
	go func() {
		_, err := ticker.Tick(ctx, c.now())
		done <- err
	}()
	<-entered
	if _, err := handler.Handle(ctx, resolved(a), pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range 10 {
		c.add(time.Minute)
		if _, err := ticker.Tick(ctx, c.now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(am.Statuses()); got != "[firing resolved firing resolved]" {
		t.Errorf("Alertmanager got %s, want its last word to be the resolution", got)
	}
}

// gatedInstances makes two notify stages on one Redis and one clock, both
// delivering to the Alertmanager am: ticker's first keep-alive stops, with
// entered closed, until release is closed; handler's sends at once. state
// is the episodes' store they share.
func gatedInstances(t *testing.T) (ticker, handler *notify.Stage, am *notifytest.Recorder, c *clock, state *alertstate.State, entered, release chan struct{}) {
	t.Helper()
	cfg, err := config.Parse([]byte(`
notify:
  receivers:
    - {name: am, type: gated}
  default_receivers: [am]
`))
	if err != nil {
		t.Fatal(err)
	}
	c = &clock{t: notifytest.Start}
	state = alertstate.New(redistest.New(t), alertstate.WithClock(c.now))
	am = &notifytest.Recorder{}
	entered, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	instance := func(gated bool) *notify.Stage {
		f := notify.Factory{Type: "gated", Doc: "test", Settings: func() any { return &struct{}{} },
			New: func(_ *yaml.Node, _ notify.Deps) (notify.Sink, error) {
				g := gatedKeepAlive{Recorder: am}
				if gated {
					g.gate = func() { once.Do(func() { close(entered); <-release }) }
				}
				return g, nil
			}}
		s, err := notify.New(cfg.Notify, []notify.Factory{f}, state, notify.Options{Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return instance(true), instance(false), am, c, state, entered, release
}

// slowTickConfig ticks every 100 ms (a lease of 300 ms) and notifies the
// one receiver am, of the test sink type "slow".
func slowTickConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
notify:
  tick: 100ms
  receivers:
    - {name: am, type: slow}
  default_receivers: [am]
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A receiver's Retry-After holds every notify instance back, not only the
// one that was told: with the wait kept per process, each instance found
// out for itself, with a call of its own, and a rate-limited receiver got
// one call more per instance (and per new alert on an instance that had
// not been told) while it asked for none. A 429 without Retry-After is a
// rate limit all the same: the backoff the told instance decided for it
// holds the others back too.
func TestARetryAfterHoldsBackEveryInstance(t *testing.T) {
	limits := []struct {
		name string
		err  *notify.HTTPError
	}{
		{"a Retry-After", &notify.HTTPError{Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second}},
		// Backoff of one failure: 10s less up to 20% jitter, past the 5s
		// below.
		{"a 429 without Retry-After", &notify.HTTPError{Status: http.StatusTooManyRequests}},
	}
	for _, lim := range limits {
		for _, other := range []string{"handles a new alert", "ticks a keep-alive"} {
			t.Run("after "+lim.name+" the other instance "+other, func(t *testing.T) {
				testRateLimitHoldsBackEveryInstance(t, lim.err, other)
			})
		}
	}
}

func testRateLimitHoldsBackEveryInstance(t *testing.T, limit *notify.HTTPError, other string) {
	cfg, err := config.Parse([]byte(`
notify:
  retry: {attempts: 1, initial: 10s, max: 1m}
  receivers:
    - {name: am, type: shared}
  default_receivers: [am]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: notifytest.Start}
	store := redistest.New(t)
	am := &notifytest.Recorder{}
	var limited atomic.Bool
	am.Fail = func(int) (bool, error) {
		if limited.Load() {
			return true, limit
		}
		return false, nil
	}
	instance := func() *notify.Stage {
		f := notify.Factory{Type: "shared", Doc: "test", Settings: func() any { return &struct{}{} },
			New: func(_ *yaml.Node, _ notify.Deps) (notify.Sink, error) {
				return keepAliveRecorder{am}, nil
			}}
		s, err := notify.New(cfg.Notify, []notify.Factory{f}, alertstate.New(store, alertstate.WithClock(c.now)), notify.Options{Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	told, untold := instance(), instance()
	ctx := context.Background()
	x := notifytest.Alert("forum-x")
	if _, err := told.Handle(ctx, x, pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute) // x's keep-alive is due
	limited.Store(true)
	if _, err := told.Handle(ctx, notifytest.Alert("forum-y"), pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}
	before := len(am.Calls())
	c.add(5 * time.Second)
	switch other {
	case "handles a new alert":
		_, err = untold.Handle(ctx, notifytest.Alert("forum-z"), pipeline.Meta{})
	case "ticks a keep-alive":
		_, err = untold.Tick(ctx, c.now())
	}
	if err != nil {
		t.Fatal(err)
	}
	if n := len(am.Calls()) - before; n != 0 {
		t.Errorf("the rate-limited receiver got %d calls from the other instance while it asked for none", n)
	}

	// Once the wait is over, what was held back goes out.
	limited.Store(false)
	c.add(time.Minute)
	if _, err := untold.Tick(ctx, c.now()); err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	for _, call := range am.Calls()[before:] {
		for _, a := range call.Alerts {
			sent[a.Labels["site"]] = true
		}
	}
	if !sent["forum-y"] || other == "handles a new alert" && !sent["forum-z"] {
		t.Errorf("after the wait the receiver got %v, want what was held back", sent)
	}
}
