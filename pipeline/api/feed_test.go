package api

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A console cut off from Kafka tells its dashboards that the feed is
// paused, so the levels they show are not taken for live ones, and tells
// them again when it is back.
func TestTheConsoleSaysWhenItsFeedIsPausedAndBack(t *testing.T) {
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		t.Skip("cannot stop an external Kafka cluster")
	}
	r := startPipelineOn(t, kafkatest.Options{Partitions: 2, Restartable: true}, 100*time.Millisecond, 0, nil)

	s := openStream(t, nil, r.url, config.RoleViewer, "")
	hello := s.waitFor(t, "event: hello", 5*time.Second)
	if !strings.Contains(hello, `"feed":{"state":"live"`) {
		t.Fatalf("hello does not say the feed is live:\n%s", hello)
	}

	r.kc.Stop(t)
	txt := s.waitFor(t, `"state":"paused"`, 15*time.Second)
	if !strings.Contains(txt, "event: feed") || !strings.Contains(txt, "cannot reach the stream") || strings.Contains(txt, "127.0.0.1") {
		t.Fatalf("the pause was not sent as a feed event with its reason, or named the broker:\n%s", txt)
	}
	// A dashboard that connects during the outage learns it from its hello.
	late := openStream(t, nil, r.url, config.RoleViewer, "")
	if h := late.waitFor(t, "event: hello", 5*time.Second); !strings.Contains(h, `"feed":{"state":"paused"`) {
		t.Fatalf("a stream opened during the outage is told the feed is live:\n%s", h)
	}

	r.kc.Start(t)
	waitForFeed(t, s, FeedLive)
}

// Kafka answers, but posts wait and the classify stage commits none of
// them: the console says it is behind and names the stage, and says it is
// current again once the stage has caught up.
func TestTheConsoleSaysWhenAStageUpstreamStalls(t *testing.T) {
	r := startPipelineOn(t, kafkatest.Options{Partitions: 2}, 100*time.Millisecond, 600*time.Millisecond, nil)
	s := openStream(t, nil, r.url, config.RoleViewer, "")
	s.waitFor(t, "event: hello", 5*time.Second)

	posts := r.deps.Topics.Name(r.deps.Topics.Posts)
	var outs []pipeline.Output
	for i := 0; i < 10; i++ {
		p := &msg.Post{Site: "forum-a", SitePostID: strconv.Itoa(i), Text: "a post", Published: time.Now().UTC()}
		p.Normalize()
		outs = append(outs, pipeline.Output{Topic: posts, Msg: p})
	}
	if err := r.prod.Send(context.Background(), outs...); err != nil {
		t.Fatal(err)
	}
	txt := s.waitFor(t, `"state":"behind"`, 15*time.Second)
	if !strings.Contains(txt, "posts wait to be scored: the classify stage has made no progress") {
		t.Fatalf("the stall does not name the stage:\n%s", txt)
	}

	// The stage runs and commits everything: the feed is current again.
	rd := r.kc.Bus.GroupReader("classify", []string{posts}, bus.ReaderOptions{})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < len(outs); i++ {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := rd.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	waitForFeed(t, s, FeedLive)
}

// waitForFeed waits until the stream's last feed event has state.
func waitForFeed(t *testing.T, s *stream, state string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		txt := s.text()
		if i := strings.LastIndex(txt, "event: feed"); i >= 0 && strings.Contains(txt[i:], `"state":"`+state+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last feed event never said %q:\n%s", state, txt)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
