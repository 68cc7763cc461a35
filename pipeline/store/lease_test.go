package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/redistest"
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
