package pagerduty_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/notify/pagerduty"
)

const key = "0123456789abcdef0123456789abcdef"

// eventsAPI is a stand-in for the Events API v2 that checks each request
// against the documented format and answers as PagerDuty does.
type eventsAPI struct {
	t      *testing.T
	mu     sync.Mutex
	events []map[string]any
}

func (e *eventsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(msg string) {
		e.t.Errorf("bad request: %s", msg)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"invalid event","message":"` + msg + `"}`))
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		fail("want POST /v2/enqueue, got " + r.Method + " " + r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fail("content type " + ct)
		return
	}
	b, _ := io.ReadAll(r.Body)
	if len(b) > 512*1024 {
		// PagerDuty refuses events over 512 KB.
		fail("event over 512 KB")
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		fail("not JSON")
		return
	}
	if ev["routing_key"] != key {
		fail("routing_key")
		return
	}
	dk, _ := ev["dedup_key"].(string)
	if dk == "" || len(dk) > 255 {
		fail("dedup_key missing or longer than 255")
		return
	}
	switch ev["event_action"] {
	case "trigger":
		p, ok := ev["payload"].(map[string]any)
		if !ok {
			fail("trigger without payload")
			return
		}
		sum, _ := p["summary"].(string)
		if sum == "" || len(sum) > 1024 {
			fail("payload.summary missing or over 1024")
			return
		}
		if s, _ := p["source"].(string); s == "" {
			fail("payload.source missing")
			return
		}
		switch p["severity"] {
		case "critical", "error", "warning", "info":
		default:
			fail("payload.severity")
			return
		}
		if ts, ok := p["timestamp"].(string); ok {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				fail("payload.timestamp not ISO 8601")
				return
			}
		}
	case "resolve", "acknowledge":
	default:
		fail("event_action")
		return
	}
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"success","message":"Event processed","dedup_key":"` + dk + `"}`))
}

