package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

func deps(c *kafkatest.Cluster, reg prometheus.Registerer) pipeline.Deps {
	return pipeline.Deps{
		Bus: c.Bus, Metrics: pipeline.NewMetrics(reg), Log: slog.New(slog.DiscardHandler),
		Config: c.Config.Runner, Topics: c.Config.Topics,
	}
}

func post(site string, i int) *msg.Post {
	p := &msg.Post{Site: site, SitePostID: strconv.Itoa(i), Text: fmt.Sprintf("post %d", i),
		Published: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)}
	p.Normalize()
	return p
}

func produce(t *testing.T, c *kafkatest.Cluster, topic string, ms ...msg.Message) {
	t.Helper()
	prod := pipeline.NewProducer(c.Bus, "test", nil, slog.New(slog.DiscardHandler))
	defer prod.Close()
	outs := make([]pipeline.Output, len(ms))
	for i, m := range ms {
		outs[i] = pipeline.Output{Topic: topic, Msg: m}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prod.Send(ctx, outs...); err != nil {
		t.Fatal(err)
	}
}

func produceRaw(t *testing.T, c *kafkatest.Cluster, topic string, values ...string) {
	t.Helper()
	w := c.Bus.Writer(topic, bus.WriterOptions{})
	defer w.Close()
	var kms []kafka.Message
	for _, v := range values {
		kms = append(kms, kafka.Message{Key: []byte("raw"), Value: []byte(v)})
	}
	if err := w.WriteMessages(context.Background(), kms...); err != nil {
		t.Fatal(err)
	}
}

// readTopic reads every partition of topic until want messages were seen or
// the timeout passes.
func readTopic(t *testing.T, c *kafkatest.Cluster, topic string, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	parts, err := c.Bus.Partitions(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []kafka.Message
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.Bus.PartitionReader(topic, p)
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				out = append(out, m)
				n := len(out)
				mu.Unlock()
				if n >= want {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func ids(t *testing.T, kms []kafka.Message) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, m := range kms {
		dm, err := msg.DecodeAny(m.Value)
		if err != nil {
			t.Fatalf("bad output: %v", err)
		}
		seen[dm.DedupID()]++
	}
	return seen
}

func toScored(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
	return nil, nil
}

func runStage[T any, P msg.Constraint[T]](t *testing.T, ctx context.Context, d pipeline.Deps, s pipeline.Stage[T, P]) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(ctx, d, s) }()
	return done
}

func TestMessagesFlowThroughTwoStagesInOrderPerSite(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 3})
	posts, scored, levels := c.Topic("posts"), c.Topic("scored"), c.Topic("levels")
	d := deps(c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	classify := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalThreat: 0.5}, Classifier: "test", Version: "1"}}}, nil
	})
	var order sync.Map // site -> last seen post number, to check per-site order
	var outOfOrder atomic.Int64
	aggregate := pipeline.HandlerFunc[*msg.Scored](func(_ context.Context, s *msg.Scored, _ pipeline.Meta) ([]pipeline.Output, error) {
		n, _ := strconv.Atoi(s.Post.SitePostID)
		if prev, ok := order.Load(s.Post.Site); ok && prev.(int) > n {
			outOfOrder.Add(1)
		}
		order.Store(s.Post.Site, n)
		return []pipeline.Output{{Topic: levels, Msg: &msg.Level{Site: s.Post.Site, Target: s.Post.ID, Time: s.Post.Published, Level: s.Score(msg.SignalThreat)}}}, nil
	})
	d1 := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: classify})
	d2 := runStage(t, ctx, d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate", Input: scored, Handler: aggregate})

	var in []msg.Message
	for i := 0; i < 300; i++ {
		in = append(in, post(fmt.Sprintf("site-%d", i%5), i))
	}
	produce(t, c, posts, in...)
	got := ids(t, readTopic(t, c, levels, 300, 30*time.Second))
	if len(got) != 300 {
		t.Fatalf("got %d distinct levels, want 300", len(got))
	}
	if n := outOfOrder.Load(); n != 0 {
		t.Fatalf("%d scored posts arrived out of order within their site", n)
	}
	cancel()
	for _, d := range []<-chan error{d1, d2} {
		if err := <-d; err != nil {
			t.Fatalf("stage returned %v after shutdown, want nil", err)
		}
	}
}

