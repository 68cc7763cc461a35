package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lease is a key held by one owner: SET NX PX to take it, renewed before
// it expires, released with a compare-and-delete so an owner never frees
// a lease that expired and was taken by another. The scrapers hold one per
// site; a watchlist change holds one while it writes.
type Lease struct {
	s     *Store
	key   string
	token string
	ttl   time.Duration
}

// The scripts compare the owner token first: after a pause longer than the
// TTL, the key may belong to someone else. A renewal that finds no key at
// all sets it again: Redis lost it (a restart without persistence, a
// failover to a replica that had not caught up) while the owner was still
// within its TTL, and nobody has taken it since, so the owner still holds
// it. Failing instead made every holder drop its work at once and race
// the other processes for it.
var (
	leaseRenewScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
if cur then return 0 end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1`)
	leaseReleaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`)
)

// AcquireLease tries to take the lease at key for owner. It returns nil
// and no error when another owner holds it; an owner that finds its own
// lease (a restart with the same token) takes it back.
func (s *Store) AcquireLease(ctx context.Context, key, owner string, ttl time.Duration) (*Lease, error) {
	l := &Lease{s: s, key: key, token: owner, ttl: ttl}
	ok, err := s.SetNX(ctx, key, owner, ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot take lease: %w", err)
	}
	if !ok {
		cur, err := s.Get(ctx, key).Result()
		if err == nil && cur == owner {
			return l, nil
		}
		return nil, nil
	}
	return l, nil
}

// leaseEpochScript takes the lease KEYS[1] for owner ARGV[1] for ARGV[2]
// ms, or renews it when the owner has it, unless the epoch KEYS[2] is
// younger than that TTL. The epoch is the Redis time (ms) since which
// Redis is known to hold the leases of the family: "0" when the first
// caller found it missing and had never seen it (a fresh deployment), the
// time of the call when a caller that had seen it before (ARGV[3] = "1")
// finds it missing, because Redis lost its data then, and with it the
// keys of holders that still run. Those take their keys back at their
// next renewal (or take, ARGV[4] = "1": a caller that held the lease
// within its TTL); until a TTL has passed, the missing key of a lease is
// no sign that it is free. It returns 1 (taken, or the owner's own,
// renewed), 0 (held by another) or 2 (wait: the epoch is young).
var leaseEpochScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local since = tonumber(redis.call("GET", KEYS[2]))
if not since then
  if ARGV[3] == "1" then since = now else since = 0 end
  redis.call("SET", KEYS[2], since)
end
local cur = redis.call("GET", KEYS[1])
if cur == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
if cur then return 0 end
if ARGV[4] ~= "1" and now - since < tonumber(ARGV[2]) then return 2 end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1`)

// AcquireLeaseInEpoch is AcquireLease for a family of leases that must
// never have two holders, even after Redis lost its data: epochKey (one
// key for the family, never expiring) records since when Redis holds the
// family's keys. When this Store has seen that key before and finds it
// gone, Redis lost its data, so a missing lease key may belong to a holder
// that still runs: no lease of the family is taken for one TTL, time for
// such a holder's renewal to take its key back. It returns nil and no
// error while it waits, as when another owner holds the lease.
//
// A process that starts after the loss has seen no epoch and cannot tell
// a loss from a fresh deployment: it takes free leases at once.
func (s *Store) AcquireLeaseInEpoch(ctx context.Context, key, epochKey, owner string, ttl time.Duration) (*Lease, error) {
	ok, err := s.LeaseInEpoch(ctx, key, epochKey, owner, ttl, false)
	if err != nil || !ok {
		return nil, err
	}
	return &Lease{s: s, key: key, token: owner, ttl: ttl}, nil
}

// LeaseInEpoch takes or renews the lease at key for owner under the
// epoch rule of AcquireLeaseInEpoch, for a caller that keeps no *Lease
// (one call both takes and renews). held says the caller held the lease
// within its TTL: it takes a missing key back at once, as a renewal does.
func (s *Store) LeaseInEpoch(ctx context.Context, key, epochKey, owner string, ttl time.Duration, held bool) (bool, error) {
	_, seen := s.epochs.Load(epochKey)
	n, err := leaseEpochScript.Run(ctx, s, []string{key, epochKey}, owner, ttl.Milliseconds(), flag(seen), flag(held)).Int()
	if err != nil {
		return false, fmt.Errorf("cannot take lease: %w", err)
	}
	s.epochs.Store(epochKey, struct{}{})
	return n == 1, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Renew extends the lease by its TTL, or sets it again if Redis lost it;
// false means it was lost to another owner (expired and taken).
func (l *Lease) Renew(ctx context.Context) (bool, error) {
	n, err := leaseRenewScript.Run(ctx, l.s, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("cannot renew lease: %w", err)
	}
	return n == 1, nil
}

// Release frees the lease if its owner still holds it.
func (l *Lease) Release(ctx context.Context) error {
	if err := leaseReleaseScript.Run(ctx, l.s, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("cannot release lease: %w", err)
	}
	return nil
}
