package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// rawAlertContent is what the seeded alert's annotations and free labels
// hold raw and the redactor finds: an analyst may read it only through
// the audited evidence call. (No pattern finds a name: responders, and so
// analysts outside that call, get names the redactor missed.)
var rawAlertContent = []string{"12 Maple Street", "555-867-5309", "victim@example.com"}

// TestAnAnalystReadsRawAlertContentOnlyThroughTheAuditedCall opens every
// view an analyst uses that carries an alert's labels or annotations
// (lists, a target's alerts, the audit and notification history, the live
// stream): none may hand out the raw text while the audit log holds no
// entry for it.
func TestAnAnalystReadsRawAlertContentOnlyThroughTheAuditedCall(t *testing.T) {
	h := newHarness(t, nil)
	firing, _ := h.seed()
	// The notifier records the alert's labels as they are.
	labels := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-a", "signal": "doxxing", "severity": "critical", "target": "clara sorrenti", "note": "ask victim@example.com"}
	if err := h.state.Record(t.Context(), alertstate.AuditEntry{Action: alertstate.ActionNotify, Fingerprint: firing, Labels: labels, Status: msg.StatusFiring, Result: alertstate.ResultSent}); err != nil {
		t.Fatal(err)
	}
	st := h.openStream(config.RoleAnalyst, "")
	st.waitFor(t, "event: hello", 5*time.Second)
	start := time.Now().Add(-9 * time.Minute).UTC().Truncate(time.Second)
	h.alert(msg.Alert{Labels: labels, Fingerprint: msg.Fingerprint(labels, start), Status: msg.StatusFiring, StartsAt: start, EventTime: start,
		Annotations: map[string]string{"summary": "Clara Sorrenti doxxed at 12 Maple Street", "description": "call 555-867-5309"}, Level: 9, Baseline: 1})

	for _, path := range []string{
		"/api/v1/alerts",
		"/api/v1/alerts?status=firing&site=forum-a",
		"/api/v1/alerts/" + firing,
		"/api/v1/targets/" + TargetID("clara sorrenti"),
		"/api/v1/audit",
		"/api/v1/alerts/" + firing + "/notifications",
	} {
		code, body, _ := h.do("GET", path, config.RoleAnalyst, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		for _, p := range rawAlertContent {
			if strings.Contains(string(body), p) {
				t.Errorf("GET %s as analyst holds raw %q without an audit entry: %s", path, p, body)
			}
		}
		if strings.Contains(path, "alerts") && !strings.Contains(string(body), "[ADDRESS]") && !strings.Contains(path, "notifications") {
			t.Errorf("GET %s as analyst: want the annotations with placeholders, as responders get them: %s", path, body)
		}
	}
	st.waitFor(t, "event: alert", 5*time.Second)
	live := st.collect(t, time.Second)
	for _, p := range rawAlertContent {
		if strings.Contains(live, p) {
			t.Errorf("the analyst's live stream holds raw %q without an audit entry", p)
		}
	}
	entries, _, err := h.state.Audit(t.Context(), alertstate.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == ActionEvidenceView {
			t.Fatalf("no raw read yet, but the audit log holds %+v", e)
		}
	}

	// The audited call hands out the raw text, and the entry says who read
	// which alert's which posts, holding none of the text itself.
	var v AlertView
	h.getJSON("/api/v1/alerts/"+firing+"/evidence", config.RoleAnalyst, &v)
	if v.Annotations["summary"] != "Clara Sorrenti doxxed at 12 Maple Street" || v.Redaction != RedactNone {
		t.Fatalf("analyst raw view: %+v", v)
	}
	entries, _, err = h.state.Audit(t.Context(), alertstate.AuditQuery{Fingerprint: firing})
	if err != nil {
		t.Fatal(err)
	}
	var got *alertstate.AuditEntry
	for i := range entries {
		if entries[i].Action == ActionEvidenceView {
			got = &entries[i]
			break
		}
	}
	if got == nil {
		t.Fatalf("raw read not audited: %+v", entries)
	}
	if got.Actor != "analyst-user" || got.Fingerprint != firing || got.At.IsZero() {
		t.Errorf("audit entry: %+v, want actor analyst-user, fingerprint %s and a time", got, firing)
	}
	for _, id := range []string{"forum-a:01", "forum-a:02"} {
		if !strings.Contains(got.Note, id) {
			t.Errorf("audit entry does not name post %s: %+v", id, got)
		}
	}
	for _, p := range plantedPII {
		for _, s := range append([]string{got.Note}, mapValues(got.Labels)...) {
			if strings.Contains(strings.ToLower(s), strings.ToLower(p)) {
				t.Errorf("audit entry holds raw %q: %+v", p, got)
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestTheAlertPageShowsRawTextOnlyAfterTheAuditedRead opens an alert as an
// analyst: the summary and evidence show placeholders, and the raw text
// (summary included) only after "Show raw evidence", which is audited.
func TestTheAlertPageShowsRawTextOnlyAfterTheAuditedRead(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	firing, _ := h.seed()
	h.signIn(t, ctx, config.RoleAnalyst, "/#/alert/"+firing)
	summary := `document.querySelector('dd[data-annotation="summary"]').textContent`
	err := chromedp.Do(ctx, poll(`document.querySelector('dd[data-annotation="summary"]') !== null && `+summary+`.includes("[ADDRESS]")`))
	if err != nil {
		t.Fatalf("the alert page never showed the summary with placeholders: %v", err)
	}
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rawAlertContent {
		if strings.Contains(body, p) {
			t.Errorf("the alert page shows raw %q before the audited read", p)
		}
	}
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("main button")].find((b) => b.textContent.startsWith("Show raw evidence")).click()`),
		poll(summary+` === "Clara Sorrenti doxxed at 12 Maple Street"`),
	)
	if err != nil {
		t.Fatalf("the raw summary never showed: %v", err)
	}
	entries, _, err := h.state.Audit(t.Context(), alertstate.AuditQuery{Fingerprint: firing})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != ActionEvidenceView {
		t.Fatalf("the raw read is not audited: %+v", entries)
	}
}

// A HEAD request reads no data, so it must not leave an audit entry saying
// someone read or exported it: the audited raw reads refuse HEAD. (A GET
// route answers HEAD too, running the whole handler.)
func TestAHeadRequestOnAnAuditedReadIsRefusedAndNotAudited(t *testing.T) {
	h := newHarness(t, nil)
	firing, _ := h.seed()
	for _, path := range []string{
		"/api/v1/export/alerts",
		"/api/v1/export/alerts?format=csv",
		"/api/v1/alerts/" + firing + "/evidence",
		"/api/v1/targets/" + TargetID("clara sorrenti") + "/ref",
	} {
		t.Run(path, func(t *testing.T) {
			code, _, hdr := h.do("HEAD", path, config.RoleAnalyst, nil)
			if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET" {
				t.Errorf("HEAD %s: %d (Allow %q), want 405 allowing GET", path, code, hdr.Get("Allow"))
			}
			entries, _, err := h.state.Audit(t.Context(), alertstate.AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("HEAD %s left an audit entry: %+v", path, e)
			}
		})
	}
}

// A label outside the fixed set (alertname, site, signal, severity,
// target) is whatever a rule or an operator put there: viewers get no
// free text, so they do not get it at all, not even with placeholders.
// Responders get it with placeholders, as they get annotations; analysts
// raw through the audited call.
func TestAViewerSeesNoCustomAlertLabel(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	st := h.openStream(config.RoleViewer, "")
	st.waitFor(t, "event: hello", 5*time.Second)
	labels := map[string]string{"alertname": "TargetThreatSpike", "site": "forum-a", "signal": "doxxing", "severity": "critical", "target": "clara sorrenti",
		"victim_contact": "ring the neighbour on 555-867-5309"}
	start := h.now.Add(-5 * time.Minute)
	fp := msg.Fingerprint(labels, start)
	if err := h.state.Record(t.Context(), alertstate.AuditEntry{Action: alertstate.ActionNotify, Fingerprint: fp, Labels: labels, Status: msg.StatusFiring, Result: alertstate.ResultSent}); err != nil {
		t.Fatal(err)
	}
	h.alert(msg.Alert{Labels: labels, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: start, EventTime: start, Level: 9, Baseline: 1})
	for _, path := range []string{
		"/api/v1/alerts",
		"/api/v1/alerts/" + fp,
		"/api/v1/alerts/" + fp + "/notifications",
		"/api/v1/targets/" + TargetID("clara sorrenti"),
	} {
		code, body, _ := h.do("GET", path, config.RoleViewer, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		if strings.Contains(string(body), "victim_contact") || strings.Contains(string(body), "neighbour") {
			t.Errorf("GET %s as viewer shows the custom label: %s", path, body)
		}
	}
	st.waitFor(t, "event: alert", 5*time.Second)
	if live := st.collect(t, 500*time.Millisecond); strings.Contains(live, "victim_contact") {
		t.Errorf("the viewer's live stream shows the custom label: %s", live)
	}
	var v AlertView
	h.getJSON("/api/v1/alerts/"+fp, config.RoleViewer, &v)
	if v.Labels["alertname"] != "TargetThreatSpike" || v.Labels["severity"] != "critical" || v.Labels["target"] != TargetID("clara sorrenti") {
		t.Errorf("viewer labels: %v, want the fixed ones", v.Labels)
	}
	v = AlertView{}
	h.getJSON("/api/v1/alerts/"+fp, config.RoleResponder, &v)
	if v.Labels["victim_contact"] != "ring the neighbour on [PHONE]" {
		t.Errorf("responder's custom label: %q, want it with placeholders", v.Labels["victim_contact"])
	}
	v = AlertView{}
	h.getJSON("/api/v1/alerts/"+fp+"/evidence", config.RoleAnalyst, &v)
	if v.Labels["victim_contact"] != labels["victim_contact"] {
		t.Errorf("analyst's audited read: %q, want the label raw", v.Labels["victim_contact"])
	}
}

// TestTheTargetPagesShowTheNameOnlyAfterTheAuditedRead opens the targets
// list and a target as an analyst: both show the pseudonym, and the name
// only after "Show name", which is audited.
func TestTheTargetPagesShowTheNameOnlyAfterTheAuditedRead(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	h.seed()
	tid := TargetID("clara sorrenti")
	h.signIn(t, ctx, config.RoleAnalyst, "/#/targets")
	if err := chromedp.Do(ctx, poll(`document.querySelector('main a[href="#/target/`+tid+`"]') !== null`)); err != nil {
		t.Fatalf("the targets list never showed the target: %v", err)
	}
	err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('main a[href="#/target/`+tid+`"]').click()`),
		poll(`document.querySelector("main h1").textContent.includes("`+tid+`") && [...document.querySelectorAll("main button")].some((b) => b.textContent.startsWith("Show name"))`),
	)
	if err != nil {
		t.Fatalf("the target page never showed its pseudonym and a Show name button: %v", err)
	}
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(body), "clara sorrenti") {
		t.Errorf("the target pages show the name before the audited read: %s", body)
	}
	if entries, _, err := h.state.Audit(t.Context(), alertstate.AuditQuery{}); err != nil || len(entries) != 0 {
		t.Fatalf("no name read yet, but the audit log holds %+v (%v)", entries, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("main button")].find((b) => b.textContent.startsWith("Show name")).click()`),
		poll(`document.querySelector("main h1").textContent.includes("clara sorrenti")`),
	)
	if err != nil {
		t.Fatalf("the name never showed: %v", err)
	}
	entries, _, err := h.state.Audit(t.Context(), alertstate.AuditQuery{})
	if err != nil || len(entries) != 1 || entries[0].Action != ActionTargetView {
		t.Fatalf("the name read is not audited: %+v (%v)", entries, err)
	}
}

// An operator's name is an e-mail address when the IdP's user claim is
// one. The audit log keeps it (it is what operators answer to), and so do
// the views of responders and analysts, who act together; viewers, on a
// wall screen, get a stable pseudonym in every "by" instead: acks,
// resolve requests, silences, notification history and the live stream.
func TestAViewerSeesNoOperatorEmail(t *testing.T) {
	const email, token = "ana.operator@soc.example.org", "email-responder-token-0123456789"
	h := newHarness(t, func(c *config.Serve) {
		c.Tokens = append(c.Tokens, config.ServeToken{Name: email, Role: config.RoleResponder, SHA256: HashToken(token)})
	})
	firing, resolved := h.seed()
	st := h.openStream(config.RoleViewer, "")
	st.waitFor(t, "event: hello", 5*time.Second)
	as := func(method, path string, body any, want int) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, h.ts.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, path, res.StatusCode, want)
		}
	}
	as("POST", "/api/v1/alerts/"+firing+"/ack", map[string]string{"note": "on it"}, 200)
	as("POST", "/api/v1/alerts/"+resolved+"/resolve", map[string]string{}, 202)
	as("POST", "/api/v1/silences", map[string]any{"matchers": []string{`site="forum-b"`}, "duration": "1h"}, 201)
	// The notify stage records who acknowledged when it passes it on.
	if err := h.state.Record(t.Context(), alertstate.AuditEntry{Action: alertstate.ActionNotify, Fingerprint: firing, Status: "acknowledged",
		Receiver: "pd", Sink: "pagerduty", Actor: email, Result: alertstate.ResultAckSent}); err != nil {
		t.Fatal(err)
	}
	st.waitFor(t, "event: action", 5*time.Second)
	live := st.collect(t, 500*time.Millisecond)
	pages := map[string]string{"the live stream": live}
	for _, path := range []string{
		"/api/v1/alerts", "/api/v1/alerts/" + firing, "/api/v1/alerts/" + resolved,
		"/api/v1/alerts/" + firing + "/notifications", "/api/v1/silences", "/api/v1/targets/" + TargetID("clara sorrenti"),
	} {
		code, body, _ := h.do("GET", path, config.RoleViewer, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		pages["GET "+path] = string(body)
	}
	pseudonym := ""
	for where, body := range pages {
		if strings.Contains(body, "ana.operator") || strings.Contains(body, "soc.example.org") {
			t.Errorf("%s as viewer names the operator: %s", where, body)
		}
		if i := strings.Index(body, "operator-"); i >= 0 && pseudonym == "" {
			pseudonym = body[i : i+len("operator-")+8]
		}
	}
	var v AlertView
	h.getJSON("/api/v1/alerts/"+firing, config.RoleViewer, &v)
	if v.Ack == nil || v.Ack.By == "" || v.Ack.By != pseudonym {
		t.Errorf("viewer's ack: %+v, want by the operator's pseudonym %q", v.Ack, pseudonym)
	}
	v = AlertView{}
	h.getJSON("/api/v1/alerts/"+firing, config.RoleResponder, &v)
	if v.Ack == nil || v.Ack.By != email {
		t.Errorf("responder's ack: %+v, want by %s", v.Ack, email)
	}
	var audit struct{ Entries []alertstate.AuditEntry }
	h.getJSON("/api/v1/audit?fingerprint="+firing, config.RoleResponder, &audit)
	if len(audit.Entries) == 0 || audit.Entries[len(audit.Entries)-1].Actor != email {
		t.Errorf("the audit log does not name the operator: %+v", audit.Entries)
	}
}

// Viewers get every operator's name as a pseudonym, not only an address:
// the default user claim is a user name, and a token may be named after
// its holder. Other roles see the name as recorded.
func TestAViewerSeesNoOperatorName(t *testing.T) {
	for _, name := range []string{"jane.smith", "ana.operator@soc.example.org", "jane-laptop"} {
		got := shownBy(name, RedactFull)
		if got == name || strings.Contains(got, "jane") || strings.Contains(got, "ana") || !strings.HasPrefix(got, "operator-") {
			t.Errorf("viewer sees %q as %q", name, got)
		}
		if again := shownBy(name, RedactFull); again != got {
			t.Errorf("%q: pseudonym not stable: %q then %q", name, got, again)
		}
		for _, mode := range []string{RedactPII, RedactNone} {
			if got := shownBy(name, mode); got != name {
				t.Errorf("mode %s sees %q as %q, want it as recorded", mode, name, got)
			}
		}
	}
	if got := shownBy("", RedactFull); got != "" {
		t.Errorf("no actor shown as %q", got)
	}
}

// viewerSeesResponder is how a viewer sees the test responder's name.
var viewerSeesResponder = shownBy("responder-user", RedactFull)
