package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/threatwatch/threatwatch/pipeline/obs/obstest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// A Redis that may evict keys to make room is named in the log and in a
// gauge; one that did evict is named again. ThreatWatch's keys are state.
func TestWatchMemoryNamesARedisThatCanEvict(t *testing.T) {
	redistest.NeedOwnServer(t, "the memory settings")
	st := redistest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	m, err := st.Memory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Policy != "noeviction" || m.Max != 0 || m.Used <= 0 || m.CanEvict() {
		t.Fatalf("a fresh redis-server: %+v", m)
	}

	for k, v := range map[string]string{"maxmemory": "4mb", "maxmemory-policy": "allkeys-lru"} {
		if err := st.ConfigSet(ctx, k, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var logs obstest.Buffer
	reg := prometheus.NewRegistry()
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.WatchMemory(ctx, reg, slog.New(slog.NewTextHandler(&logs, nil)), 50*time.Millisecond)
	}()
	until(t, 10*time.Second, "the policy named in the log", func() bool { return strings.Contains(logs.String(), "maxmemory_policy=allkeys-lru") })
	if got := gauge(t, reg, "threatwatch_redis_can_evict"); got != 1 {
		t.Errorf("can_evict %v, want 1", got)
	}
	if got := gauge(t, reg, "threatwatch_redis_maxmemory_bytes"); got != 4<<20 {
		t.Errorf("maxmemory %v, want 4 MiB", got)
	}

	// Fill it past its limit: it evicts, and says so.
	val := strings.Repeat("x", 64<<10)
	for i := 0; i < 200; i++ {
		if err := st.Set(ctx, st.Key("fill", fmt.Sprint(i)), val, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	until(t, 10*time.Second, "the eviction logged", func() bool { return strings.Contains(logs.String(), "Redis evicted keys") })
	if got := gauge(t, reg, "threatwatch_redis_evicted_keys"); got <= 0 {
		t.Errorf("evicted_keys %v, want some", got)
	}

	// noeviction: the gauge clears.
	if err := st.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "can_evict cleared", func() bool { return gauge(t, reg, "threatwatch_redis_can_evict") == 0 })
	if n := strings.Count(logs.String(), "may evict"); n != 1 {
		t.Errorf("the policy was logged %d times, want once:\n%s", n, logs.String())
	}
	cancel()
	<-done
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// An ACL without @dangerous refuses INFO: the watcher says once that it
// cannot check, and names what to check.
func TestWatchMemoryWithoutINFOSaysSoOnce(t *testing.T) {
	redistest.NeedOwnServer(t, "the users")
	srv := redistest.Start(t)
	admin := redistest.Connect(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// As deploy/compose's user, less the +info it grants.
	if err := admin.Do(ctx, "ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all", "-@dangerous").Err(); err != nil {
		t.Fatal(err)
	}
	u := *srv
	u.URL = strings.Replace(srv.URL, "redis://", "redis://limited:pw@", 1)
	st := redistest.Connect(t, &u)
	if _, err := st.Memory(ctx); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("INFO as a user without @dangerous: %v, want NOPERM", err)
	}
	var logs obstest.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.WatchMemory(ctx, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(&logs, nil)), 20*time.Millisecond)
	}()
	until(t, 10*time.Second, "the warning", func() bool { return strings.Contains(logs.String(), "make sure its maxmemory-policy is noeviction") })
	time.Sleep(200 * time.Millisecond)
	if n := strings.Count(logs.String(), "cannot read Redis's memory settings"); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
	cancel()
	<-done
}
