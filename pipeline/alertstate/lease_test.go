package alertstate_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Redis restarted without persistence while notify instance a held the
// tick's lease: instance b, asking at its next tick, found no key and
// took the lease while a was mid-tick, and both sent the repeats and
// keep-alives due (every one twice). Now b, which had seen the leases'
// epoch before, takes none for a TTL; a, which held the lease, takes it
// back at its next renewal. Once a stops renewing, b takes it after a TTL.
func TestTheTickLeaseIsNotTakenByASecondInstanceAfterRedisLostIt(t *testing.T) {
	redistest.NeedOwnServer(t, "restarts")
	ctx := context.Background()
	srv := redistest.Start(t)
	s := redistest.Connect(t, srv)
	other, err := store.Open(config.Redis{URL: config.NewSecret(srv.URL), KeyPrefix: s.Prefix}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	a, b := alertstate.New(s), alertstate.New(other)
	ttl := time.Second
	take := func(st *alertstate.State, holder, when string, want bool) {
		t.Helper()
		ok, err := st.Lease(ctx, "tick", holder, ttl)
		if err != nil || ok != want {
			t.Fatalf("%s: Lease(%s) = %v, %v; want %v", when, holder, ok, err, want)
		}
	}
	take(a, "a", "before the restart", true)
	take(b, "b", "before the restart", false)

	srv.Restart(t)
	if n, err := s.Exists(ctx, s.Key("alertstate", "lease", "tick")).Result(); err != nil || n != 0 {
		t.Fatalf("the restarted Redis still has the lease (%d, %v): the test needs one without persistence", n, err)
	}
	take(b, "b", "right after Redis lost the lease", false)
	take(a, "a", "the holder renewing after Redis lost the lease", true)
	take(b, "b", "once the holder renewed", false)
	// a stops renewing: its lease lapses, and the epoch is a TTL old.
	time.Sleep(ttl + 200*time.Millisecond)
	take(b, "b", "a TTL after the holder stopped", true)
	take(a, "a", "after b took the lease", false)
}

// Redis stopped answering (a hung server, a network dropping packets)
// while an instance held the tick's lease: its renewal waited for
// go-redis's timeouts and retries, about 10 s, however short the TTL, so
// with a tick under 5 s it learnt of the loss only after the lease had
// lapsed and another instance could have started ticking. A renewal now
// gives up before the lease it renews lapses.
func TestARenewalAgainstAHungRedisEndsBeforeTheLeaseLapses(t *testing.T) {
	redistest.NeedOwnServer(t, "pauses")
	ctx := context.Background()
	srv := redistest.Start(t)
	st := alertstate.New(redistest.Connect(t, srv))
	ttl := 2 * time.Second
	took := time.Now()
	if ok, err := st.Lease(ctx, "tick", "a", ttl); !ok || err != nil {
		t.Fatalf("Lease = %v, %v", ok, err)
	}
	srv.Pause(t)
	ok, err := st.Lease(ctx, "tick", "a", ttl)
	lapse := took.Add(ttl)
	if ok || err == nil {
		t.Fatalf("renewal against a hung Redis = %v, %v; want an error", ok, err)
	}
	if now := time.Now(); now.After(lapse) {
		t.Fatalf("the renewal returned %v after the lease lapsed: %v", now.Sub(lapse), err)
	}
	srv.Resume(t)
}
