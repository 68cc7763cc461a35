package aggregate

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A forum goes dark in the middle of a campaign (its host drops it): its
// alert is firing and no post of it will come again. If the aggregator
// restarts then, the forum's partition delivers nothing, and a stage that
// loads a partition only at its first message never ticks it: the level
// stays frozen and the alert fires for good, re-sent every repeat
// interval. The stage learns its assignment from the group's coordinator
// and loads such partitions at its first tick.
func TestADarkSitesAlertResolvesAfterTheAggregatorRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the in-process cluster")
	}
	e := newStageEnv(t)
	s := newStream(9)
	s.feed("echo", 0, 2*day, 6, 0.8, true, nil)
	s.feed("echo", 2*day, 2*day+40*time.Minute, 150, 0.9, false, nil)
	e.posts = s.sorted()
	e.produce(t, e.posts)

	echo := func() (firing, resolved int) {
		for _, m := range e.readTopic(t, e.c.Topic(e.c.Config.Topics.Alerts)) {
			a, err := msg.Decode[msg.Alert](m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if a.Labels["site"] != "echo" {
				continue
			}
			if a.Status == msg.StatusResolved {
				resolved++
			} else {
				firing++
			}
		}
		return firing, resolved
	}

	// The first aggregator reads the stream in event time (no wall-clock
	// ticks) and stops with the campaign's alert firing.
	stop := e.run(t, e.newStage(t))
	e.waitApplied(t, len(e.posts))
	stop()
	if f, r := echo(); f == 0 || r != 0 {
		t.Fatalf("before the restart: %d firing and %d resolved notifications for echo, want it firing", f, r)
	}

	// The restarted aggregator gets no message at all, but ticks.
	e.cfg.TickEvery = 100 * time.Millisecond
	reg := prometheus.NewRegistry()
	st, err := NewStage(e.cfg, StageOptions{Name: "aggregate", Scope: Sites, Store: e.st, Registerer: reg,
		Levels: e.c.Topic(e.c.Config.Topics.Levels), Alerts: e.c.Topic(e.c.Config.Topics.Alerts)})
	if err != nil {
		t.Fatal(err)
	}
	e.runTicking(t, st, e.cfg.TickEvery, reg)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, r := echo(); r > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dark site's alert did not resolve after the restart")
		}
	}
	if n := testutil.ToFloat64(st.met.resumed.WithLabelValues("aggregate")); n != 1 {
		t.Errorf("%v partitions loaded before their first message, want 1 (echo's)", n)
	}
}

// TestAResumedPartitionWithNothingToReadJoinsTheWallClock: a partition
// loaded before its first message holds its clock for its backlog to
// arrive, but not for long: with none (a site gone dark), it joins the
// wall clock a few ticks later, so the site decays and its alert
// resolves.
func TestAResumedPartitionWithNothingToReadJoinsTheWallClock(t *testing.T) {
	s, opts := unitStage(t)
	r := newCampaignRig(t, s)
	r.live(r.tick)
	r.restart(opts)
	now := r.base.Add(2 * time.Hour)
	for range 9 {
		r.tick(now)
		now = now.Add(15 * time.Second)
	}
	if got, want := r.s.parts[0].eng.Clock(), now.Add(-15*time.Second); !got.Equal(want) {
		t.Errorf("two minutes after the partition was loaded with nothing to read, its clock is %v behind the wall clock", want.Sub(got))
	}
}
