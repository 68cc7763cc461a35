package slack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/notify/slack"
)

// hook is a stand-in for a Slack incoming webhook: it checks the payload
// the way Slack does (JSON with text, or blocks; block types it knows) and
// answers "ok", or what it was told to.
func hook(t *testing.T, got *[]map[string]any, status int, answer string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/services/T1/B1/abc" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("invalid_payload"))
			return
		}
		if text, _ := m["text"].(string); text == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("no_text"))
			return
		}
		blocks, _ := m["blocks"].([]any)
		for _, bl := range blocks {
			switch bl.(map[string]any)["type"] {
			case "header", "section", "context", "divider":
			default:
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte("invalid_blocks"))
				return
			}
		}
		*got = append(*got, m)
		if status != 0 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(status)
		}
		_, _ = w.Write([]byte(answer))
	}))
}

func newSink(t *testing.T, url string) notify.Sink {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("url: "+url+"/services/T1/B1/abc\nchannel: '#alerts'\n"), &n); err != nil {
		t.Fatal(err)
	}
	s, err := slack.Factory.Build(n.Content[0], notify.Deps{Receiver: "team", ExternalURL: "https://tw.example"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSlackMessageHasTextAndBlocks(t *testing.T) {
	var got []map[string]any
	srv := hook(t, &got, 0, "ok")
	defer srv.Close()
	s := newSink(t, srv.URL)
	a := notifytest.Alert("forum-a")
	a.Evidence = []msg.Contributor{{PostID: "forum-a:1", URL: "https://forum-a.example/t/1", Snippet: "<@U123> go to [ADDRESS] & wait"}}
	if _, err := s.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	m := got[0]
	if m["text"] != "[FIRING] Swatting talk spiking on forum-a" || m["channel"] != "#alerts" {
		t.Errorf("text %q channel %q", m["text"], m["channel"])
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m["blocks"])
	raw := buf.String()
	for _, want := range []string{`"type":"header"`, "Level 7.50 against a baseline of 1.20", "swatting 0.93", "https://tw.example/alerts/" + a.Fingerprint, "&lt;@U123&gt;", "&amp; wait"} {
		if !strings.Contains(raw, want) {
			t.Errorf("blocks lack %q: %s", want, raw)
		}
	}
	if strings.Contains(raw, "<@U123>") {
		t.Error("a snippet can mention a user: mrkdwn not escaped")
	}

	resolved := notifytest.Alert("forum-a")
	resolved.Status = msg.StatusResolved
	if _, err := s.Notify(context.Background(), resolved); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got[1]["text"].(string), "[RESOLVED] ") {
		t.Errorf("resolution text %q", got[1]["text"])
	}
}

func TestSlackErrorsAreClassified(t *testing.T) {
	f := func(status int, answer string, wantRetry bool) {
		t.Helper()
		var got []map[string]any
		srv := hook(t, &got, status, answer)
		defer srv.Close()
		retry, err := newSink(t, srv.URL).Notify(context.Background(), notifytest.Alert("forum-a"))
		if err == nil || retry != wantRetry || !strings.Contains(err.Error(), answer) {
			t.Errorf("status %d: retry=%v err=%v; want retry=%v and the answer in the error", status, retry, err, wantRetry)
		}
		if d, ok := notify.RetryAfter(err); status == 429 && (!ok || d.Seconds() != 7) {
			t.Errorf("429: Retry-After %v %v, want 7s", d, ok)
		}
	}
	f(http.StatusTooManyRequests, "rate_limited", true)
	f(http.StatusNotFound, "no_service", false)
	f(http.StatusBadRequest, "invalid_token", false)
	f(http.StatusInternalServerError, "internal_error", true)
}

// The message's top-level text (what the notification and a client
// without blocks show) is mrkdwn as well: a title holding "<!channel>"
// (a site's name is configuration, a rule's name too) pinged the whole
// channel, which the blocks, escaped, did not.
func TestSlackTopLevelTextIsEscaped(t *testing.T) {
	var got []map[string]any
	srv := hook(t, &got, 0, "ok")
	defer srv.Close()
	s := newSink(t, srv.URL)
	a := notifytest.Alert("<!channel> & co")
	a.Annotations["summary"] = "Swatting talk spiking on <!channel> & co"
	if _, err := s.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	text, _ := got[0]["text"].(string)
	if strings.Contains(text, "<!channel>") || !strings.Contains(text, "&lt;!channel&gt; &amp; co") {
		t.Errorf("text %q: want mrkdwn escaped", text)
	}
}
