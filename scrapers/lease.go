package scrapers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Lease is a site held by one process: SET NX PX to take it, renewed
// before it expires, released with a compare-and-delete so a process never
// frees a lease that expired and was taken by another.
type Lease struct {
	s     *store.Store
	key   string
	token string
	ttl   time.Duration
}

// The scripts compare the owner token first: after a pause longer than the
// TTL, the key may belong to someone else.
var (
	renewScript   = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`)
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`)
)

// NewOwner returns a token naming this process (host, pid, random).
func NewOwner() string {
	h, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", h, os.Getpid(), hex.EncodeToString(b))
}

// AcquireLease tries to take the lease of site for owner. It returns nil
// and no error when another process holds it.
func AcquireLease(ctx context.Context, s *store.Store, site, owner string, ttl time.Duration) (*Lease, error) {
	l := &Lease{s: s, key: s.Key("scrape", site, "lease"), token: owner, ttl: ttl}
	ok, err := s.SetNX(ctx, l.key, owner, ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot take lease: %w", err)
	}
	if !ok {
		// A restart of the same owner finds its own lease: take it back.
		cur, err := s.Get(ctx, l.key).Result()
		if err == nil && cur == owner {
			return l, nil
		}
		return nil, nil
	}
	return l, nil
}

// Renew extends the lease; false means it was lost (expired and taken).
func (l *Lease) Renew(ctx context.Context) (bool, error) {
	n, err := renewScript.Run(ctx, l.s, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("cannot renew lease: %w", err)
	}
	return n == 1, nil
}

// Release frees the lease if this process still holds it.
func (l *Lease) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.s, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("cannot release lease: %w", err)
	}
	return nil
}
