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
// TTL, the key may belong to someone else.
var (
	leaseRenewScript   = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`)
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

// Renew extends the lease by its TTL; false means it was lost (expired
// and taken).
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
