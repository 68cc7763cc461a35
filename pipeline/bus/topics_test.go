package bus

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/threatwatch/threatwatch/config"
)

// Topics the stages create on a replicated cluster keep a write safe when
// replicas drop out: acknowledged by every in-sync replica means at least
// two, as the topic Job in deploy/ sets it.
func TestReplicatedTopicsNeedTwoInSyncReplicas(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		rf   int
		want string
	}{{3, "2"}, {1, "1"}} { // 1: left to the broker, whose default it is
		cfg := config.Default().Kafka
		cfg.Brokers, cfg.ReplicationFactor, cfg.Partitions = c.ListenAddrs(), tc.rf, 1
		b, err := Open(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		topic := "rf" + itoa(tc.rf)
		if err := b.EnsureTopics(ctx, topic); err != nil {
			t.Fatal(err)
		}
		cl, release := b.Client()
		res, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"min.insync.replicas"},
		}}})
		release()
		cancel()
		b.Close()
		if err != nil || len(res.Resources) != 1 {
			t.Fatalf("describe %s: %v %+v", topic, err, res)
		}
		got := ""
		for _, e := range res.Resources[0].ConfigEntries {
			if e.ConfigName == "min.insync.replicas" {
				got = e.ConfigValue
			}
		}
		if got != tc.want {
			t.Errorf("replication %d: min.insync.replicas set to %q, want %q", tc.rf, got, tc.want)
		}
	}
}