// onlyPosts1And3Scored checks that posts 1 and 3 of site "s", and no
// other, reached the scored topic, and returns the n dead letters.
func onlyPosts1And3Scored(t *testing.T, c *kafkatest.Cluster, scored, dlq string, n int) []kafka.Message {
	t.Helper()
	out := ids(t, readTopic(t, c, scored, 2, 20*time.Second))
	if len(out) != 2 || out[post("s", 1).ID] != 1 || out[post("s", 3).ID] != 1 {
		t.Fatalf("scored = %v, want posts 1 and 3", out)
	}
	dead := readTopic(t, c, dlq, n, 20*time.Second)
	if len(dead) != n {
		t.Fatalf("got %d dead letters, want %d", len(dead), n)
	}
	return dead
}

func TestPoisonMessagesAreDeadLetteredWithHeadersAndTheStreamGoesOn(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, scored, dlq := c.Topic("posts"), c.Topic("scored"), c.Topic("dead-letter")
	reg := prometheus.NewRegistry()
	d := deps(c, reg)
	bad := post("s", 2)
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		if p.ID == bad.ID {
			return nil, pipeline.Permanent("rejected", errors.New("this post can never be scored"))
		}
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})

	produce(t, c, posts, post("s", 1))
	produceRaw(t, c, posts, `{not json`, `{"schema":"post/9","id":"x"}`)
	produce(t, c, posts, bad, post("s", 3))

	dead := onlyPosts1And3Scored(t, c, scored, dlq, 3)
	reasons := map[string]bool{}
	for _, m := range dead {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		for _, k := range []string{"tw-stage", "tw-reason", "tw-source-topic", "tw-source-partition", "tw-source-offset", "tw-error"} {
			if h[k] == "" {
				t.Errorf("dead letter lacks header %s: %v", k, h)
			}
		}
		if h["tw-stage"] != "classify" || h["tw-source-topic"] != posts {
			t.Errorf("headers %v do not name the stage and source", h)
		}
		dl, err := msg.Decode[msg.DeadLetter](m.Value)
		if err != nil {
			t.Fatalf("dead letter does not decode: %v", err)
		}
		if strconv.FormatInt(dl.Offset, 10) != h["tw-source-offset"] || len(dl.Value) == 0 {
			t.Errorf("dead letter body %+v disagrees with headers %v or lost the original", dl, h)
		}
		reasons[h["tw-reason"]] = true
	}
	for _, r := range []string{"invalid", "schema", "rejected"} {
		if !reasons[r] {
			t.Errorf("no dead letter with reason %q (got %v)", r, reasons)
		}
	}
	cancel()
	<-done
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("classify", "schema")); n != 1 {
		t.Errorf("dead-letter metric for schema = %v, want 1", n)
	}
}

func TestTransientErrorsAreRetriedUntilRedisIsBack(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	srv := redistest.Start(t)
	if os.Getenv(redistest.EnvURL) != "" {
		t.Skip("cannot stop an external Redis")
	}
	st := redistest.Connect(t, srv)
	posts, scored := c.Topic("posts"), c.Topic("scored")
	d := deps(c, prometheus.NewRegistry())
	handler := pipeline.HandlerFunc[*msg.Post](func(ctx context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := st.Incr(rctx, st.Key("count", p.Site)).Err(); err != nil {
			return nil, fmt.Errorf("cannot count: %w", err)
		}
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
	})
	srv.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	produce(t, c, posts, post("s", 1), post("s", 2))

	// While Redis is away nothing gets through and the runner keeps retrying.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(d.Metrics.Retried.WithLabelValues("classify", "handle")) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("runner did not retry while Redis was down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := readTopic(t, c, scored, 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d outputs written while the dependency was down", len(got))
	}
	srv.Restart(t)
	got := ids(t, readTopic(t, c, scored, 2, 20*time.Second))
	if len(got) != 2 {
		t.Fatalf("after Redis came back got %v, want both posts", got)
	}
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("classify", "transient")); n != 0 {
		t.Fatalf("transient failures dead-lettered %v messages", n)
	}
	cancel()
	<-done
}

