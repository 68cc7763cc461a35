package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// A highly available Redis: a master, a replica and a sentinel, all real
// redis-server processes. The store finds the master through the sentinel
// and, when the master dies, goes on with the replica the sentinel
// promotes, with what was written before.
func TestTheStoreFollowsASentinelFailover(t *testing.T) {
	redistest.NeedOwnServer(t, "replicas and sentinels")
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed")
	}
	dir := t.TempDir()
	mport, rport, sport := redistest.FreePort(t), redistest.FreePort(t), redistest.FreePort(t)
	master := startServer(t, bin, dir, "--port", fmt.Sprint(mport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	startServer(t, bin, dir, "--port", fmt.Sprint(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--replicaof", "127.0.0.1", fmt.Sprint(mport))
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
		"sentinel monitor tw 127.0.0.1 %d 1\nsentinel down-after-milliseconds tw 1000\nsentinel failover-timeout tw 3000\n",
		sport, dir, mport)), 0o600); err != nil {
		t.Fatal(err)
	}
	startServer(t, bin, dir, conf, "--sentinel")

	cfg := config.Redis{KeyPrefix: "t:", Sentinel: config.RedisSentinel{MasterName: "tw", Addrs: []string{fmt.Sprintf("127.0.0.1:%d", sport)}}}
	if !cfg.External() {
		t.Fatal("a sentinel config is not an external Redis")
	}
	st, err := store.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	port := func() string {
		info, err := st.Info(ctx, "server").Result()
		if err != nil {
			return ""
		}
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "tcp_port:"); ok {
				return v
			}
		}
		return ""
	}
	until(t, 20*time.Second, "the store reaches the master through the sentinel", func() bool {
		return st.Set(ctx, st.Key("before"), "v1", 0).Err() == nil
	})
	if got := port(); got != fmt.Sprint(mport) {
		t.Fatalf("connected to port %s, want the master's %d", got, mport)
	}
	until(t, 20*time.Second, "the write reaches the replica", func() bool {
		n, err := st.Do(ctx, "WAIT", 1, 1000).Int()
		return err == nil && n == 1
	})

	// The sentinel learns of replicas from the master's INFO: it must know
	// this one before the master goes, or there is nobody to promote.
	sentinel := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", sport)})
	defer sentinel.Close()
	until(t, 30*time.Second, "the sentinel knows the replica", func() bool {
		rs, err := sentinel.Do(ctx, "SENTINEL", "REPLICAS", "tw").Slice()
		if err != nil || len(rs) == 0 {
			return false
		}
		r := fmt.Sprint(rs[0])
		return strings.Contains(r, fmt.Sprint(rport)) && !strings.Contains(r, "disconnected") && !strings.Contains(r, "s_down")
	})

	_ = master.Process.Kill()
	_ = master.Wait()
	until(t, 40*time.Second, "the store writes to the promoted replica", func() bool {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		defer wcancel()
		return st.Set(wctx, st.Key("after"), "v2", 0).Err() == nil
	})
	if got := port(); got != fmt.Sprint(rport) {
		t.Errorf("after the failover connected to port %s, want the replica's %d", got, rport)
	}
	if v, err := st.Get(ctx, st.Key("before")).Result(); err != nil || v != "v1" {
		t.Errorf("what was written before the failover: %q, %v", v, err)
	}
}

// startServer runs redis-server with args in dir until the test ends.
func startServer(t *testing.T, bin, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func until(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
