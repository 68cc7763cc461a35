package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Memory is what Redis says about its memory: how much it uses, its limit,
// what it does at the limit, and how many keys it has evicted since it
// started.
type Memory struct {
	Used    int64
	Max     int64 // 0: no limit
	Policy  string
	Evicted int64
}

// CanEvict reports whether Redis may delete keys to make room. ThreatWatch's
// keys are state, not a cache: an evicted checkpoint, silence or alert
// record is lost, and an evicted share of the watchlist's hashes stops
// matching a protected person without a word. With noeviction a full Redis
// refuses writes, which the stages wait out (IsTransient).
func (m Memory) CanEvict() bool { return m.Max > 0 && m.Policy != "noeviction" }

// Memory reads INFO memory and INFO stats. An ACL that refuses INFO (it is
// in @dangerous) gives an error that says so.
func (s *Store) Memory(ctx context.Context) (Memory, error) {
	mem, err := s.Info(ctx, "memory").Result()
	if err != nil {
		return Memory{}, fmt.Errorf("cannot read Redis's INFO memory: %w", err)
	}
	stats, err := s.Info(ctx, "stats").Result()
	if err != nil {
		return Memory{}, fmt.Errorf("cannot read Redis's INFO stats: %w", err)
	}
	f := infoFields(mem + "\n" + stats)
	var m Memory
	m.Policy = f["maxmemory_policy"]
	if m.Policy == "" {
		return Memory{}, errors.New("the INFO memory of Redis has no maxmemory_policy")
	}
	for name, dst := range map[string]*int64{"used_memory": &m.Used, "maxmemory": &m.Max, "evicted_keys": &m.Evicted} {
		v, err := strconv.ParseInt(f[name], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("the INFO of Redis: %s %q: %w", name, f[name], err)
		}
		*dst = v
	}
	return m, nil
}

func infoFields(s string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			out[k] = v
		}
	}
	return out
}

// memoryGauges are the gauges WatchMemory keeps.
type memoryGauges struct {
	used, max, evicted, canEvict prometheus.Gauge
}

func newMemoryGauges(reg prometheus.Registerer) *memoryGauges {
	g := &memoryGauges{
		used: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "threatwatch_redis_used_memory_bytes", Help: "Memory Redis uses (INFO used_memory).",
		}),
		max: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "threatwatch_redis_maxmemory_bytes", Help: "Redis's maxmemory (0: no limit).",
		}),
		evicted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "threatwatch_redis_evicted_keys", Help: "Keys Redis has evicted since it started (INFO evicted_keys): ThreatWatch state lost.",
		}),
		canEvict: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "threatwatch_redis_can_evict", Help: "1 when Redis has a maxmemory and a policy other than noeviction, so it may delete ThreatWatch's state.",
		}),
	}
	if reg != nil {
		reg.MustRegister(g.used, g.max, g.evicted, g.canEvict)
	}
	return g
}

// WatchMemory reads Redis's memory every interval until ctx ends, keeps
// the gauges above, and logs an error when Redis may evict keys or has
// evicted some: each once while it lasts, and again after it changed.
// The embedded in-process store has no memory limit to watch.
func (s *Store) WatchMemory(ctx context.Context, reg prometheus.Registerer, log *slog.Logger, every time.Duration) {
	if s.mini != nil {
		return
	}
	g := newMemoryGauges(reg)
	var last Memory
	var refused, warned bool
	for {
		m, err := s.Memory(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !refused {
				// Managed Redis services and ACLs without @dangerous refuse
				// INFO; the operator then has to check the policy.
				log.Warn("cannot read Redis's memory settings; make sure its maxmemory-policy is noeviction", "err", err)
				refused = true
			}
		case err == nil:
			refused = false
			g.used.Set(float64(m.Used))
			g.max.Set(float64(m.Max))
			g.evicted.Set(float64(m.Evicted))
			g.canEvict.Set(b2f(m.CanEvict()))
			if m.CanEvict() && (!warned || m.Policy != last.Policy || m.Max != last.Max) {
				log.Error("Redis may evict ThreatWatch's state to make room: set its maxmemory-policy to noeviction",
					"maxmemory_policy", m.Policy, "maxmemory", m.Max)
			}
			warned = m.CanEvict()
			if last.Policy != "" && m.Evicted > last.Evicted {
				log.Error("Redis evicted keys: ThreatWatch state may be lost", "evicted", m.Evicted-last.Evicted, "maxmemory_policy", m.Policy)
			}
			last = m
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