// A Redis at its maxmemory under noeviction (the policy ThreatWatch
// needs) refuses writes with OOM until keys expire or an operator gives it
// room. That is an outage to wait out: dead-lettering every message after
// runner.max_attempts would set the whole stream aside.
func TestAFullRedisIsWaitedOutNotDeadLettered(t *testing.T) {
	redistest.NeedOwnServer(t, "the maxmemory")
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	st := redistest.New(t)
	posts, scored := c.Topic("posts"), c.Topic("scored")
	d := deps(c, prometheus.NewRegistry())
	handler := pipeline.HandlerFunc[*msg.Post](func(ctx context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		if err := st.Incr(ctx, st.Key("count", p.Site)).Err(); err != nil {
			return nil, fmt.Errorf("cannot count: %w", err)
		}
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := st.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	defer st.ConfigSet(context.Background(), "maxmemory", "0")
	if err := st.Set(ctx, st.Key("probe"), 1, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("a write to the full Redis: %v, want an OOM error", err)
	}
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	produce(t, c, posts, post("s", 1), post("s", 2))

	attempts := float64(c.Config.Runner.MaxAttempts)
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(d.Metrics.Retried.WithLabelValues("classify", "handle")) <= attempts+1 {
		if time.Now().After(deadline) {
			t.Fatal("runner did not retry while Redis was full")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := readTopic(t, c, scored, 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d outputs written while Redis was full", len(got))
	}
	if err := st.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	got := ids(t, readTopic(t, c, scored, 2, 30*time.Second))
	if len(got) != 2 {
		t.Fatalf("after Redis had room again got %v, want both posts", got)
	}
	for _, reason := range []string{"transient", "retries_exhausted"} {
		if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("classify", reason)); n != 0 {
			t.Errorf("a full Redis dead-lettered %v messages (%s)", n, reason)
		}
	}
	cancel()
	<-done
}

// A stage stuck retrying (here its handler's dependency times out every
// time) still shows how far behind it is: the group lag is read from the
// broker, not from the stuck loop, so the rules that page on a stuck stage
// and on growing lag can see it.
func TestAStuckStageShowsItsGroupLag(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 2})
	posts := c.Topic("posts")
	d := deps(c, prometheus.NewRegistry())
	d.GroupLagEvery = 100 * time.Millisecond
	d.Config.ShutdownTimeout = 200 * time.Millisecond // the batch in hand never finishes
	handler := pipeline.HandlerFunc[*msg.Post](func(ctx context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		return nil, fmt.Errorf("cannot reach the dependency: %w", context.DeadlineExceeded)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	var ms []msg.Message
	for i := range 30 {
		ms = append(ms, post(fmt.Sprint("s", i%5), i))
	}
	produce(t, c, posts, ms...)
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(d.Metrics.GroupLag.WithLabelValues("classify")) != 30 {
		if time.Now().After(deadline) {
			t.Fatalf("group lag %v while the stage was stuck, want the 30 messages",
				testutil.ToFloat64(d.Metrics.GroupLag.WithLabelValues("classify")))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if testutil.ToFloat64(d.Metrics.Retried.WithLabelValues("classify", "handle")) == 0 {
		t.Error("the handler's errors were not retried")
	}
	cancel()
	<-done
}

func TestTwoInstancesSplitPartitionsAndTakeOver(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 4})
	posts := c.Topic("posts")
	d := deps(c, nil)
	var mu sync.Mutex
	byInstance := map[string]map[int]int{"a": {}, "b": {}}
	seen := map[string]string{}
	handler := func(name string) pipeline.Handler[*msg.Post] {
		return pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, m pipeline.Meta) ([]pipeline.Output, error) {
			mu.Lock()
			defer mu.Unlock()
			byInstance[name][m.Partition]++
			seen[p.ID] = name
			return nil, nil
		})
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	doneA := runStage(t, ctxA, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler("a")})
	doneB := runStage(t, ctxB, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler("b")})

	var first []msg.Message
	for i := 0; i < 200; i++ {
		first = append(first, post(fmt.Sprintf("site-%d", i), i))
	}
	waitSeen := func(n int, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			mu.Lock()
			got := len(seen)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("saw %d of %d posts", got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Wait until both have joined, so the first batch is split.
	time.Sleep(3 * time.Second)
	produce(t, c, posts, first...)
	waitSeen(200, 30*time.Second)
	mu.Lock()
	a, b := len(byInstance["a"]), len(byInstance["b"])
	for pa := range byInstance["a"] {
		if byInstance["b"][pa] > 0 {
			t.Errorf("partition %d consumed by both instances before any stopped", pa)
		}
	}
	mu.Unlock()
	if a == 0 || b == 0 {
		t.Fatalf("partitions not split: a had %d, b had %d", a, b)
	}

	cancelA()
	if err := <-doneA; err != nil {
		t.Fatalf("instance a: %v", err)
	}
	var second []msg.Message
	for i := 200; i < 400; i++ {
		second = append(second, post(fmt.Sprintf("site-%d", i), i))
	}
	produce(t, c, posts, second...)
	waitSeen(400, 40*time.Second)
	mu.Lock()
	for _, p := range second {
		if seen[p.(*msg.Post).ID] != "b" {
			t.Errorf("post after a stopped handled by %q", seen[p.(*msg.Post).ID])
			break
		}
	}
	mu.Unlock()
	cancelB()
	<-doneB
}

// The crash test runs a stage in a child process (this test binary again),
// kills it with SIGKILL mid-stream, restarts it, and checks every input
// reached the output at least once.
const envChild = "THREATWATCH_TEST_CHILD"

func TestChildStage(t *testing.T) {
	spec := os.Getenv(envChild)
	if spec == "" {
		t.Skip("helper process for TestKilledStageLosesNothing")
	}
	parts := strings.Split(spec, "|") // brokers|prefix
	cfg := config.Default()
	cfg.Kafka.Brokers = strings.Split(parts[0], ",")
	cfg.Topics.Prefix, cfg.Kafka.GroupPrefix = parts[1], parts[1]
	b, err := bus.Open(cfg.Kafka, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	out := cfg.Topics.Name("scored")
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		time.Sleep(2 * time.Millisecond) // slow enough to be killed mid-batch
		return []pipeline.Output{{Topic: out, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
	})
	cfg.Runner.BatchSize = 50
	d := pipeline.Deps{Bus: b, Log: slog.New(slog.DiscardHandler), Config: cfg.Runner, Topics: cfg.Topics}
	_ = pipeline.Run(context.Background(), d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: cfg.Topics.Name("posts"), Handler: handler})
}

func TestKilledStageLosesNothing(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 2})
	posts, scored := c.Topic("posts"), c.Topic("scored")
	var in []msg.Message
	want := map[string]bool{}
	for i := 0; i < 1500; i++ {
		p := post(fmt.Sprintf("site-%d", i%7), i)
		in = append(in, p)
		want[p.ID] = true
	}
	produce(t, c, posts, in...)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildStage$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChild+"="+strings.Join(c.Config.Kafka.Brokers, ",")+"|"+c.Config.Topics.Prefix)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	child := start()
	// Kill it once some, but not all, outputs are out.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := len(readTopic(t, c, scored, 200, 200*time.Millisecond))
		if n >= 200 {
			break
		}
		if time.Now().After(deadline) {
			_ = child.Process.Kill()
			t.Fatalf("child produced only %d outputs", n)
		}
	}
	_ = child.Process.Kill() // SIGKILL: no shutdown, no final commit
	_ = child.Wait()
	before := len(readTopic(t, c, scored, len(want), 500*time.Millisecond))
	if before >= len(want) {
		t.Fatalf("child finished all %d before it was killed; the test needs a slower child", before)
	}
	child = start()
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	// The killed member's session must time out before its partitions move,
	// so poll until every input has an output or a generous deadline passes.
	var got map[string]int
	var missing []string
	for deadline := time.Now().Add(60 * time.Second); ; {
		got = ids(t, readTopic(t, c, scored, 1<<30, time.Second))
		missing = missing[:0]
		for id := range want {
			if got[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("%d posts lost after a SIGKILL and restart, e.g. %v", len(missing), missing[:min(3, len(missing))])
	}
	dups := 0
	for _, n := range got {
		dups += n - 1
	}
	t.Logf("killed after %d outputs; all %d arrived, %d duplicates (allowed: at-least-once)", before, len(want), dups)
}

func TestGracefulShutdownCommitsWhatWasProcessed(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts := c.Topic("posts")
	d := deps(c, nil)
	var handled atomic.Int64
	handler := pipeline.HandlerFunc[*msg.Post](func(context.Context, *msg.Post, pipeline.Meta) ([]pipeline.Output, error) {
		handled.Add(1)
		return nil, nil
	})
	var in []msg.Message
	for i := 0; i < 100; i++ {
		in = append(in, post("s", i))
	}
	produce(t, c, posts, in...)
	ctx, cancel := context.WithCancel(context.Background())
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	for handled.Load() < 100 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A new instance of the group must start after the committed offsets.
	handled.Store(0)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := runStage(t, ctx2, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	produce(t, c, posts, post("s", 1000))
	waitHandled(&handled, 1)
	time.Sleep(300 * time.Millisecond)
	cancel2()
	<-done2
	if n := handled.Load(); n != 1 {
		t.Fatalf("restarted instance handled %d messages, want only the 1 new one", n)
	}
}

func TestDedupSkipsRedeliveredMessages(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	st := redistest.New(t)
	posts := c.Topic("posts")
	d := deps(c, nil)
	d.Store = st
	var handled atomic.Int64
	handler := pipeline.HandlerFunc[*msg.Post](func(context.Context, *msg.Post, pipeline.Meta) ([]pipeline.Output, error) {
		handled.Add(1)
		return nil, nil
	})
	p := post("s", 1)
	produce(t, c, posts, p, p, post("s", 2))
	ctx, cancel := context.WithCancel(context.Background())
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler, Dedup: true})
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(d.Metrics.In.WithLabelValues("classify")) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	first := handled.Load()
	if first != 2 {
		t.Fatalf("handled %d, want 2 (the copy of post 1 skipped)", first)
	}
	produce(t, c, posts, p)
	ctx, cancel = context.WithCancel(context.Background())
	done = runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler, Dedup: true})
	deadline = time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(d.Metrics.In.WithLabelValues("classify")) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	if handled.Load() != first {
		t.Fatalf("a message processed before was handled again")
	}
	if testutil.ToFloat64(d.Metrics.Deduped.WithLabelValues("classify")) < 1 {
		t.Fatal("duplicate not counted")
	}
}

