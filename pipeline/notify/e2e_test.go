package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/notify/sinks"
	"github.com/threatwatch/threatwatch/pipeline/notify/webhook"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// The notify stage end to end: alerts on the alerts topic of an
// in-process Kafka cluster, state in a private Redis, a signed webhook
// receiver; silences, replays and bad messages on the way.
func TestNotifyStageEndToEnd(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{})
	rs := redistest.New(t)
	state := alertstate.New(rs)

	var mu sync.Mutex
	var bodies []webhook.Message
	var raw [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !webhook.Verify([]byte("k3y"), b, r.Header.Get(webhook.DefaultHeader)) {
			t.Error("webhook body with a bad signature")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m webhook.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		bodies, raw = append(bodies, m), append(raw, b)
		mu.Unlock()
	}))
	defer hook.Close()

	cfg := kc.Config
	yml := fmt.Sprintf(`
notify:
  tick: 100ms
  receivers:
    - name: soc
      type: webhook
      settings: {url: %q, secret: k3y}
  default_receivers: [soc]
`, hook.URL+"/alerts")
	nc, err := config.Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Notify = nc.Notify
	stage, err := notify.New(cfg.Notify, sinks.All(), state, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	if _, err := state.CreateSilence(ctx, alertstate.Silence{
		Matchers: []alertstate.Matcher{alertstate.MustMatcher("site", "=", "muted-forum")}, EndsAt: time.Now().Add(time.Hour), CreatedBy: "ana",
	}); err != nil {
		t.Fatal(err)
	}

	a := notifytest.PIIAlert("forum-a")
	muted := notifytest.Alert("muted-forum")
	replay := notifytest.Alert("forum-r")
	replay.Replay = true
	res := *a
	res.Status, res.EndsAt = msg.StatusResolved, a.StartsAt.Add(time.Hour)

	topic := kc.Topic(cfg.Topics.Alerts)
	w := kc.Bus.Writer(topic, bus.WriterOptions{})
	defer w.Close()
	var kms []kafka.Message
	for _, m := range []*msg.Alert{a, muted, replay, a /* a duplicate */} {
		b, err := msg.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		kms = append(kms, kafka.Message{Key: []byte(m.Key()), Value: b})
	}
	kms = append(kms, kafka.Message{Key: []byte("forum-a"), Value: []byte(`{"schema":"alert/1","labels":{}}`)})
	if err := w.WriteMessages(ctx, kms...); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(runCtx, pipeline.Deps{
			Bus: kc.Bus, Store: rs, Log: slog.New(slog.DiscardHandler), Config: cfg.Runner, Topics: cfg.Topics,
		}, pipeline.Stage[msg.Alert, *msg.Alert]{Name: "notify", Input: topic, Handler: stage, TickEvery: cfg.Notify.Tick})
	}()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(bodies) }
	waitUntil("the firing notification", func() bool { return count() >= 1 })

	b, _ := msg.Encode(&res)
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(res.Key()), Value: b}); err != nil {
		t.Fatal(err)
	}
	waitUntil("the resolution", func() bool { return count() >= 2 })
	// Let the runner and a few ticks go on: nothing else may be sent.
	time.Sleep(400 * time.Millisecond)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, m := range bodies {
		got = append(got, m.Status+":"+m.Alerts[0].Labels["site"])
	}
	if fmt.Sprint(got) != "[firing:forum-a resolved:forum-a]" {
		t.Fatalf("webhook got %v; want forum-a firing once, then resolved", got)
	}
	if leaked := notifytest.LeakedPII([]byte(strings.Join(func() []string {
		var s []string
		for _, r := range raw {
			s = append(s, string(r))
		}
		return s
	}(), "\n"))); len(leaked) > 0 {
		t.Fatalf("webhook received raw PII %v", leaked)
	}

	es, _, err := state.Audit(ctx, alertstate.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	for _, e := range es {
		if e.Action == alertstate.ActionNotify {
			results[e.Labels["site"]+":"+e.Status] = e.Result
		}
	}
	want := map[string]string{"forum-a:firing": "sent", "forum-a:resolved": "sent", "muted-forum:firing": "silenced", "forum-r:firing": "replay"}
	if fmt.Sprint(results) != fmt.Sprint(want) {
		t.Fatalf("audit results %v, want %v", results, want)
	}

	// The malformed message went to the dead-letter topic, not nowhere.
	found := false
	for p := range cfg.Kafka.Partitions {
		pr := kc.Bus.PartitionReader(kc.Topic(cfg.Topics.DeadLetter), p)
		rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		m, err := pr.ReadMessage(rctx)
		cancel()
		pr.Close()
		if err == nil && strings.Contains(string(m.Value), "notify") {
			found = true
		}
	}
	if !found {
		t.Fatal("the malformed alert is not on the dead-letter topic")
	}
}
