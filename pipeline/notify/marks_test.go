package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
)

// An acknowledgement and an operator's resolution expire AckTTL (30 days)
// after they were made. An alert firing longer than that must not resume
// its repeats, nor page again after an operator closed it: the tick keeps
// both marks for as long as their episode is tracked, and lets them expire
// AckTTL after it is forgotten. Redis counts TTLs in real time, so the
// test ages a mark by cutting its TTL, as if its 30 days were nearly up.
func TestAcksAndClosedMarksLastAsLongAsTheirEpisodeIsTracked(t *testing.T) {
	h := newHarness(t, twoReceivers)
	ctx := context.Background()
	acked, closed := notifytest.Alert("forum-a"), notifytest.Alert("forum-b")
	h.handle(acked)
	h.handle(closed)
	if _, err := h.state.Acknowledge(ctx, acked.Fingerprint, "ana", "on it"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.state.RequestResolve(ctx, closed.Fingerprint, "ana", "false positive"); err != nil {
		t.Fatal(err)
	}
	h.tick()
	ackKey := h.store.Key("alertstate", "ack", acked.Fingerprint)
	closedKey := h.store.Key("alertstate", "closed", closed.Fingerprint)
	age := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			if ok, err := h.store.PExpire(ctx, k, time.Minute).Result(); err != nil || !ok {
				t.Fatalf("PEXPIRE %s = %v, %v; want the mark to exist", k, ok, err)
			}
		}
	}
	ttl := func(k string) time.Duration {
		t.Helper()
		d, err := h.store.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	kept := func(what string, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if d := ttl(k); d < 24*time.Hour {
				t.Errorf("%s: the mark %s expires in %v, want it kept a full AckTTL", what, k, d)
			}
		}
	}

	auditKey := h.store.Key("alertstate", "audit", acked.Fingerprint)
	age(ackKey, closedKey, auditKey)
	h.clock.add(time.Minute)
	h.tick()
	kept("a tick while both episodes are tracked", ackKey, closedKey, auditKey)

	// The closed episode stays resolved for resolved_retention, then is
	// forgotten: from then on its mark counts down.
	h.clock.add(8 * 24 * time.Hour)
	age(ackKey, closedKey)
	h.tick()
	kept("a tick while the acknowledged episode fires", ackKey)
	if d := ttl(closedKey); d <= 0 || d > time.Minute {
		t.Errorf("the closed mark of a forgotten episode expires in %v, want it left to expire", d)
	}

	// The aggregator still sends it as firing: tracked again, not paged,
	// and its mark kept again.
	h.handle(closed)
	h.clock.add(time.Minute)
	h.tick()
	kept("a tick after the closed episode fired again", closedKey)
	if got := h.recs["oncall"].Statuses(); fmt.Sprint(got) != "[firing firing resolved]" {
		t.Errorf("oncall got %v, want each firing once and the operator's resolution", got)
	}
	if tr, err := h.state.Tracked(ctx, closed.Fingerprint); err != nil || tr.Alert.Status != msg.StatusFiring {
		t.Fatalf("the closed episode firing again: %+v, %v; want it tracked", tr, err)
	}
}