var _ = toScored

// A message kafka-go cannot send (over bus.MaxMessageBytes) used to stop
// the stage for good: the write was retried forever. Now the input whose
// output is too large is dead-lettered, and a dead letter whose copy of a
// huge input would itself be too large names where the input is instead.
func TestMessagesTooLargeToSendAreSetAsideAndTheStreamGoesOn(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, scored, dlq := c.Topic("posts"), c.Topic("scored"), c.Topic("dead-letter")
	d := deps(c, prometheus.NewRegistry())
	big := post("s", 2)
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		s := &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}
		if p.ID == big.ID {
			s.Post.Text = strings.Repeat("x", bus.MaxMessageBytes)
		}
		return []pipeline.Output{{Topic: scored, Msg: s}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})

	produce(t, c, posts, post("s", 1), big)
	produceRaw(t, c, posts, `{"not json`+strings.Repeat(" ", 700<<10))
	produce(t, c, posts, post("s", 3))

	dead := onlyPosts1And3Scored(t, c, scored, dlq, 2)
	first, err := msg.Decode[msg.DeadLetter](dead[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if first.Reason != "too_large" || !strings.Contains(first.Error, "over the") || !strings.Contains(string(first.Value), big.ID) {
		t.Errorf("dead letter for the post whose output is too large: reason %q, error %q, value of %d bytes", first.Reason, first.Error, len(first.Value))
	}
	second, err := msg.Decode[msg.DeadLetter](dead[1].Value)
	if err != nil {
		t.Fatal(err)
	}
	where := fmt.Sprintf("%s/%d/%d", posts, second.Partition, second.Offset)
	if second.Reason != "invalid" || len(second.Value) != 0 || !strings.Contains(second.Error, "too large to copy here: read it at "+where) {
		t.Errorf("dead letter for a huge bad input: reason %q, error %q, value of %d bytes", second.Reason, second.Error, len(second.Value))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stage: %v", err)
	}
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("classify", "too_large")); n != 1 {
		t.Errorf("dead-letter metric for too_large = %v, want 1", n)
	}
}

