package bus

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
)

func itoa(i int) string { return strconv.Itoa(i) }

func kafkaMsg(k, v string) kafka.Message { return kafka.Message{Key: []byte(k), Value: []byte(v)} }

// freePort is shared by this package's tests.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// openEmbedded starts the embedded cluster with partitions per topic,
// creates topic, and returns the bus with a context for the test's calls.
func openEmbedded(t *testing.T, partitions int, topic string) (*Bus, context.Context) {
	t.Helper()
	cfg := config.Default().Kafka
	cfg.Embedded.Port = freePort(t)
	cfg.Partitions = partitions
	b, err := Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := b.EnsureTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	return b, ctx
}
