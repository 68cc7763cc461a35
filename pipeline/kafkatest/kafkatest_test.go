package kafkatest_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
)

// A restartable cluster has the brokers it was asked for, before and
// after a restart, on the same addresses. It used to reserve one fixed
// port whatever Brokers said, and the in-process cluster then ran a
// single broker: a "failover" test had no other broker to fail over to.
func TestARestartableClusterKeepsItsBrokers(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		t.Skip("cannot restart an external Kafka cluster")
	}
	for _, n := range []int{1, 3} {
		c := kafkatest.New(t, kafkatest.Options{Partitions: 1, Brokers: n, Restartable: true})
		brokers := func(when string) []string {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cl := &kafka.Client{Addr: kafka.TCP(c.Config.Kafka.Brokers...), Transport: &kafka.Transport{}}
			var last error
			for ctx.Err() == nil {
				md, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
				if err == nil {
					var addrs []string
					for _, b := range md.Brokers {
						addrs = append(addrs, b.Host)
					}
					return addrs
				}
				last = err // a restarted broker's first answers may fail
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("%d brokers %s: no metadata: %v", n, when, last)
			return nil
		}
		addrs := slices.Clone(c.Fake.ListenAddrs())
		if got := brokers("before the restart"); len(got) != n || len(addrs) != n || len(c.Config.Kafka.Brokers) != n {
			t.Fatalf("asked for %d brokers: metadata names %d, the cluster listens on %v, the config names %v",
				n, len(got), addrs, c.Config.Kafka.Brokers)
		}
		c.Stop(t)
		c.Start(t)
		if got := c.Fake.ListenAddrs(); !slices.Equal(got, addrs) {
			t.Fatalf("%d brokers: after the restart on %v, before on %v", n, got, addrs)
		}
		if got := brokers("after the restart"); len(got) != n {
			t.Fatalf("%d brokers: after the restart metadata names %d", n, len(got))
		}
	}
}
