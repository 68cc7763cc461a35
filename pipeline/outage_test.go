package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/obs/obstest"
)

// The broker stops while a stage is mid-stream and comes back on the same
// address with its data: the stage keeps retrying, says so, and every
// input reaches the output once the broker is back.
func TestBrokerOutageMidStreamLosesNothing(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		t.Skip("cannot stop an external Kafka cluster")
	}
	c := kafkatest.New(t, kafkatest.Options{Partitions: 2, Restartable: true})
	posts, scored := c.Topic("posts"), c.Topic("scored")
	d := deps(c, prometheus.NewRegistry())
	var logs obstest.Buffer
	d.Log = slog.New(slog.NewTextHandler(&logs, nil))
	var handled atomic.Int64
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		time.Sleep(time.Millisecond) // slow enough for the outage to land mid-stream
		handled.Add(1)
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
	})
	var in []msg.Message
	want := map[string]bool{}
	for i := 0; i < 1000; i++ {
		p := post("site-"+strconv.Itoa(i%5), i)
		in = append(in, p)
		want[p.ID] = true
	}
	produce(t, c, posts, in...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	for deadline := time.Now().Add(30 * time.Second); handled.Load() < 200; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the stage handled only %d posts", handled.Load())
		}
	}

	c.Stop(t)
	written := testutil.ToFloat64(d.Metrics.Out.WithLabelValues("classify", scored))
	select {
	case err := <-done:
		t.Fatalf("stage stopped during the outage: %v", err)
	case <-time.After(3 * time.Second):
	}
	if written >= float64(len(want)) {
		t.Fatalf("the stage wrote all %v outputs before the outage; the test needs a slower handler", written)
	}
	if testutil.ToFloat64(d.Metrics.Retried.WithLabelValues("classify", "write")) == 0 ||
		!strings.Contains(logs.String(), "no Kafka broker reachable") {
		t.Fatalf("the outage was neither counted nor logged:\n%s", logs.String())
	}

	c.Start(t)
	var got map[string]int
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		got = ids(t, readTopic(t, c, scored, len(want), time.Second))
		if len(got) >= len(want) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("stage stopped after the outage: %v (%d of %d out)", err, len(got), len(want))
		default:
		}
	}
	var missing []string
	for id := range want {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d posts lost across the outage, e.g. %v", len(missing), missing[:min(3, len(missing))])
	}
	// The reader's own report of the outage reached the runner, which waited
	// it out rather than stopping the stage.
	if n := testutil.ToFloat64(d.Metrics.Retried.WithLabelValues("classify", "fetch")); n == 0 || !strings.Contains(logs.String(), "cannot fetch; retrying") {
		t.Errorf("the reader's errors were not counted (%v) or logged", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stage returned %v after shutdown, want nil", err)
	}
}

type failingCheckpoints struct {
	pipeline.HandlerFunc[*msg.Post]
	fails atomic.Int64
}

func (f *failingCheckpoints) Checkpoint(context.Context, map[int]int64) error {
	if f.fails.Add(-1) >= 0 {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6390}, Err: errors.New("connect: connection refused")}
	}
	return nil
}

// A checkpoint that cannot reach Redis is retried and logged as what it
// is: nothing in the log may point the operator at Kafka.
func TestARedisErrorIsNotReportedAsKafka(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	d := deps(c, prometheus.NewRegistry())
	var logs obstest.Buffer
	d.Log = slog.New(slog.NewTextHandler(&logs, nil))
	h := &failingCheckpoints{HandlerFunc: func(context.Context, *msg.Post, pipeline.Meta) ([]pipeline.Output, error) { return nil, nil }}
	h.fails.Store(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "aggregate", Input: c.Topic("posts"), Handler: h})
	produce(t, c, c.Topic("posts"), post("s", 1))
	for deadline := time.Now().Add(20 * time.Second); h.fails.Load() >= 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the checkpoint was not retried until it succeeded")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Count(out, "cannot checkpoint; retrying") != 2 || !strings.Contains(out, "127.0.0.1:6390") {
		t.Fatalf("the two failed checkpoints were not logged with their cause:\n%s", out)
	}
	if strings.Contains(out, "Kafka") {
		t.Fatalf("a Redis error was reported as a Kafka one:\n%s", out)
	}
}
