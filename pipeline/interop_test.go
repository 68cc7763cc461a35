package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// kcatPath finds kcat (Debian also ships it as kafkacat). Missing, the test
// skips, except under CI=true, where .ci/run installs it and its absence is
// a failure.
func kcatPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("kcat is not installed (CI=true requires it; .ci/run installs Debian's kcat)")
	}
	t.Skip("kcat is not installed; install Debian's kcat to run the interop test")
	return ""
}

func kcat(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// Other Kafka clients must read what ThreatWatch writes and write what it
// reads: here librdkafka (through kcat) against the same cluster.
func TestKcatInterop(t *testing.T) {
	bin := kcatPath(t)
	c := kafkatest.New(t, kafkatest.Options{Partitions: 3})
	broker := strings.Join(c.Config.Kafka.Brokers, ",")
	posts, scored, dlq := c.Topic("posts"), c.Topic("scored"), c.Topic("dead-letter")

	// ThreatWatch writes; kcat reads every message with its key and partition.
	var in []msg.Message
	for i := 0; i < 30; i++ {
		in = append(in, post(fmt.Sprintf("site-%d", i%4), i))
	}
	produce(t, c, posts, in...)
	out := kcat(t, bin, "", "-b", broker, "-C", "-t", posts, "-o", "beginning", "-e", "-q", "-f", "%k\t%p\t%s\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 30 {
		t.Fatalf("kcat read %d messages, want 30", len(lines))
	}
	partOf := map[string]string{}
	for _, l := range lines {
		f := strings.SplitN(l, "\t", 3)
		if _, err := msg.Decode[msg.Post]([]byte(f[2])); err != nil {
			t.Fatalf("kcat read a message that does not decode: %v", err)
		}
		if prev, ok := partOf[f[0]]; ok && prev != f[1] {
			t.Fatalf("key %s on partitions %s and %s", f[0], prev, f[1])
		}
		partOf[f[0]] = f[1]
	}

	// kcat with the Java-compatible partitioner puts a key where we do.
	kcat(t, bin, "site-1\t"+mustEncode(t, post("site-1", 100))+"\n", "-b", broker, "-P", "-t", posts, "-K", "\t",
		"-X", "topic.partitioner=murmur2_random")
	// kcat writes a poison message; the stage must dead-letter it.
	kcat(t, bin, "site-9\t{not json\n", "-b", broker, "-P", "-t", posts, "-K", "\t")

	d := deps(c, prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, m pipeline.Meta) ([]pipeline.Output, error) {
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: fmt.Sprint(m.Partition)}}}, nil
	})
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	got := readTopic(t, c, scored, 31, 30*time.Second)
	if len(got) != 31 {
		t.Fatalf("stage wrote %d scored posts, want 31", len(got))
	}
	for _, m := range got {
		s, _ := msg.Decode[msg.Scored](m.Value)
		if s.Post.SitePostID == "100" && s.Version != partOf["site-1"] {
			t.Fatalf("kcat put key site-1 on partition %s, ThreatWatch on %s", s.Version, partOf["site-1"])
		}
	}
	// kcat sees the dead letter's headers.
	var hdrs string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		hdrs = kcat(t, bin, "", "-b", broker, "-C", "-t", dlq, "-o", "beginning", "-e", "-q", "-f", "%h\n")
		if strings.Contains(hdrs, "tw-reason=invalid") {
			break
		}
	}
	if !strings.Contains(hdrs, "tw-stage=classify") || !strings.Contains(hdrs, "tw-source-topic="+posts) || !strings.Contains(hdrs, "tw-reason=invalid") {
		t.Fatalf("kcat sees dead-letter headers %q", hdrs)
	}
	cancel()
	<-done
}

func mustEncode(t *testing.T, m msg.Message) string {
	t.Helper()
	b, err := msg.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
