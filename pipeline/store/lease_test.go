package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

func TestLease(t *testing.T) {
	ctx := context.Background()
	s := redistest.New(t)
	key := s.Key("scrape", "site", "lease")
	a, err := s.AcquireLease(ctx, key, "A", 300*time.Millisecond)
	if err != nil || a == nil {
		t.Fatalf("A: %v %v", a, err)
	}
	if b, err := s.AcquireLease(ctx, key, "B", 300*time.Millisecond); err != nil || b != nil {
		t.Fatalf("B took a held lease: %v %v", b, err)
	}
	if again, err := s.AcquireLease(ctx, key, "A", 300*time.Millisecond); err != nil || again == nil {
		t.Fatalf("A restarted could not take its own lease back: %v %v", again, err)
	}
	if ok, err := a.Renew(ctx); !ok || err != nil {
		t.Fatalf("renew: %v %v", ok, err)
	}
	// A pauses past its TTL: B takes over, and A's renewal must fail.
	time.Sleep(400 * time.Millisecond)
	b, err := s.AcquireLease(ctx, key, "B", 300*time.Millisecond)
	if err != nil || b == nil {
		t.Fatalf("B after expiry: %v %v", b, err)
	}
	if ok, _ := a.Renew(ctx); ok {
		t.Fatal("A renewed a lease B holds")
	}
	// A's late release (someone else's token, as far as the key is
	// concerned) must not free B's lease.
	_ = a.Release(ctx)
	if v, _ := s.Get(ctx, key).Result(); v != "B" {
		t.Fatalf("A's late release freed B's lease: %q", v)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Exists(ctx, key).Result(); n != 0 {
		t.Fatal("release left the key")
	}
}

// Redis restarted without persistence (or failed over to a replica that
// had not caught up) lost the key of a lease whose holder is still within
// its TTL. The holder's next renewal takes it back: it was still the
// holder, and nobody else has taken the key since. A renewal that finds
// another owner's key still fails.
func TestARenewalTakesBackALeaseRedisLost(t *testing.T) {
	redistest.NeedOwnServer(t, "restarts")
	ctx := context.Background()
	srv := redistest.Start(t)
	s := redistest.Connect(t, srv)
	key := s.Key("scrape", "site", "lease")
	a, err := s.AcquireLease(ctx, key, "A", time.Minute)
	if err != nil || a == nil {
		t.Fatalf("A: %v %v", a, err)
	}
	srv.Restart(t)
	if n, err := s.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Fatalf("the restarted Redis still has the lease (%d, %v): the test needs one without persistence", n, err)
	}
	if ok, err := a.Renew(ctx); !ok || err != nil {
		t.Fatalf("renewal after Redis lost the lease = %v, %v; want true", ok, err)
	}
	if v, _ := s.Get(ctx, key).Result(); v != "A" {
		t.Fatalf("lease key after the renewal = %q, want A's", v)
	}
	if ttl, _ := s.PTTL(ctx, key).Result(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the lease taken back has TTL %v, want up to a minute", ttl)
	}
	if err := s.Set(ctx, key, "B", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Renew(ctx); ok || err != nil {
		t.Fatalf("renewal of a lease B holds = %v, %v; want false", ok, err)
	}
}

// A family of leases with an epoch: a fresh deployment takes free leases
// at once; after Redis lost its data, a process that had seen the epoch
// takes none for one TTL (a holder still running takes its key back
// meanwhile), then takes free ones again. Real Redis and the embedded one
// alike, as the script reads Redis's TIME.
func TestAnEpochHoldsOffNewHoldersForATTLAfterRedisLostItsData(t *testing.T) {
	f := func(t *testing.T, s *store.Store, other *store.Store) {
		ctx := context.Background()
		ttl := time.Second
		epoch, site1, site2 := s.Key("leases-epoch"), s.Key("site1", "lease"), s.Key("site2", "lease")
		take := func(st *store.Store, key, owner string, want bool) *store.Lease {
			t.Helper()
			l, err := st.AcquireLeaseInEpoch(ctx, key, epoch, owner, ttl)
			if err != nil || (l != nil) != want {
				t.Fatalf("%s taking %s = %v, %v; want taken %v", owner, key, l, err, want)
			}
			return l
		}
		a := take(s, site1, "A", true) // a fresh deployment: no wait
		take(other, site1, "B", false)
		take(s, site1, "A", true) // its own

		// Redis loses its data (the test deletes only its own keys).
		if err := s.Del(ctx, epoch, site1).Err(); err != nil {
			t.Fatal(err)
		}
		take(other, site1, "B", false)
		take(other, site2, "B", false)
		renew := func() {
			t.Helper()
			if ok, err := a.Renew(ctx); !ok || err != nil {
				t.Fatalf("A's renewal after the loss = %v, %v", ok, err)
			}
		}
		renew()
		// A renews as it runs; the epoch comes of age meanwhile.
		time.Sleep(ttl / 2)
		renew()
		time.Sleep(ttl/2 + 100*time.Millisecond)
		renew()
		take(other, site1, "B", false) // A's again
		take(other, site2, "B", true)
	}
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		s := redistest.Connect(t, srv)
		other, err := store.Open(config.Redis{URL: config.NewSecret(srv.URL), KeyPrefix: s.Prefix}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		f(t, s, other)
	})
	t.Run("embedded", func(t *testing.T) {
		s, err := store.Open(config.Redis{KeyPrefix: "t:"}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		other, err := store.Open(config.Redis{URL: config.NewSecret("redis://" + s.Options().Addr), KeyPrefix: "t:"}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		f(t, s, other)
	})
}
