// Package kafkatest gives tests a Kafka cluster: an in-process
// Kafka-protocol cluster on a loopback port, or the external cluster named
// by KAFKA_BROKERS. Either way the test talks to it through the same bus
// package production uses.
package kafkatest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bus"
)

// EnvBrokers points tests at an external cluster.
const EnvBrokers = "KAFKA_BROKERS"

// Cluster is a test cluster and a config that reaches it.
type Cluster struct {
	opts Options

	// Config is ready to use: brokers set, topics prefixed uniquely per
	// test so tests sharing an external cluster do not meet.
	Config *config.Config
	// Fake is the in-process cluster (nil with KAFKA_BROKERS), for fault
	// injection.
	Fake *kfake.Cluster
	Bus  *bus.Bus
}

var seq atomic.Int64

// Options tune the cluster.
type Options struct {
	Partitions int
	Brokers    int
	// DataDir persists the fake cluster (for restart tests).
	DataDir string
	// Restartable gives the fake cluster a fixed port and a data dir, so
	// Start brings it back after Stop where clients left it (outage tests).
	Restartable bool
	// Extra kfake options (SASL, TLS).
	Fake []kfake.Opt
}

// New starts a cluster for t (or uses KAFKA_BROKERS), creates the
// configured topics, and stops it with t.Cleanup.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Partitions == 0 {
		o.Partitions = 3
	}
	cfg := config.Default()
	cfg.Kafka.Partitions = o.Partitions
	cfg.Topics.Prefix = fmt.Sprintf("t%d-%d-", time.Now().UnixNano()%1e9, seq.Add(1))
	cfg.Kafka.GroupPrefix = cfg.Topics.Prefix
	cfg.Runner.RetryMin = 20 * time.Millisecond
	cfg.Runner.RetryMax = 500 * time.Millisecond
	c := &Cluster{Config: cfg}
	if o.Restartable && os.Getenv(EnvBrokers) == "" {
		if o.DataDir == "" {
			o.DataDir = t.TempDir()
		}
		// One fixed port per broker: kfake runs as many brokers as it is
		// given ports, whatever NumBrokers says.
		// The listeners stay open until all ports are picked, so they differ.
		ports := make([]int, max(o.Brokers, 1))
		lns := make([]net.Listener, 0, len(ports))
		for i := range ports {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("kafkatest: %v", err)
			}
			lns = append(lns, ln)
			ports[i] = ln.Addr().(*net.TCPAddr).Port
		}
		for _, ln := range lns {
			ln.Close()
		}
		o.Fake = append(o.Fake, kfake.Ports(ports...))
	}
	c.opts = o
	if ext := os.Getenv(EnvBrokers); ext != "" {
		cfg.Kafka.Brokers = strings.Split(ext, ",")
	} else {
		c.Fake = StartFake(t, o)
		cfg.Kafka.Brokers = c.Fake.ListenAddrs()
	}
	b, err := bus.Open(cfg.Kafka, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(b.Close)
	c.Bus = b
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.EnsureTopics(ctx, cfg.Topics.All()...); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	return c
}

// StartFake starts only the in-process cluster.
func StartFake(t testing.TB, o Options) *kfake.Cluster {
	t.Helper()
	n := o.Brokers
	if n == 0 {
		n = 1
	}
	opts := []kfake.Opt{kfake.NumBrokers(n), kfake.DefaultNumPartitions(max(o.Partitions, 1))}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	opts = append(opts, o.Fake...)
	fc, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kafkatest: cannot start in-process cluster: %v", err)
	}
	t.Cleanup(fc.Close)
	return fc
}

// Topic returns the full name of a short topic name.
func (c *Cluster) Topic(short string) string { return c.Config.Topics.Name(short) }

// Stop stops the in-process cluster until Start.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if c.Fake == nil || !c.opts.Restartable {
		t.Fatal("kafkatest: Stop needs the in-process cluster started with Restartable")
	}
	c.Fake.Close()
}

// Start starts a cluster stopped with Stop again, where it was.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	c.Fake = StartFake(t, c.opts)
}
