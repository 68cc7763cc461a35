package notify_test

import (
	"context"
	"fmt"
	"sync"
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
	cfg, err := config.Parse([]byte(`
notify:
  receivers:
    - {name: am, type: gated}
  default_receivers: [am]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: notifytest.Start}
	state := alertstate.New(redistest.New(t), alertstate.WithClock(c.now))
	// Both instances deliver to the same Alertmanager: one recorder.
	am := &notifytest.Recorder{}
	entered, release := make(chan struct{}), make(chan struct{})
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
	ticker, handler := instance(true), instance(false)
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
