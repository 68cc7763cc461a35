// Package store connects to Redis, which holds crawl state, dedup sets,
// current levels and alert state. With no URL configured it starts an
// embedded Redis-protocol server in the process (miniredis) on a loopback
// port, so the same go-redis client and the same commands run on a laptop
// and in production.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bus"
)

// Store is a Redis connection with the deployment's key prefix.
type Store struct {
	*redis.Client
	// Prefix is prepended to every key this project writes.
	Prefix   string
	Embedded bool
	mini     *miniredis.Miniredis
	stop     chan struct{}
	// epochs holds the lease epoch keys this Store has found in Redis:
	// one missing later means Redis lost its data (see AcquireLeaseInEpoch).
	epochs sync.Map
}

// Open connects to the configured Redis, or starts the embedded one.
func Open(cfg config.Redis, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Store{Prefix: cfg.KeyPrefix}
	if !cfg.External() {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("cannot start embedded Redis: %w", err)
		}
		s.mini, s.Embedded = m, true
		s.Client = redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
		s.stop = make(chan struct{})
		// miniredis expires keys only when told time has passed.
		go s.clock()
		log.Info("no redis.url configured: using the embedded in-process Redis (state is lost on exit)", "addr", m.Addr())
		return s, nil
	}
	opt := &redis.Options{}
	if cfg.URL.IsSet() {
		var err error
		if opt, err = redis.ParseURL(cfg.URL.Value()); err != nil {
			// The URL may hold a password: do not echo it.
			return nil, errors.New("redis.url: cannot parse URL")
		}
	}
	// Callers bound their calls with context deadlines (a lease renewal
	// must end before its lease lapses, a readiness check within its
	// budget). go-redis ignores them on the connection unless told, and a
	// Redis that hangs then holds each call for its read timeout and
	// retries, about 10 s.
	opt.ContextTimeoutEnabled = true
	if cfg.Username != "" {
		opt.Username = cfg.Username
	}
	if cfg.Password.IsSet() {
		opt.Password = cfg.Password.Value()
	}
	if cfg.TLS.Enabled {
		t, err := bus.TLSConfig(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("redis.tls: %w", err)
		}
		opt.TLSConfig = t
	}
	if sn := cfg.Sentinel; sn.MasterName != "" {
		// The sentinels name the master; after a failover they name the
		// promoted replica and the client reconnects to it.
		s.Client = redis.NewFailoverClient(failoverOptions(sn, opt))
		return s, nil
	}
	s.Client = redis.NewClient(opt)
	return s, nil
}

// failoverOptions carries everything redis.url may set but its host: an
// operator who tunes timeouts or the pool in the URL and then adds
// sentinels must not silently fall back to go-redis's defaults.
func failoverOptions(sn config.RedisSentinel, opt *redis.Options) *redis.FailoverOptions {
	return &redis.FailoverOptions{
		MasterName: sn.MasterName, SentinelAddrs: sn.Addrs,
		SentinelUsername: sn.Username, SentinelPassword: sn.Password.Value(),
		Username: opt.Username, Password: opt.Password, DB: opt.DB, TLSConfig: opt.TLSConfig,
		Protocol: opt.Protocol, ClientName: opt.ClientName,
		ContextTimeoutEnabled: opt.ContextTimeoutEnabled,
		MaxRetries:            opt.MaxRetries, MinRetryBackoff: opt.MinRetryBackoff, MaxRetryBackoff: opt.MaxRetryBackoff,
		DialTimeout: opt.DialTimeout, ReadTimeout: opt.ReadTimeout, WriteTimeout: opt.WriteTimeout,
		PoolFIFO: opt.PoolFIFO, PoolSize: opt.PoolSize, PoolTimeout: opt.PoolTimeout,
		MinIdleConns: opt.MinIdleConns, MaxIdleConns: opt.MaxIdleConns, MaxActiveConns: opt.MaxActiveConns,
		ConnMaxIdleTime: opt.ConnMaxIdleTime, ConnMaxLifetime: opt.ConnMaxLifetime,
	}
}

func (s *Store) clock() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mini.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Key prefixes the parts of a key: Key("seen", site) = "tw:seen:site".
func (s *Store) Key(parts ...string) string {
	return s.Prefix + strings.Join(parts, ":")
}

// Close closes the client and stops the embedded server.
func (s *Store) Close() error {
	err := s.Client.Close()
	if s.mini != nil {
		close(s.stop)
		s.mini.Close()
		s.mini = nil
	}
	return err
}

// WaitReady pings until Redis answers or ctx ends, logging each failure.
func (s *Store) WaitReady(ctx context.Context, log *slog.Logger) error {
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		log.Warn("redis not reachable yet; retrying", "attempt", attempt, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot reach Redis: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 15*time.Second)
	}
}

// IsTransient reports whether a Redis error may go away by itself (the
// server is away, a timeout, a failover, a full memory) rather than being a
// bug or bad data.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, redis.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		// A Redis at maxmemory (OOM), one busy with a long script (BUSY),
		// or one without the replicas min-replicas-to-write asks for
		// (NOREPLICAS) refuses writes until that passes: an outage to
		// wait out, not a reason to set the message aside.
		for _, p := range []string{"OOM ", "BUSY ", "NOREPLICAS "} {
			if strings.HasPrefix(re.Error(), p) {
				return true
			}
		}
	}
	msg := err.Error()
	for _, s := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "connection refused", "connection reset", "EOF", "i/o timeout", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Dedup remembers processed message ids for a while, so a message redelivered
// after a crash is recognized. Marking happens after the outputs are
// written, so at worst a crash between write and mark re-emits once, and the
// next stage deduplicates that.
type Dedup struct {
	s   *Store
	ttl time.Duration
	ns  string
}

// NewDedup returns a dedup set in namespace ns (a stage name).
func NewDedup(s *Store, ns string, ttl time.Duration) *Dedup {
	return &Dedup{s: s, ttl: ttl, ns: ns}
}

// Seen reports, for each id, whether it was marked before.
func (d *Dedup) Seen(ctx context.Context, ids []string) ([]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = d.s.Key("dedup", d.ns, id)
	}
	vals, err := d.s.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read dedup set: %w", err)
	}
	out := make([]bool, len(ids))
	for i, v := range vals {
		out[i] = v != nil
	}
	return out, nil
}

// Mark records ids as processed.
func (d *Dedup) Mark(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := d.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Set(ctx, d.s.Key("dedup", d.ns, id), 1, d.ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot write dedup set: %w", err)
	}
	return nil
}

// MarkSince records ids as processed at the given times (a rebuild of
// what Redis lost): each is remembered for what is left of the TTL, and
// one older than the TTL not at all.
func (d *Dedup) MarkSince(ctx context.Context, ids []string, at []time.Time, now time.Time) error {
	_, err := d.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			if left := d.ttl - now.Sub(at[i]); left > 0 {
				p.Set(ctx, d.s.Key("dedup", d.ns, id), 1, left)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot write dedup set: %w", err)
	}
	return nil
}

// SetLogger sends go-redis's own messages (a pool that cannot dial, a
// connection it drops) to log. Left alone it prints them with the standard
// logger, plain lines on stderr that break a JSON log pipeline. It is
// process-wide: call it once, with the process's logger.
func SetLogger(log *slog.Logger) {
	redis.SetLogger(redisLog{log.With("component", "redis")})
}

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}
