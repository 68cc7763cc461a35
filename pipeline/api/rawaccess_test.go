package api

import (
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
