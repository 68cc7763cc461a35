package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/notify/webhook"
)

const secret = "shared-hmac-secret"

// v4 is the Alertmanager webhook body as receivers decode it, field by
// field from Alertmanager's documentation.
type v4 struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	} `json:"alerts"`
}

// receiver verifies the signature before parsing, as a receiver must.
func receiver(t *testing.T, got *[]v4, key string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !webhook.Verify([]byte(key), b, r.Header.Get(webhook.DefaultHeader)) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("bad signature"))
			return
		}
		if !webhook.VerifyTimestamped([]byte(key), b, r.Header.Get(webhook.TimestampHeader), r.Header.Get(webhook.TimestampedSignatureHeader), time.Now(), 5*time.Minute) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("bad timestamped signature"))
			return
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		var m v4
		if err := dec.Decode(&m); err != nil {
			t.Errorf("body is not the v4 shape: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		*got = append(*got, m)
	}))
}

func newSink(t *testing.T, url, key string) notify.Sink {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("url: "+url+"/hook\nsecret: "+key+"\n"), &n); err != nil {
		t.Fatal(err)
	}
	s, err := webhook.Factory.Build(n.Content[0], notify.Deps{Receiver: "soc", ExternalURL: "https://tw.example"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWebhookSendsASignedV4Body(t *testing.T) {
	var got []v4
	srv := receiver(t, &got, secret)
	defer srv.Close()
	s := newSink(t, srv.URL, secret)
	a := notifytest.Alert("forum-a")
	b := notifytest.Alert("forum-a")
	b.Labels["signal"] = "doxxing"
	b.Fingerprint = msg.Fingerprint(b.Labels, b.StartsAt)
	if _, err := s.Notify(context.Background(), a, b); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d bodies, want 1", len(got))
	}
	m := got[0]
	if m.Version != "4" || m.Status != "firing" || m.Receiver != "soc" || m.ExternalURL != "https://tw.example" || m.TruncatedAlerts != 0 {
		t.Errorf("header fields: %+v", m)
	}
	if m.GroupLabels["alertname"] != "ThreatSpike" || m.GroupLabels["site"] != "forum-a" {
		t.Errorf("groupLabels %v", m.GroupLabels)
	}
	if _, ok := m.CommonLabels["signal"]; ok || m.CommonLabels["severity"] != "critical" {
		t.Errorf("commonLabels %v: want the shared labels only", m.CommonLabels)
	}
	if !strings.Contains(m.GroupKey, a.Fingerprint) || !strings.Contains(m.GroupKey, b.Fingerprint) {
		t.Errorf("groupKey %q", m.GroupKey)
	}
	if len(m.Alerts) != 2 || m.Alerts[0].Fingerprint != a.Fingerprint || !m.Alerts[0].StartsAt.Equal(a.StartsAt) || m.Alerts[0].Status != "firing" {
		t.Fatalf("alerts %+v", m.Alerts)
	}
	if m.Alerts[0].GeneratorURL != "https://tw.example/alerts/"+a.Fingerprint {
		t.Errorf("generatorURL %q", m.Alerts[0].GeneratorURL)
	}

	end := a.StartsAt.Add(time.Hour)
	a.Status, a.EndsAt = msg.StatusResolved, end
	if _, err := s.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got[1].Status != "resolved" || !got[1].Alerts[0].EndsAt.Equal(end) {
		t.Errorf("resolution: %+v", got[1])
	}
}

func TestWrongKeyIsRejectedAndNotRetried(t *testing.T) {
	var got []v4
	srv := receiver(t, &got, secret)
	defer srv.Close()
	retry, err := newSink(t, srv.URL, "another-key").Notify(context.Background(), notifytest.Alert("forum-a"))
	if err == nil || retry || len(got) != 0 {
		t.Fatalf("wrong key: retry=%v err=%v delivered=%d; want a non-retryable error", retry, err, len(got))
	}
	if strings.Contains(err.Error(), "another-key") {
		t.Fatalf("error leaks the key: %v", err)
	}
}

func TestSignature(t *testing.T) {
	// Known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
	got := webhook.Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	if got != "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8" {
		t.Fatalf("Sign = %s", got)
	}
	if webhook.Verify([]byte("key"), []byte("tampered"), got) {
		t.Fatal("Verify accepted a tampered body")
	}
}

func TestMaxAlertsTruncates(t *testing.T) {
	a, b := notifytest.Alert("a"), notifytest.Alert("b")
	m := webhook.Body("r", "", []*msg.Alert{a, b}, 1)
	if len(m.Alerts) != 1 || m.TruncatedAlerts != 1 {
		t.Fatalf("alerts %d truncated %d, want 1 and 1", len(m.Alerts), m.TruncatedAlerts)
	}
}

// The body's own signature holds for ever, so a recorded request could be
// sent again later; the timestamped one binds the request to when it was
// signed, and a receiver refuses one signed minutes ago, or one whose
// timestamp or body was changed.
func TestTimestampedSignatureRefusesReplays(t *testing.T) {
	key, body := []byte("key"), []byte(`{"status":"firing"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := "1800000000"
	sig := webhook.SignTimestamped(key, ts, body)
	for _, c := range []struct {
		name string
		body []byte
		ts   string
		sig  string
		at   time.Time
		ok   bool
	}{
		{"as sent", body, ts, sig, now, true},
		{"a minute later", body, ts, sig, now.Add(time.Minute), true},
		{"replayed an hour later", body, ts, sig, now.Add(time.Hour), false},
		{"a timestamp moved forward", body, "1800003600", sig, now.Add(time.Hour), false},
		{"another body", []byte(`{"status":"resolved"}`), ts, sig, now, false},
		{"the body's plain signature", body, ts, webhook.Sign(key, body), now, false},
		{"no timestamp", body, "", sig, now, false},
	} {
		if got := webhook.VerifyTimestamped(key, c.body, c.ts, c.sig, c.at, 5*time.Minute); got != c.ok {
			t.Errorf("%s: VerifyTimestamped = %v, want %v", c.name, got, c.ok)
		}
	}
}
