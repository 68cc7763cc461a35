package nab

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/aggregate"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestEngineOnNAB runs the shipped default configuration over the NAB
// series named by TW_NAB_DIR (a nab-tweets-dev checkout) and writes the
// detections to TW_NAB_OUT for nabscore.py. It is an evaluation, not a unit
// test: without TW_NAB_DIR it skips.
func TestEngineOnNAB(t *testing.T) {
	dir, out := os.Getenv("TW_NAB_DIR"), os.Getenv("TW_NAB_OUT")
	if dir == "" || out == "" {
		t.Skip("set TW_NAB_DIR and TW_NAB_OUT to evaluate on NAB data")
	}
	series, err := Load(dir, "realTweets")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if p := os.Getenv("TW_NAB_CONFIG"); p != "" {
		if cfg, err = config.Load(p); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := aggregate.NewEngine(cfg.Aggregate)
	if err != nil {
		t.Fatal(err)
	}
	var posts []*msg.Scored
	if _, err := Posts(context.Background(), series, func(s *msg.Scored) error { posts = append(posts, s); return nil }); err != nil {
		t.Fatal(err)
	}
	i := 0
	next := func() (*msg.Scored, error) {
		if i == len(posts) {
			return nil, io.EOF
		}
		i++
		return posts[i-1], nil
	}
	var alerts []*msg.Alert
	start := time.Now()
	if _, err := Drive(context.Background(), eng, next, 48*time.Hour, func(o aggregate.Output) error {
		if o.Alert != nil {
			alerts = append(alerts, o.Alert)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d posts in %v", len(posts), time.Since(start))
	if err := WriteDetections(out, series, Onsets(alerts)); err != nil {
		t.Fatal(err)
	}
}

func TestAnEscalationIsNotANewOnset(t *testing.T) {
	t1 := time.Date(2015, 3, 2, 10, 30, 0, 0, time.UTC)
	site := SitePrefix + "x"
	fire := func(fp, severity string, at time.Time, ann map[string]string) *msg.Alert {
		return &msg.Alert{Status: msg.StatusFiring, Fingerprint: fp, EventTime: at, StartsAt: at, Annotations: ann,
			Labels: map[string]string{"alertname": "ThreatLevelSpike", "site": site, "severity": severity}}
	}
	got := Onsets([]*msg.Alert{
		fire("a", "warning", t1, nil),
		fire("b", "critical", t1.Add(5*time.Minute), map[string]string{alert.AnnotationEscalates: "a"}),
		fire("b", "critical", t1.Add(time.Hour), map[string]string{alert.AnnotationEscalates: "a"}),
		fire("c", "warning", t1.Add(48*time.Hour), nil),
	})
	if ts := got[site]; len(ts) != 2 || !ts[0].Equal(t1) || !ts[1].Equal(t1.Add(48*time.Hour)) {
		t.Errorf("onsets %v, want the warning's and the next episode's only", ts)
	}
}
