package sinks_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/notify/sinks"
)

// The secrets the conformance settings use; none may appear in an error.
const (
	secretToken = "TOKENs3cr3tT0k3nV4lue"
	routingKey  = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32" // 32 characters
	hmacKey     = "hm4c-k3y-n0t-f0r-pr1nt1ng"
	urlKey      = "/services/T000/B000/XXXXsecretpathXXXX"
)

// settingsFor returns settings that point the sink of type typ at base
// (an HTTP server) or at file. A sink added to the registry without an
// entry here fails the test: every sink must pass the conformance suite.
func settingsFor(t testing.TB, typ, base, file string) string {
	switch typ {
	case "alertmanager":
		return "url: " + base + "\nbearer_token: " + secretToken + "\n"
	case "pagerduty":
		return "url: " + base + "/v2/enqueue\nrouting_key: " + routingKey + "\n"
	case "slack":
		return "url: " + base + urlKey + "\n"
	case "webhook":
		return "url: " + base + urlKey + "?token=" + secretToken + "\nsecret: " + hmacKey + "\n"
	case "file":
		return "path: " + file + "\n"
	}
	t.Fatalf("sink %q has no conformance settings: add a case to settingsFor", typ)
	return ""
}

func node(t testing.TB, s string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

// capture is an HTTP server recording request bodies and answering with
// status.
type capture struct {
	mu     sync.Mutex
	bodies [][]byte
	status int
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.bodies = append(c.bodies, append(b, []byte(r.URL.String()+" "+r.Header.Get("Authorization"))...))
	status := c.status
	c.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
		if strings.Contains(r.URL.Path, "enqueue") {
			status = http.StatusAccepted
		}
	}
	w.WriteHeader(status)
	// A failing server that echoes what it got, secrets included, as some do.
	if status >= 400 {
		_, _ = w.Write([]byte("bad request to " + r.URL.String() + " auth " + r.Header.Get("Authorization") + " body " + string(b[:min(len(b), 120)])))
	}
}

func (c *capture) all() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Join(c.bodies, []byte("\n"))
}

func build(t testing.TB, f notify.Factory, base, file string) notify.Sink {
	t.Helper()
	s, err := f.Build(node(t, settingsFor(t, f.Type, base, file)), notify.Deps{
		Receiver: "conformance", Path: "notify.receivers[0].settings",
		Client: &http.Client{Timeout: 2 * time.Second}, ExternalURL: "https://tw.example",
	})
	if err != nil {
		t.Fatalf("build %s: %v", f.Type, err)
	}
	return s
}

func TestEverySinkSendsNoRawPII(t *testing.T) {
	for _, f := range sinks.All() {
		t.Run(f.Type, func(t *testing.T) {
			c := &capture{}
			srv := httptest.NewServer(c)
			defer srv.Close()
			file := filepath.Join(t.TempDir(), "alerts.jsonl")
			s := build(t, f, srv.URL, file)
			in := notifytest.PIIAlert("forum-a")
			resolved := notifytest.PIIAlert("forum-b")
			resolved.Status, resolved.EndsAt = msg.StatusResolved, notifytest.Start.Add(time.Hour)
			for _, a := range []*msg.Alert{in, resolved} {
				if _, err := s.Notify(context.Background(), a); err != nil {
					t.Fatalf("Notify: %v", err)
				}
			}
			sent := c.all()
			if f.Type == "file" {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				sent = b
			}
			if len(sent) < 50 {
				t.Fatalf("captured only %q: the sink sent nothing worth checking", sent)
			}
			if leaked := notifytest.LeakedPII(sent); len(leaked) > 0 {
				t.Errorf("sink %s sent raw PII %q in:\n%s", f.Type, leaked, sent)
			}
			if f.Type == "pagerduty" {
				// A resolve event carries no text at all; check the trigger.
				sent = bytes.SplitN(sent, []byte("\n"), 2)[0]
			}
			for _, p := range notifytest.Placeholders {
				if !bytes.Contains(sent, []byte(p)) {
					t.Errorf("sink %s payload lacks the placeholder %s:\n%s", f.Type, p, sent)
				}
			}
			if in.Annotations["summary"] != notifytest.PIIAlert("forum-a").Annotations["summary"] {
				t.Error("the sink (or its redaction) modified the caller's alert")
			}
		})
	}
}

