package notify_test

import (
	"context"
	"slices"
	"strings"
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

// TestAFailoverToALaggingReplicaLosesNoResolutionAndRevivesNoEndedAlert:
// Redis fails over to a replica that had not caught up. The restore mark,
// written long before, survived; what the stage wrote in the last moments
// did not: a new episode's firing (c) and an older episode's resolution
// (b). Without noticing, the stage stopped keeping c alive, kept sending
// b as firing to Alertmanager (which re-opens it), and sent c's later
// resolution to nobody, leaving its PagerDuty incident open for good. It
// must notice the loss from its record of the offsets it handled, whether
// its tick, its next message or a restarted instance comes first, and
// read the lost part back from the alerts topic.
func TestAFailoverToALaggingReplicaLosesNoResolutionAndRevivesNoEndedAlert(t *testing.T) {
	for _, first := range []string{"the tick", "the next message", "a restarted instance"} {
		t.Run(first+" notices", func(t *testing.T) {
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
			newStage := func() *notify.Stage {
				s, err := notify.New(cfg.Notify, recorderFactory(recs), state, notify.Options{Now: clk, History: topic, AlertsTopic: "alerts"})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			s := newStage()
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
			a, b, c := notifytest.Alert("forum-a"), notifytest.Alert("forum-b"), notifytest.Alert("forum-c")
			handle(a)
			handle(b)
			tick()
			replica := snapshot(t, st)
			now = now.Add(time.Minute)
			handle(c)
			handle(resolved(b))
			if got := recs["pager"].Statuses(); len(got) != 4 || got[3] != msg.StatusResolved {
				t.Fatalf("scenario: pager got %v, want a, b and c firing, b resolved", got)
			}
			pagerBefore, amBefore := len(recs["pager"].Calls()), len(recs["am"].Calls())

			failOver(t, st, replica)
			switch first {
			case "the next message":
				now = now.Add(30 * time.Second)
				handle(resolved(c))
			case "a restarted instance":
				// The old instance is gone, and so is its tick's lease.
				if err := st.Del(ctx, st.Key("alertstate", "lease", "notify-tick")).Err(); err != nil {
					t.Fatal(err)
				}
				s = newStage() // with new recorders
				pagerBefore, amBefore = 0, 0
				now = now.Add(30 * time.Second)
				handle(resolved(c))
			}
			for range 3 {
				now = now.Add(2 * time.Minute)
				tick()
			}
			if first == "the tick" {
				handle(resolved(c))
			}

			var amFiring []string
			for _, call := range recs["am"].Calls()[amBefore:] {
				for _, al := range call.Alerts {
					if al.Status == msg.StatusFiring {
						amFiring = append(amFiring, al.Labels["site"])
					}
				}
			}
			for _, site := range amFiring {
				if site == "forum-b" {
					t.Errorf("Alertmanager was sent b as firing after its resolution (firing sent: %v)", amFiring)
					break
				}
			}
			if first == "the tick" && !slices.Contains(amFiring, "forum-c") {
				t.Errorf("c, still firing, was not kept alive after the failover (firing sent: %v)", amFiring)
			}
			var pagerAfter []string
			for _, call := range recs["pager"].Calls()[pagerBefore:] {
				for _, al := range call.Alerts {
					pagerAfter = append(pagerAfter, al.Labels["site"]+":"+al.Status)
				}
			}
			if !slices.Contains(pagerAfter, "forum-c:"+msg.StatusResolved) {
				t.Errorf("pager after the failover got %v, want c's resolution", pagerAfter)
			}
			for _, p := range pagerAfter {
				if strings.HasSuffix(p, ":"+msg.StatusFiring) {
					t.Errorf("pager was paged again after the failover: %v", pagerAfter)
					break
				}
			}
		})
	}
}

// snapshot dumps every key of the store, as a replica holds them.
func snapshot(t *testing.T, st *store.Store) map[string]dumped {
	t.Helper()
	ctx := context.Background()
	keys, err := st.Keys(ctx, st.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dumped{}
	for _, k := range keys {
		v, err := st.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		ttl, err := st.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = dumped{v, max(ttl, 0)}
	}
	return out
}

// dumped is one key's value and time to live (0: none).
type dumped struct {
	value string
	ttl   time.Duration
}

// failOver replaces every key of the store by a snapshot taken earlier:
// a failover to a replica that had received the writes up to then.
func failOver(t *testing.T, st *store.Store, replica map[string]dumped) {
	t.Helper()
	ctx := context.Background()
	lose(t, st)
	for k, v := range replica {
		if err := st.RestoreReplace(ctx, k, v.ttl, v.value).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