func newSink(t *testing.T, url, extra string) notify.Sink {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("routing_key: "+key+"\nurl: "+url+"/v2/enqueue\n"+extra), &n); err != nil {
		t.Fatal(err)
	}
	s, err := pagerduty.Factory.Build(n.Content[0], notify.Deps{Receiver: "oncall", ExternalURL: "https://tw.example"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTriggerAndResolveShareOneDedupKey(t *testing.T) {
	api := &eventsAPI{t: t}
	srv := httptest.NewServer(api)
	defer srv.Close()
	s := newSink(t, srv.URL, "")

	a := notifytest.Alert("forum-a")
	repeat := notifytest.Alert("forum-a")
	resolved := notifytest.Alert("forum-a")
	resolved.Status = msg.StatusResolved
	for _, x := range []*msg.Alert{a, repeat, resolved} {
		if retry, err := s.Notify(context.Background(), x); err != nil {
			t.Fatalf("Notify: retry=%v err=%v", retry, err)
		}
	}
	if len(api.events) != 3 {
		t.Fatalf("got %d events, want 3", len(api.events))
	}
	var actions []string
	for _, ev := range api.events {
		actions = append(actions, ev["event_action"].(string))
		if ev["dedup_key"] != api.events[0]["dedup_key"] {
			t.Errorf("dedup_key %v differs from the first %v", ev["dedup_key"], api.events[0]["dedup_key"])
		}
	}
	if strings.Join(actions, ",") != "trigger,trigger,resolve" {
		t.Errorf("actions = %v", actions)
	}
	if !strings.Contains(api.events[0]["dedup_key"].(string), a.Fingerprint) {
		t.Errorf("dedup_key %v does not carry the fingerprint %s", api.events[0]["dedup_key"], a.Fingerprint)
	}
	p := api.events[0]["payload"].(map[string]any)
	if p["summary"] != "Swatting talk spiking on forum-a" || p["source"] != "forum-a" || p["severity"] != "critical" || p["class"] != "swatting" {
		t.Errorf("payload = %v", p)
	}
	if api.events[0]["client_url"] != "https://tw.example/alerts/"+a.Fingerprint {
		t.Errorf("client_url = %v", api.events[0]["client_url"])
	}
	if _, ok := api.events[2]["payload"]; ok {
		t.Error("a resolve event carries no payload")
	}
}

func TestSeverityMapping(t *testing.T) {
	api := &eventsAPI{t: t}
	srv := httptest.NewServer(api)
	defer srv.Close()
	s := newSink(t, srv.URL, "severity: {elevated: info}\n")
	f := func(label, want string) {
		t.Helper()
		api.events = nil
		a := notifytest.Alert("forum-a")
		a.Labels["severity"] = label
		if _, err := s.Notify(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		if got := api.events[0]["payload"].(map[string]any)["severity"]; got != want {
			t.Errorf("severity %q -> %v, want %s", label, got, want)
		}
	}
	f("severe", "critical")
	f("high", "error")
	f("elevated", "info") // overridden
	f("Critical", "critical")
	f("unheard-of", "warning")
}

func TestSettingsAreChecked(t *testing.T) {
	f := func(settings, wantPath string) {
		t.Helper()
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(settings), &n); err != nil {
			t.Fatal(err)
		}
		_, err := pagerduty.Factory.Build(n.Content[0], notify.Deps{Path: "notify.receivers[0].settings"})
		if err == nil || !strings.Contains(err.Error(), wantPath) {
			t.Errorf("settings %q: error %v, want one naming %s", settings, err, wantPath)
		}
		if err != nil && (strings.Contains(err.Error(), "short") || strings.Contains(err.Error(), "hunter2hunter2")) {
			t.Errorf("error echoes a secret: %v", err)
		}
	}
	f("url: https://x\n", "settings.routing_key")
	f("routing_key: short\n", "settings.routing_key")
	f("routing_key: "+key+"\nurl: ftp://x\n", "settings.url")
	f("routing_key: "+key+"\nurl: htps://ops:hunter2hunter2@events.example\n", "settings.url")
	f("routing_key: "+key+"\nseverity: {high: loud}\n", "settings.severity.high")
}

func TestAcknowledgeEvent(t *testing.T) {
	api := &eventsAPI{t: t}
	srv := httptest.NewServer(api)
	defer srv.Close()
	s := newSink(t, srv.URL, "")
	ak, ok := s.(notify.Acknowledger)
	if !ok {
		t.Fatal("the built PagerDuty sink does not acknowledge")
	}
	a := notifytest.Alert("forum-a")
	if _, err := ak.Acknowledge(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if len(api.events) != 1 || api.events[0]["event_action"] != "acknowledge" || api.events[0]["dedup_key"] != pagerduty.DedupKey(a) {
		t.Fatalf("events %v", api.events)
	}
}

// An alert with huge texts must still page: PagerDuty refuses an event
// over 512 KB with a 400, which is not retried, so the firing never
// reached anyone. The texts are cut to fit, the summary to 1024
// characters, on rune boundaries, and the event says so.
func TestHugeAlertTextsStillPage(t *testing.T) {
	huge := strings.Repeat("Ünïcödé threat text ", 30_000) // 660 KB
	cases := map[string]func(a *msg.Alert){
		"a huge description": func(a *msg.Alert) { a.Annotations["description"] = huge },
		"a huge summary":     func(a *msg.Alert) { a.Annotations["summary"] = huge },
		"huge evidence snippets": func(a *msg.Alert) {
			for i := range 8 {
				a.Evidence = append(a.Evidence, msg.Contributor{PostID: fmt.Sprintf("forum-a:%d", i), Snippet: huge[:70_000]})
			}
		},
		"many huge annotations": func(a *msg.Alert) {
			for i := range 12 {
				a.Annotations[fmt.Sprintf("note%d", i)] = huge[:50_000]
			}
		},
		"a huge extra label": func(a *msg.Alert) { a.Labels["note"] = huge },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			api := &eventsAPI{t: t}
			srv := httptest.NewServer(api)
			defer srv.Close()
			s := newSink(t, srv.URL, "")
			a := notifytest.Alert("forum-a")
			mutate(a)
			if retry, err := s.Notify(context.Background(), a); err != nil {
				t.Fatalf("Notify: retry=%v err=%v", retry, err)
			}
			if len(api.events) != 1 {
				t.Fatalf("got %d events, want the trigger", len(api.events))
			}
			p := api.events[0]["payload"].(map[string]any)
			sum := p["summary"].(string)
			if !utf8.ValidString(sum) || utf8.RuneCountInString(sum) > 1024 {
				t.Errorf("summary of %d runes, valid UTF-8 %v", utf8.RuneCountInString(sum), utf8.ValidString(sum))
			}
			cd := p["custom_details"].(map[string]any)
			if cd["fingerprint"] != a.Fingerprint {
				t.Errorf("custom_details lost the fingerprint: %v", cd["fingerprint"])
			}
			if lbl, _ := cd["labels"].(map[string]any); lbl["site"] != "forum-a" || lbl["target"] != a.Labels["target"] {
				t.Errorf("custom_details lost the identity labels: %v", lbl)
			}
			b, _ := json.Marshal(cd)
			if !utf8.Valid(b) || strings.Contains(string(b), `\ufffd`) {
				t.Error("custom_details cut inside a character")
			}
			if _, ok := cd["truncated"]; !ok {
				t.Error("custom_details do not say texts were cut")
			}
		})
	}
}