func TestFailingSinksNeverLeakTheirSecrets(t *testing.T) {
	secrets := []string{secretToken, routingKey, hmacKey, urlKey, "XXXXsecretpathXXXX"}
	check := func(t *testing.T, typ, how string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s %s: no error", typ, how)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s %s: error leaks a secret: %v", typ, how, err)
			}
		}
	}
	for _, f := range sinks.All() {
		t.Run(f.Type, func(t *testing.T) {
			if f.Type == "file" {
				// The file sink holds no secret; check it fails cleanly.
				dir := t.TempDir()
				s := build(t, f, "", filepath.Join(dir, "missing", "alerts.jsonl"))
				retry, err := s.Notify(context.Background(), notifytest.Alert("forum-a"))
				if err == nil || !retry {
					t.Fatalf("file sink on a missing directory: retry=%v err=%v", retry, err)
				}
				return
			}
			for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
				c := &capture{status: status}
				srv := httptest.NewServer(c)
				s := build(t, f, srv.URL, "")
				retry, err := s.Notify(context.Background(), notifytest.Alert("forum-a"))
				srv.Close()
				check(t, f.Type, http.StatusText(status), err)
				if want := status >= 500; retry != want {
					t.Errorf("%s on %d: retry=%v, want %v", f.Type, status, retry, want)
				}
			}
			// Nothing listening: a transport error, which net/http words
			// with the full URL.
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			base := "http://" + l.Addr().String()
			l.Close()
			s := build(t, f, base, "")
			retry, err := s.Notify(context.Background(), notifytest.Alert("forum-a"))
			check(t, f.Type, "unreachable", err)
			if !retry {
				t.Errorf("%s unreachable: retry=false, want true", f.Type)
			}
		})
	}
}

func TestEverySinkRejectsUnknownSettings(t *testing.T) {
	for _, f := range sinks.All() {
		t.Run(f.Type, func(t *testing.T) {
			_, err := f.Build(node(t, settingsFor(t, f.Type, "http://127.0.0.1:1", "x")+"no_such_setting: 1\n"), notify.Deps{Path: "notify.receivers[3].settings"})
			if err == nil || !strings.Contains(err.Error(), "notify.receivers[3].settings") || !strings.Contains(err.Error(), "no_such_setting") {
				t.Fatalf("unknown setting: %v; want an error naming the path and the key", err)
			}
			if _, err := f.Build(node(t, "{}"), notify.Deps{Path: "p"}); err == nil {
				t.Fatal("empty settings accepted; every sink has a required setting")
			}
		})
	}
}

// Secret settings must carry names the config printer masks.
func TestEverySecretSettingHasAMaskedName(t *testing.T) {
	secretType := reflect.TypeFor[config.Secret]()
	for _, f := range sinks.All() {
		typ := reflect.TypeOf(f.Settings()).Elem()
		for i := range typ.NumField() {
			fl := typ.Field(i)
			if fl.Type != secretType {
				continue
			}
			name, _, _ := strings.Cut(fl.Tag.Get("yaml"), ",")
			if !config.SecretKeyName(name) {
				t.Errorf("sink %s: secret setting %q is not masked when the config is printed; rename it (url, key, token, secret, password)", f.Type, name)
			}
		}
	}
}

func TestSinkTypesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range sinks.All() {
		if f.Type == "" || seen[f.Type] || f.Doc == "" || f.New == nil || f.Settings == nil {
			t.Errorf("bad registration %+v", f.Type)
		}
		seen[f.Type] = true
	}
}
