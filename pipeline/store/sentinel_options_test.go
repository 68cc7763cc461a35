package store_test

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Timeouts and the pool given in redis.url hold with sentinels too: before,
// the sentinel client took only the URL's database and credentials.
func TestASentinelClientKeepsTheURLsTimeoutsAndPool(t *testing.T) {
	cfg := config.Redis{
		URL:      config.NewSecret("redis://:pw@ignored:6379/3?pool_size=7&read_timeout=2s&write_timeout=3s&dial_timeout=4s&max_retries=5&min_idle_conns=2&pool_timeout=6s"),
		Sentinel: config.RedisSentinel{MasterName: "tw", Addrs: []string{"127.0.0.1:1"}},
	}
	s, err := store.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := s.Options()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"db", o.DB, 3},
		{"password", o.Password, "pw"},
		{"pool_size", o.PoolSize, 7},
		{"read_timeout", o.ReadTimeout, 2 * time.Second},
		{"write_timeout", o.WriteTimeout, 3 * time.Second},
		{"dial_timeout", o.DialTimeout, 4 * time.Second},
		{"max_retries", o.MaxRetries, 5},
		{"min_idle_conns", o.MinIdleConns, 2},
		{"pool_timeout", o.PoolTimeout, 6 * time.Second},
		{"context deadlines", o.ContextTimeoutEnabled, true},
	} {
		if c.got != c.want {
			t.Errorf("%s: the sentinel client has %v, the URL says %v", c.name, c.got, c.want)
		}
	}
}
