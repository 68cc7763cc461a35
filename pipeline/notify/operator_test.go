package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/notify/sinks"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// Who acknowledged or resolved an alert is the audit log's to keep: an
// operator's name (an e-mail address, with OIDC) reaches no page, chat
// message or webhook. Every registered sink is sent a firing, the
// acknowledgement (PagerDuty) and the resolution an operator asked for.
func TestNoSinkPayloadNamesTheOperatorWhoActed(t *testing.T) {
	const operator = "alice.operator@soc.example.org"
	var mu sync.Mutex
	bodies := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		// Alertmanager's sink adds its API path.
		p, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		mu.Lock()
		bodies["/"+p] = append(bodies["/"+p], string(b))
		mu.Unlock()
		if p == "pd" {
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	cfg, err := config.Parse(fmt.Appendf(nil, `
notify:
  receivers:
    - {name: pd, type: pagerduty, settings: {url: %[1]q, routing_key: r0uting0123456789abcdef012345678}}
    - {name: chat, type: slack, settings: {url: %[2]q}}
    - {name: hook, type: webhook, settings: {url: %[3]q, secret: k3y}}
    - {name: am, type: alertmanager, settings: {url: %[4]q}}
  default_receivers: [pd, chat, hook, am]
`, srv.URL+"/pd", srv.URL+"/slack", srv.URL+"/hook", srv.URL+"/am"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: notifytest.Start}
	st := alertstate.New(redistest.New(t), alertstate.WithClock(c.now))
	s, err := notify.New(cfg.Notify, sinks.All(), st, notify.Options{Now: c.now, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := notifytest.Alert("forum-a")
	if _, err := s.Handle(ctx, a, pipeline.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Acknowledge(ctx, a.Fingerprint, operator, "on it"); err != nil {
		t.Fatal(err)
	}
	c.add(cfg.Notify.Tick)
	if _, err := s.Tick(ctx, c.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RequestResolve(ctx, a.Fingerprint, operator, "handled"); err != nil {
		t.Fatal(err)
	}
	c.add(cfg.Notify.Tick)
	if _, err := s.Tick(ctx, c.now()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range []string{"/pd", "/slack", "/hook", "/am"} {
		if len(bodies[p]) < 2 {
			t.Errorf("%s got %d requests, want the firing and what the operators did after it", p, len(bodies[p]))
		}
		for _, b := range bodies[p] {
			if strings.Contains(b, "alice") || strings.Contains(b, "soc.example.org") {
				t.Errorf("%s was sent the operator's name: %s", p, b)
			}
		}
	}
	if !strings.Contains(strings.Join(bodies["/pd"], "\n"), `"acknowledge"`) {
		t.Errorf("PagerDuty was not sent the acknowledgement: %v", bodies["/pd"])
	}
	// The audit log still says who: it is what operators answer to.
	es, _, err := st.Audit(ctx, alertstate.AuditQuery{Fingerprint: a.Fingerprint, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		found = found || e.Result == alertstate.ResultAckSent && e.Actor == operator
	}
	if !found {
		t.Errorf("the acknowledgement passed on is not audited with who made it: %+v", es)
	}
}