// A post passed on from stage to stage keeps the Kafka timestamp it got
// when it entered the pipeline (Output.Arrival): a stage downstream that
// reads it after a backlog can tell it came long ago. What a stage
// decides (a level) is stamped when written.
func TestPassedOnPostsKeepTheirArrivalTime(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, scored, levels := c.Topic("posts"), c.Topic("scored"), c.Topic("levels")
	d := deps(c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	classify := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, meta pipeline.Meta) ([]pipeline.Output, error) {
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalThreat: 0.5}}, Arrival: meta.Time}}, nil
	})
	aggregate := pipeline.HandlerFunc[*msg.Scored](func(_ context.Context, s *msg.Scored, _ pipeline.Meta) ([]pipeline.Output, error) {
		return []pipeline.Output{{Topic: levels, Msg: &msg.Level{Site: s.Post.Site, Target: s.Post.ID, Time: s.Post.Published, Level: 1}}}, nil
	})
	d1 := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: classify})
	d2 := runStage(t, ctx, d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate", Input: scored, Handler: aggregate})
	// Two posts that entered the topic two hours ago.
	entered := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	w := c.Bus.Writer(posts, bus.WriterOptions{})
	for i := range 2 {
		b, err := msg.Encode(post("s", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("s"), Value: b, Time: entered.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	for i, m := range readTopic(t, c, scored, 2, 30*time.Second) {
		if want := entered.Add(time.Duration(i) * time.Minute); !m.Time.Equal(want) {
			t.Errorf("scored message %d stamped %v, want its post's arrival %v", i, m.Time, want)
		}
	}
	got := readTopic(t, c, levels, 2, 30*time.Second)
	if len(got) != 2 {
		t.Fatalf("%d levels, want 2", len(got))
	}
	for _, m := range got {
		if age := time.Since(m.Time); age > time.Minute {
			t.Errorf("a level stamped %v ago, want when it was written", age.Round(time.Second))
		}
	}
	cancel()
	<-d1
	<-d2
}

// A message the handler refused is dead-lettered, not done: once the cause
// is fixed, its redrive (the same message written to the input again) must
// reach the handler, not be skipped as a repeat for runner.dedup_ttl. Its
// copy in the same batch, skipped as a repeat, is not done either.
func TestARefusedMessageIsNotMarkedSoItsRedriveIsHandled(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	st := redistest.New(t)
	posts, dlq := c.Topic("posts"), c.Topic("dead-letter")
	d := deps(c, nil)
	d.Store = st
	var fixed atomic.Bool
	var handled atomic.Int64
	bad := post("s", 1)
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		if p.ID == bad.ID && !fixed.Load() {
			return nil, pipeline.Permanent("rejected", errors.New("a bug in the stage"))
		}
		handled.Add(1)
		return nil, nil
	})
	stage := pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler, Dedup: true}
	produce(t, c, posts, bad, bad, post("s", 2))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, stage)
	if dead := readTopic(t, c, dlq, 1, 20*time.Second); len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	waitHandled(&handled, 1)
	cancel()
	<-done
	if n := handled.Load(); n != 1 {
		t.Fatalf("handled %d before the fix, want 1 (post 2)", n)
	}

	fixed.Store(true)
	produce(t, c, posts, bad) // what redrive writes
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done = runStage(t, ctx, d, stage)
	waitHandled(&handled, 2)
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	if n := handled.Load(); n != 2 {
		t.Fatalf("handled %d in all, want 2: the redriven post was skipped as a repeat", n)
	}
}

