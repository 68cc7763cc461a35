package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// TestTheRecordOfWhatWasSentIsRestoredFromTheAlertsTopic: Redis restarts
// empty under the notify stage. Without the record of what was sent, the
// keep-alives that hold an alert firing in Alertmanager stop (it resolves
// an alert that is still firing), and the resolution that comes later
// reaches nobody, since no receiver is known to have been told of the
// firing. The stage reads the alerts topic back instead.
func TestTheRecordOfWhatWasSentIsRestoredFromTheAlertsTopic(t *testing.T) {
	for _, restore := range []bool{true, false} {
		name := "restore"
		if !restore {
			name = "no history"
		}
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(`
notify:
  repeat_interval: 4h
  receivers:
    - {name: am, type: keepalive}
    - {name: pager, type: rec}
  default_receivers: [am, pager]
`))
			if err != nil {
				t.Fatal(err)
			}
			now := notifytest.Start
			clk := func() time.Time { return now }
			st := redistest.New(t)
			state := alertstate.New(st, alertstate.WithClock(clk))
			recs := map[string]*notifytest.Recorder{}
			topic := &kafkatest.MemTopic{}
			o := notify.Options{Now: clk}
			if restore {
				o.History, o.AlertsTopic = topic, "alerts"
			}
			reg := prometheus.NewRegistry()
			o.Registerer = reg
			s, err := notify.New(cfg.Notify, recorderFactory(recs), state, o)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			handle := func(a *msg.Alert) {
				t.Helper()
				b, err := msg.Encode(a)
				if err != nil {
					t.Fatal(err)
				}
				topic.Add(b, now)
				off := int64(len(topic.Values) - 1)
				if _, err := s.Handle(ctx, a, pipeline.Meta{Topic: "alerts", Offset: off}); err != nil {
					t.Fatal(err)
				}
				topic.CommittedOffset = off + 1
			}
			tick := func() {
				t.Helper()
				if _, err := s.Tick(ctx, now); err != nil {
					t.Fatal(err)
				}
			}
			a := notifytest.Alert("forum-a")
			b := notifytest.Alert("forum-b")
			handle(a)
			handle(b)
			now = now.Add(10 * time.Minute)
			handle(resolved(b))
			if got := recs["pager"].Statuses(); len(got) != 3 {
				t.Fatalf("scenario: pager got %v, want firing, firing, resolved", got)
			}

			// Redis loses everything.
			lose(t, st)
			now = now.Add(2 * time.Minute)
			tick()
			amBefore := len(recs["am"].Calls())
			now = now.Add(2 * time.Minute)
			tick()
			keptAlive := len(recs["am"].Calls()) > amBefore
			// b fires again late (a redelivery): it ended, nobody is paged.
			handle(b)
			// a calms down.
			now = now.Add(time.Hour)
			handle(resolved(a))
			pager := recs["pager"].Statuses()
			if !restore {
				if keptAlive || len(pager) != 4 || pager[3] != msg.StatusFiring {
					t.Errorf("without the topic: kept alive %v, pager %v; want no keep-alive, b paged again and a's resolution lost", keptAlive, pager)
				}
				return
			}
			if !keptAlive {
				t.Error("a, still firing, was not kept alive after the loss")
			}
			if len(pager) != 4 || pager[3] != msg.StatusResolved {
				t.Errorf("pager after the loss got %v, want only a's resolution", pager)
			}
			if n := gathered(t, reg, "threatwatch_notify_restored_episodes_total"); n != 2 {
				t.Errorf("%v episodes restored, want 2", n)
			}
		})
	}
}

// lose deletes every key of the store, as a Redis restarted empty.
func lose(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	keys, err := st.Keys(ctx, st.Prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if err := st.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
}

// gathered is the value of the counter name in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
