package bus

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/threatwatch/threatwatch/config"
)

func TestBrokerDownAtStartIsReportedAndRetriedUntilItComes(t *testing.T) {
	port := freePort(t)
	cfg := config.Default().Kafka
	cfg.Brokers = []string{net.JoinHostPort("127.0.0.1", itoa(port))}
	cfg.DialTimeout = time.Second
	var logs bytes.Buffer
	b, err := Open(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// Nobody listens: a clear error once the caller's patience ends.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	err = b.WaitReady(ctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "cannot reach Kafka") {
		t.Fatalf("err = %v, want a clear 'cannot reach Kafka'", err)
	}
	if !strings.Contains(logs.String(), "kafka not reachable yet; retrying") {
		t.Fatalf("retries were not logged:\n%s", logs.String())
	}

	// The broker comes up a moment later: WaitReady succeeds without a restart.
	go func() {
		time.Sleep(700 * time.Millisecond)
		c, err := kfake.NewCluster(kfake.Ports(port))
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(c.Close)
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatalf("broker came up but WaitReady failed: %v", err)
	}
	if err := b.EnsureTopics(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	parts, err := b.Partitions(ctx, "a")
	if err != nil || len(parts) != cfg.Partitions {
		t.Fatalf("topic a has %v partitions (%v), want %d", parts, err, cfg.Partitions)
	}
	// Creating again is not an error.
	if err := b.EnsureTopics(ctx, "a"); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
}

func TestEmbeddedClusterPersistsInItsDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default().Kafka
	cfg.Embedded.DataDir = dir
	cfg.Embedded.Port = freePort(t)
	b, err := Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !b.Embedded || len(b.Brokers) != 1 || !strings.HasPrefix(b.Brokers[0], "127.0.0.1:") {
		t.Fatalf("embedded cluster not on loopback: %v", b.Brokers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.EnsureTopics(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	w := b.Writer("kept", WriterOptions{})
	if err := w.WriteMessages(ctx, kafkaMsg("k", "v1"), kafkaMsg("k", "v2")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b.Close()

	b2, err := Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	parts, err := b2.Partitions(ctx, "kept")
	if err != nil {
		t.Fatalf("topic lost across restart: %v", err)
	}
	n := 0
	for _, p := range parts {
		r := b2.PartitionReader("kept", p)
		for {
			rctx, c := context.WithTimeout(ctx, 300*time.Millisecond)
			_, err := r.ReadMessage(rctx)
			c()
			if err != nil {
				break
			}
			n++
		}
		r.Close()
	}
	if n != 2 {
		t.Fatalf("read %d messages after restart, want 2", n)
	}
}