// A handler that panics on one message must not stop the stage: the
// message is dead-lettered with reason "panic" and the stream goes on.
// Before, the process died, read the same uncommitted message on restart
// and died again.
func TestAHandlerPanicDeadLettersTheMessageAndTheStreamGoesOn(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, scored, dlq := c.Topic("posts"), c.Topic("scored"), c.Topic("dead-letter")
	reg := prometheus.NewRegistry()
	d := deps(c, reg)
	bad := post("s", 2)
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		if p.ID == bad.ID {
			var ids []string
			_ = ids[len(p.ID)] // out of range: the runtime panics
		}
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	produce(t, c, posts, post("s", 1), bad, post("s", 3))
	if got := readTopic(t, c, scored, 2, 20*time.Second); len(got) != 2 {
		t.Fatalf("%d scored, want posts 1 and 3", len(got))
	}
	dead := readTopic(t, c, dlq, 1, 20*time.Second)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	for _, h := range dead[0].Headers {
		if h.Key == "tw-reason" && string(h.Value) != "panic" {
			t.Errorf("dead letter reason %q, want panic", h.Value)
		}
	}
	waitCounted(d.Metrics.DeadLettered.WithLabelValues("classify", "panic"), 1)
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("classify", "panic")); n != 1 {
		t.Errorf("dead_letters{reason=panic} = %v, want 1", n)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("stage ended with %v", err)
	}
}

// waitCounted waits up to 20 s for a counter to reach n: the runner counts
// a dead letter once its input's offset is committed, just after the dead
// letter can be read. The test then checks the count itself.
func waitCounted(c prometheus.Counter, n float64) {
	for deadline := time.Now().Add(20 * time.Second); testutil.ToFloat64(c) < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// waitHandled waits up to 20 s for a handler's count to reach n; the test
// then checks the count itself.
func waitHandled(handled *atomic.Int64, n int64) {
	for deadline := time.Now().Add(20 * time.Second); handled.Load() < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}
