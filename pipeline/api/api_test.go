package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// endpoint is one API call and the least role allowed to make it.
type endpoint struct {
	method, path string
	body         any
	role         string
	want         int // status for an allowed role
}

func endpoints(firing, resolved, targetID string) []endpoint {
	v, rs, an := config.RoleViewer, config.RoleResponder, config.RoleAnalyst
	return []endpoint{
		{"GET", "/api/v1/me", nil, v, 200},
		{"GET", "/api/v1/sites", nil, v, 200},
		{"GET", "/api/v1/sites?spark=48h", nil, v, 200},
		{"GET", "/api/v1/sites/forum-a?spark=48h", nil, v, 200},
		{"GET", "/api/v1/sites/forum-b", nil, v, 200},
		{"GET", "/api/v1/levels?site=forum-a&from=2h&step=10m", nil, v, 200},
		{"GET", "/api/v1/levels?site=forum-a&from=48h&step=1h", nil, v, 200},
		{"GET", "/api/v1/levels?site=forum-a&target=" + targetID + "&from=2h", nil, v, 200},
		{"GET", "/api/v1/alerts", nil, v, 200},
		{"GET", "/api/v1/alerts?status=firing&site=forum-a", nil, v, 200},
		{"GET", "/api/v1/alerts?status=resolved&severity=warning", nil, v, 200},
		{"GET", "/api/v1/alerts?target=" + targetID, nil, v, 200},
		{"GET", "/api/v1/alerts/" + firing, nil, v, 200},
		{"GET", "/api/v1/alerts/" + resolved, nil, v, 200},
		{"GET", "/api/v1/alerts/" + firing + "/notifications", nil, v, 200},
		{"GET", "/api/v1/alerts/" + firing + "/evidence", nil, an, 200},
		{"GET", "/api/v1/silences", nil, v, 200},
		{"GET", "/api/v1/silences?expired=true", nil, v, 200},
		{"GET", "/api/v1/targets", nil, v, 200},
		{"GET", "/api/v1/targets/" + targetID, nil, v, 200},
		{"GET", "/api/v1/targets/" + targetID + "/ref", nil, an, 200},
		{"GET", "/api/v1/audit", nil, rs, 200},
		{"GET", "/api/v1/audit?fingerprint=" + firing, nil, rs, 200},
		{"GET", "/api/v1/export/alerts?format=jsonl", nil, an, 200},
		{"GET", "/api/v1/export/alerts?format=csv", nil, an, 200},
		{"POST", "/api/v1/alerts/" + firing + "/ack", map[string]string{"note": "on it, called Clara Sorrenti at 555-867-5309"}, rs, 200},
		{"POST", "/api/v1/alerts/" + resolved + "/resolve", map[string]string{"note": "closed"}, rs, 202},
		{"POST", "/api/v1/silences", map[string]any{"matchers": []string{`site="forum-b"`, `thread="clara sorrenti"`}, "duration": "2h", "comment": "maintenance for victim@example.com"}, rs, 201},
		{"POST", "/api/v1/silences", map[string]any{"matchers": []string{`site="clara sorrenti"`, `severity=~"warning|clara-sorrenti"`}, "duration": "1h"}, rs, 201},
	}
}

func TestEveryEndpointChecksTheRole(t *testing.T) {
	h := newHarness(t, nil)
	firing, resolved := h.seed()
	tid := TargetID("clara sorrenti")
	for _, e := range endpoints(firing, resolved, tid) {
		for _, role := range append([]string{""}, config.Roles...) {
			t.Run(fmt.Sprintf("%s %s as %q", e.method, e.path, role), func(t *testing.T) {
				code, body, _ := h.do(e.method, e.path, role, e.body)
				switch {
				case role == "":
					if code != http.StatusUnauthorized {
						t.Fatalf("without a token: got %d %s, want 401", code, body)
					}
				case roleRank(role) < roleRank(e.role):
					if code != http.StatusForbidden {
						t.Fatalf("got %d %s, want 403", code, body)
					}
				default:
					if code != e.want {
						t.Fatalf("got %d %s, want %d", code, body, e.want)
					}
				}
			})
		}
	}
}

// TestAViewerNeverReceivesRawPII calls every endpoint as a viewer (also
// after responders acted, so notes and silences exist) and checks every
// body, including the live stream's.
func TestAViewerNeverReceivesRawPII(t *testing.T) {
	h := newHarness(t, nil)
	stream := h.openStream(config.RoleViewer, "")
	firing, resolved := h.seed()
	tid := TargetID("clara sorrenti")
	// Responders act first, with personal data in their notes.
	for _, e := range endpoints(firing, resolved, tid) {
		if e.method != "GET" {
			if code, b, _ := h.do(e.method, e.path, config.RoleResponder, e.body); code != e.want {
				t.Fatalf("%s %s: %d %s", e.method, e.path, code, b)
			}
		}
	}
	checked := 0
	for _, e := range endpoints(firing, resolved, tid) {
		if e.method != "GET" {
			continue
		}
		code, body, _ := h.do(e.method, e.path, config.RoleViewer, nil)
		if p := containsPII(body); p != "" {
			t.Errorf("GET %s as viewer (%d) holds %q:\n%s", e.path, code, p, body)
		}
		checked++
	}
	// The cursor pages, too.
	code, body, _ := h.do("GET", "/api/v1/alerts?limit=1", config.RoleViewer, nil)
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	_ = json.Unmarshal(body, &page)
	if code != 200 || page.NextCursor == "" {
		t.Fatalf("first page: %d %s", code, body)
	}
	_, body, _ = h.do("GET", "/api/v1/alerts?limit=1&cursor="+url.QueryEscape(page.NextCursor), config.RoleViewer, nil)
	if p := containsPII(body); p != "" {
		t.Errorf("second page holds %q", p)
	}
	events := stream.collect(t, 2*time.Second)
	if !strings.Contains(events, "event: alert") || !strings.Contains(events, "event: action") {
		t.Fatalf("the viewer's stream lacks alert or action events:\n%s", events)
	}
	if p := containsPII([]byte(events)); p != "" {
		t.Errorf("the viewer's live stream holds %q:\n%s", p, events)
	}
	if checked < 15 {
		t.Fatalf("checked only %d endpoints", checked)
	}
}

func TestResponderSeesPlaceholdersAndAnalystSeesRawEvidence(t *testing.T) {
	h := newHarness(t, nil)
	firing, _ := h.seed()
	patternPII := []string{"12 Maple Street", "555-867-5309", "+1 415 555 0199", "victim@example.com", "203.0.113.77"}
	_, body, _ := h.do("GET", "/api/v1/alerts/"+firing, config.RoleResponder, nil)
	for _, p := range patternPII {
		if strings.Contains(string(body), p) {
			t.Errorf("responder's alert holds %q", p)
		}
	}
	for _, ph := range []string{"[ADDRESS]", "[PHONE]", "[EMAIL]"} {
		if !strings.Contains(string(body), ph) {
			t.Errorf("responder's alert lacks placeholder %s: %s", ph, body)
		}
	}
	var v AlertView
	_ = json.Unmarshal(body, &v)
	if v.Redaction != RedactPII || len(v.Evidence) != 2 || v.Labels["target"] != TargetID("clara sorrenti") {
		t.Fatalf("responder view: %+v", v)
	}
	// Viewers get the evidence's numbers but no text.
	v = AlertView{}
	h.getJSON("/api/v1/alerts/"+firing, config.RoleViewer, &v)
	if v.Redaction != RedactFull || v.Evidence[0].Snippet != "[REDACTED]" || v.Evidence[0].URL != "" || v.Evidence[0].Scores[msg.SignalDoxxing] != 0.93 {
		t.Fatalf("viewer evidence: %+v", v.Evidence[0])
	}
	// The analyst's ordinary view is redacted too; raw evidence is a
	// separate, audited call.
	v = AlertView{}
	h.getJSON("/api/v1/alerts/"+firing, config.RoleAnalyst, &v)
	if strings.Contains(v.Evidence[0].Snippet, "Maple") {
		t.Fatal("the analyst's ordinary alert view holds raw evidence")
	}
	v = AlertView{}
	h.getJSON("/api/v1/alerts/"+firing+"/evidence", config.RoleAnalyst, &v)
	if !strings.Contains(v.Evidence[0].Snippet, "12 Maple Street") || v.Labels["target"] != "clara sorrenti" || v.Redaction != RedactNone {
		t.Fatalf("analyst raw evidence: %+v", v)
	}
	entries, _, err := h.state.Audit(t.Context(), alertstate.AuditQuery{Fingerprint: firing})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != ActionEvidenceView || entries[0].Actor != "analyst-user" {
		t.Fatalf("evidence access not audited: %+v", entries)
	}
	// Export is audited as well.
	code, out, hdr := h.do("GET", "/api/v1/export/alerts?format=csv", config.RoleAnalyst, nil)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || strings.Count(string(out), "\n") != 3 {
		t.Fatalf("csv export: %d %s", code, out)
	}
	all, _, _ := h.state.Audit(t.Context(), alertstate.AuditQuery{})
	if all[0].Action != ActionExport || all[0].Actor != "analyst-user" {
		t.Fatalf("export not audited: %+v", all[0])
	}
}

// A target's ref is what the pipeline keys it by, often a person's name:
// the target lists and pages carry only its pseudonym, to every role, and
// an analyst reads the ref only through the audited call, like raw
// evidence.
func TestATargetsRefIsReadOnlyThroughTheAuditedCall(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	tid := TargetID("clara sorrenti")
	for _, role := range config.Roles {
		var res struct{ Targets []json.RawMessage }
		h.getJSON("/api/v1/targets", role, &res)
		var one struct {
			Target json.RawMessage
			Alerts []AlertView
		}
		h.getJSON("/api/v1/targets/"+tid, role, &one)
		if len(res.Targets) != 1 || len(one.Alerts) != 1 {
			t.Fatalf("targets as %s: %s; target: %+v", role, res.Targets, one)
		}
		// (The alerts' summaries may name the target: no pattern finds a
		// name, and responders get them with placeholders.)
		for _, b := range []json.RawMessage{res.Targets[0], one.Target} {
			var tg Target
			if err := json.Unmarshal(b, &tg); err != nil || tg.ID != tid || tg.Firing != 1 || tg.MaxLevel != 9 || tg.Sites[0].Site != "forum-a" {
				t.Errorf("a target as %s: %s (%v)", role, b, err)
			}
			if p := containsPII(b); p != "" || strings.Contains(string(b), `"ref"`) {
				t.Errorf("a target as %s holds its ref (%q): %s", role, p, b)
			}
		}
	}
	entries, _, err := h.state.Audit(t.Context(), alertstate.AuditQuery{})
	if err != nil || len(entries) != 0 {
		t.Fatalf("no ref was read, but the audit log holds %+v (%v)", entries, err)
	}
	if code, _, _ := h.do("GET", "/api/v1/targets/clara%20sorrenti", config.RoleAnalyst, nil); code != 404 {
		t.Fatalf("a target looked up by name: %d, want 404", code)
	}
	if code, _, _ := h.do("GET", "/api/v1/targets/"+TargetID("nobody")+"/ref", config.RoleAnalyst, nil); code != 404 {
		t.Fatalf("the ref of an unknown target: %d, want 404", code)
	}

	var ref struct{ ID, Ref string }
	h.getJSON("/api/v1/targets/"+tid+"/ref", config.RoleAnalyst, &ref)
	if ref.ID != tid || ref.Ref != "clara sorrenti" {
		t.Fatalf("audited ref read: %+v", ref)
	}
	entries, _, err = h.state.Audit(t.Context(), alertstate.AuditQuery{})
	if err != nil || len(entries) != 1 {
		t.Fatalf("the ref read left %d audit entries (%v), want 1", len(entries), err)
	}
	e := entries[0]
	if e.Action != ActionTargetView || e.Actor != "analyst-user" || !strings.Contains(e.Note, tid) || e.At.IsZero() {
		t.Errorf("audit entry %+v, want %s by analyst-user naming %s", e, ActionTargetView, tid)
	}
	if b, _ := json.Marshal(e); containsPII(b) != "" {
		t.Errorf("the audit entry holds the ref itself: %s", b)
	}
}

func TestSitesCarryLevelTrendHealthAndSparkline(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	var res struct{ Sites []SiteSummary }
	h.getJSON("/api/v1/sites?spark=48h", config.RoleViewer, &res)
	if len(res.Sites) != 2 {
		t.Fatalf("sites: %+v", res.Sites)
	}
	a, b := res.Sites[0], res.Sites[1]
	if a.Site != "forum-a" || a.Level != 14 || a.Name != "severe" || a.Trend != "rising" || a.Firing != 1 || a.Health.Stale || a.Health.LastLive.IsZero() {
		t.Fatalf("forum-a: %+v", a)
	}
	if len(a.Spark) != 49 || a.Spark[len(a.Spark)-1] == nil || *a.Spark[len(a.Spark)-1] != 14 || a.Spark[0] != nil || a.SparkFrom.IsZero() {
		t.Fatalf("forum-a sparkline: %+v from %v", a.Spark, a.SparkFrom)
	}
	if !b.Health.Stale || b.Health.StaleSince.IsZero() || b.Firing != 0 {
		t.Fatalf("forum-b should be stale with no firing alert: %+v", b)
	}
	var one struct {
		Site SiteDetail
	}
	h.getJSON("/api/v1/sites/forum-a", config.RoleResponder, &one)
	if len(one.Site.Contributors) != 2 || strings.Contains(one.Site.Contributors[0].Snippet, "Maple") {
		t.Fatalf("site contributors: %+v", one.Site.Contributors)
	}
	if code, _, _ := h.do("GET", "/api/v1/sites/nope", config.RoleViewer, nil); code != 404 {
		t.Fatalf("unknown site: %d", code)
	}
}

// TestASiteNeverLiveOrNeverStaleSendsNoYearOne reads a site that has only
// ever been stale, one that never was, and one known only from its
// scraper's health (dark from its first crawl): a time that never happened
// is left out, so the dashboard says "never" rather than "1/1/1, 00:00:00
// (739000 d ago)".
func TestASiteNeverLiveOrNeverStaleSendsNoYearOne(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	h.level(msg.Level{Site: "dark-from-start", Time: h.now, Name: "scraper_unreachable", Stale: true})
	for _, path := range []string{"/api/v1/sites", "/api/v1/sites/forum-a", "/api/v1/sites/forum-b", "/api/v1/sites/dark-from-start"} {
		t.Run(path, func(t *testing.T) {
			code, body, _ := h.do("GET", path, config.RoleViewer, nil)
			if code != http.StatusOK {
				t.Fatalf("%d %s", code, body)
			}
			if strings.Contains(string(body), "0001-01-01") {
				t.Fatalf("holds the zero time: %s", body)
			}
		})
	}
	var b struct{ Site SiteDetail }
	h.getJSON("/api/v1/sites/forum-b", config.RoleViewer, &b)
	if !b.Site.Health.Stale || b.Site.Health.StaleSince.IsZero() || !b.Site.Health.LastLive.IsZero() {
		t.Fatalf("forum-b, stale from its first level: %+v", b.Site.Health)
	}
}

func TestALateLevelDoesNotReplaceTheCurrentOne(t *testing.T) {
	h := newHarness(t, nil)
	h.level(msg.Level{Site: "s", Time: h.now, Level: 5, Baseline: 1})
	h.level(msg.Level{Site: "s", Time: h.now.Add(-time.Minute), Level: 50, Baseline: 1})
	h.level(msg.Level{Site: "s", Time: h.now, Level: 5, Baseline: 1}) // redelivery
	var res struct{ Sites []SiteSummary }
	h.getJSON("/api/v1/sites", config.RoleViewer, &res)
	if res.Sites[0].Level != 5 {
		t.Fatalf("current level %v, want 5", res.Sites[0].Level)
	}
	var ser Series
	h.getJSON("/api/v1/levels?site=s&from=10m", config.RoleViewer, &ser)
	if len(ser.Points) != 2 {
		t.Fatalf("the late point belongs in the series: %+v", ser.Points)
	}
}

func TestLevelsAreDownsampledToTheStep(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	var ser Series
	from := h.now.Add(-60 * time.Minute).Format(time.RFC3339)
	to := h.now.Format(time.RFC3339)
	h.getJSON("/api/v1/levels?site=forum-a&step=10m&from="+from+"&to="+to, config.RoleViewer, &ser)
	if ser.Tier != "raw" || len(ser.Points) != 6 {
		t.Fatalf("10m over 1h: tier %s, %d points", ser.Tier, len(ser.Points))
	}
	for _, p := range ser.Points {
		// Points i%10 cycle 0..9 over every 10 minutes: the max is 9.
		if p.Max != 9 || p.Baseline != 2 {
			t.Fatalf("bucket %+v: want max 9, baseline 2", p)
		}
	}
	h.getJSON("/api/v1/levels?site=forum-a&step=1h&from=48h", config.RoleViewer, &ser)
	if ser.Tier != "hourly" || len(ser.Points) < 2 || ser.Points[len(ser.Points)-1].Max != 14 {
		t.Fatalf("hourly: %+v", ser)
	}
	for _, bad := range []string{"/api/v1/levels", "/api/v1/levels?site=forum-a&step=1s&from=720h", "/api/v1/levels?site=forum-a&from=yesterday", "/api/v1/levels?site=forum-a&from=1h&to=2h", "/api/v1/levels?target=clara"} {
		if code, b, _ := h.do("GET", bad, config.RoleViewer, nil); code != 400 {
			t.Errorf("GET %s: %d %s, want 400", bad, code, b)
		}
	}
}

func TestAlertsFilterAndPage(t *testing.T) {
	h := newHarness(t, nil)
	base := h.now.Add(-24 * time.Hour)
	for i := 0; i < 25; i++ {
		l := map[string]string{"alertname": "ThreatLevelSpike", "site": fmt.Sprintf("site-%d", i%3), "signal": string(msg.Signals[i%3]), "severity": "warning"}
		st := base.Add(time.Duration(i) * time.Minute)
		status := msg.StatusFiring
		if i%5 == 0 {
			status = msg.StatusResolved
		}
		h.alert(msg.Alert{Labels: l, Fingerprint: msg.Fingerprint(l, st), Status: status, StartsAt: st, EventTime: st})
	}
	count := func(q string) int {
		n, cursor := 0, ""
		for pages := 0; pages < 50; pages++ {
			var page struct {
				Alerts     []AlertView
				NextCursor string `json:"next_cursor"`
			}
			h.getJSON("/api/v1/alerts?limit=4&"+q+"&cursor="+url.QueryEscape(cursor), config.RoleViewer, &page)
			for i := 1; i < len(page.Alerts); i++ {
				if page.Alerts[i].StartsAt.After(page.Alerts[i-1].StartsAt) {
					t.Fatalf("%s: not newest first", q)
				}
			}
			n += len(page.Alerts)
			if page.NextCursor == "" {
				return n
			}
			cursor = page.NextCursor
		}
		t.Fatalf("%s: cursor never ends", q)
		return 0
	}
	f := func(q string, want int) {
		t.Helper()
		if got := count(q); got != want {
			t.Errorf("%s: %d alerts, want %d", q, got, want)
		}
	}
	f("", 25)
	f("status=firing", 20)
	f("status=resolved", 5)
	f("site=site-1", 8)
	f("site=site-1&status=firing", 7)
	f("signal=threat", 8)
	f("severity=critical", 0)
	f("from="+url.QueryEscape(base.Add(20*time.Minute).Format(time.RFC3339)), 5)
	f("to="+url.QueryEscape(base.Add(5*time.Minute).Format(time.RFC3339)), 5)
	for _, bad := range []string{"status=open", "limit=0", "limit=x", "cursor=nonsense"} {
		if code, _, _ := h.do("GET", "/api/v1/alerts?"+bad, config.RoleViewer, nil); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}

// TestATimeOutOfRangeIsABadRequest sends times no answer can hold (unix
// milliseconds where seconds are wanted, the largest int64): each is a 400
// that says so, not an empty 200 (the series' from cannot be encoded) or
// a filter that wraps around and matches everything.
func TestATimeOutOfRangeIsABadRequest(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	fromMS, toMS := h.now.Add(-time.Hour).UnixMilli(), h.now.UnixMilli()
	for _, path := range []string{
		fmt.Sprintf("/api/v1/levels?site=forum-a&from=%d&to=%d", fromMS, toMS),
		"/api/v1/levels?site=forum-a&from=-99999999999999&to=1h",
		"/api/v1/alerts?from=9223372036854775807",
		"/api/v1/alerts?to=-9223372036854775808",
		"/api/v1/export/alerts?from=9223372036854775807",
		fmt.Sprintf("/api/v1/audit?since=%d", toMS),
	} {
		t.Run(path, func(t *testing.T) {
			code, body, _ := h.do("GET", path, config.RoleAnalyst, nil)
			var e struct{ Error string }
			if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "out of range") {
				t.Fatalf("got %d %q, want 400 saying the time is out of range", code, body)
			}
		})
	}
}

func TestAcknowledgeSilenceResolveAreRecordedAndShown(t *testing.T) {
	h := newHarness(t, nil)
	firing, resolved := h.seed()
	code, b, _ := h.do("POST", "/api/v1/alerts/"+firing+"/ack", config.RoleResponder, map[string]string{"note": "paging the venue"})
	if code != 200 {
		t.Fatalf("ack: %d %s", code, b)
	}
	var v AlertView
	h.getJSON("/api/v1/alerts/"+firing, config.RoleViewer, &v)
	if v.Ack == nil || v.Ack.By != viewerSeesResponder || v.Ack.Note != "[REDACTED]" {
		t.Fatalf("viewer's ack: %+v", v.Ack)
	}
	v = AlertView{}
	h.getJSON("/api/v1/alerts/"+firing, config.RoleResponder, &v)
	if v.Ack == nil || v.Ack.Note != "paging the venue" {
		t.Fatalf("responder's ack: %+v", v.Ack)
	}
	code, b, _ = h.do("POST", "/api/v1/silences", config.RoleResponder, map[string]any{"matchers": []string{`site="forum-a"`, `severity=~"crit.*"`}, "duration": "1h", "comment": "known raid"})
	if code != 201 {
		t.Fatalf("silence: %d %s", code, b)
	}
	var sil SilenceView
	_ = json.Unmarshal(b, &sil)
	h.getJSON("/api/v1/alerts/"+firing, config.RoleViewer, &v)
	if len(v.Silenced) != 1 || v.Silenced[0] != sil.ID {
		t.Fatalf("silenced_by: %+v, want %s", v.Silenced, sil.ID)
	}
	if code, b, _ := h.do("DELETE", "/api/v1/silences/"+sil.ID, config.RoleResponder, nil); code != 204 {
		t.Fatalf("expire: %d %s", code, b)
	}
	v = AlertView{}
	h.getJSON("/api/v1/alerts/"+firing, config.RoleViewer, &v)
	if len(v.Silenced) != 0 {
		t.Fatalf("still silenced after expiry: %+v", v.Silenced)
	}
	if code, b, _ := h.do("POST", "/api/v1/alerts/"+firing+"/resolve", config.RoleResponder, nil); code != 202 {
		t.Fatalf("resolve: %d %s", code, b)
	}
	h.getJSON("/api/v1/alerts/"+firing, config.RoleResponder, &v)
	if v.Resolve == nil || v.Resolve.By != "responder-user" {
		t.Fatalf("resolve request: %+v", v.Resolve)
	}
	if code, _, _ := h.do("DELETE", "/api/v1/alerts/"+firing+"/ack", config.RoleResponder, nil); code != 204 {
		t.Fatalf("unack: %d", code)
	}
	var audit struct{ Entries []alertstate.AuditEntry }
	h.getJSON("/api/v1/audit?fingerprint="+firing, config.RoleResponder, &audit)
	var actions []string
	for _, e := range audit.Entries {
		actions = append(actions, string(e.Action))
	}
	if got := strings.Join(actions, ","); got != "unack,resolve_request,ack" {
		t.Fatalf("audit of the alert: %s", got)
	}
	h.getJSON("/api/v1/audit", config.RoleResponder, &audit)
	if len(audit.Entries) != 5 {
		t.Fatalf("global audit: %d entries, want 5", len(audit.Entries))
	}
	// Notifications the notify stage recorded show in the alert's history.
	if err := h.state.Record(t.Context(), alertstate.AuditEntry{Action: alertstate.ActionNotify, Fingerprint: firing, Receiver: "oncall", Sink: "pagerduty", Result: alertstate.ResultSent, Status: "firing"}); err != nil {
		t.Fatal(err)
	}
	var hist struct{ Notifications []alertstate.AuditEntry }
	h.getJSON("/api/v1/alerts/"+firing+"/notifications", config.RoleViewer, &hist)
	if len(hist.Notifications) != 1 || hist.Notifications[0].Sink != "pagerduty" {
		t.Fatalf("notification history: %+v", hist.Notifications)
	}
	// Bad requests.
	for _, c := range []struct {
		path string
		body any
	}{
		{"/api/v1/silences", map[string]any{"matchers": []string{"site"}, "duration": "1h"}},
		{"/api/v1/silences", map[string]any{"matchers": []string{`site="a"`}}},
		{"/api/v1/silences", map[string]any{"matchers": []string{`site="a"`}, "duration": "-1h"}},
		{"/api/v1/silences", map[string]any{"matchers": []string{`site="a"`}, "duration": "1h", "extra": 1}},
		{"/api/v1/silences", "{not json"},
		{"/api/v1/alerts/" + firing + "/ack", map[string]string{"note": strings.Repeat("x", 3000)}},
	} {
		if code, b, _ := h.do("POST", c.path, config.RoleResponder, c.body); code != 400 {
			t.Errorf("POST %s %v: %d %s, want 400", c.path, c.body, code, b)
		}
	}
	if code, _, _ := h.do("POST", "/api/v1/alerts/nope/ack", config.RoleResponder, nil); code != 404 {
		t.Errorf("ack of an unknown alert: %d", code)
	}
	_ = resolved
}

func TestLimitsAndHeaders(t *testing.T) {
	t.Run("a token over its rate gets 429 with Retry-After", func(t *testing.T) {
		h := newHarness(t, func(c *config.Serve) { c.RateLimit.PerSecond, c.RateLimit.Burst = 0.5, 3 })
		for i := 0; i < 3; i++ {
			if code, _, _ := h.do("GET", "/api/v1/me", config.RoleViewer, nil); code != 200 {
				t.Fatalf("request %d: %d", i, code)
			}
		}
		code, _, hdr := h.do("GET", "/api/v1/me", config.RoleViewer, nil)
		if code != 429 || hdr.Get("Retry-After") == "" {
			t.Fatalf("4th request: %d, Retry-After %q", code, hdr.Get("Retry-After"))
		}
		// Another token has its own bucket.
		if code, _, _ := h.do("GET", "/api/v1/me", config.RoleAnalyst, nil); code != 200 {
			t.Fatalf("another token: %d", code)
		}
	})
	t.Run("failed authentications are throttled per address", func(t *testing.T) {
		h := newHarness(t, func(c *config.Serve) { c.RateLimit.FailedAuthPerMinute = 2 })
		bad := func() int {
			req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer wrong-token-xxxxxxxxxxxx")
			res, err := h.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		if a, b := bad(), bad(); a != 401 || b != 401 {
			t.Fatalf("first failures: %d %d", a, b)
		}
		if c := bad(); c != 429 {
			t.Fatalf("third failure: %d, want 429", c)
		}
		if code, _, _ := h.do("GET", "/api/v1/me", config.RoleViewer, nil); code != 429 {
			t.Fatalf("even a good token from a throttled address waits: %d", code)
		}
	})
	t.Run("a body over the limit gets 413", func(t *testing.T) {
		h := newHarness(t, func(c *config.Serve) { c.MaxBodyBytes = 1024 })
		body := `{"matchers":["site=\"a\""],"duration":"1h","comment":"` + strings.Repeat("x", 4096) + `"}`
		if code, b, _ := h.do("POST", "/api/v1/silences", config.RoleResponder, body); code != 413 {
			t.Fatalf("%d %s", code, b)
		}
	})
	t.Run("CORS is closed by default and opens only to listed origins", func(t *testing.T) {
		h := newHarness(t, func(c *config.Serve) { c.CORSAllowedOrigins = []string{"https://soc.example.org"} })
		pre := func(origin string) (int, http.Header) {
			req, _ := http.NewRequest("OPTIONS", h.ts.URL+"/api/v1/sites", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "GET")
			res, err := h.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode, res.Header
		}
		if code, hdr := pre("https://evil.example"); code != 403 || hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("evil origin: %d %q", code, hdr.Get("Access-Control-Allow-Origin"))
		}
		if code, hdr := pre("https://soc.example.org"); code != 204 || hdr.Get("Access-Control-Allow-Origin") != "https://soc.example.org" {
			t.Fatalf("allowed origin: %d %q", code, hdr.Get("Access-Control-Allow-Origin"))
		}
		h2 := newHarness(t, nil)
		req, _ := http.NewRequest("GET", h2.ts.URL+"/api/v1/me", nil)
		req.Header.Set("Origin", "https://soc.example.org")
		req.Header.Set("Authorization", "Bearer "+testTokens[config.RoleViewer])
		res, _ := h2.ts.Client().Do(req)
		res.Body.Close()
		if res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("default config allows a cross-origin read")
		}
	})
	t.Run("every response carries the security headers", func(t *testing.T) {
		h := newHarness(t, nil)
		for _, p := range []string{"/", "/assets/app.js", "/api/v1/sites", "/api/v1/nope"} {
			_, _, hdr := h.do("GET", p, config.RoleViewer, nil)
			csp := hdr.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("%s: CSP %q", p, csp)
			}
			if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") != "no-referrer" || hdr.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: headers %v", p, hdr)
			}
		}
	})
	t.Run("without configured authentication every API call is refused", func(t *testing.T) {
		h := newHarness(t, func(c *config.Serve) { c.Tokens = nil })
		code, b, _ := h.do("GET", "/api/v1/sites", config.RoleAnalyst, nil)
		if code != 401 || !strings.Contains(string(b), "no authentication is configured") {
			t.Fatalf("%d %s", code, b)
		}
		if code, _, _ := h.do("GET", "/", "", nil); code != 200 {
			t.Fatalf("the dashboard itself still loads: %d", code)
		}
	})
	t.Run("a wrong token is refused and never echoed", func(t *testing.T) {
		h := newHarness(t, nil)
		req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+testTokens[config.RoleViewer]+"x")
		res, _ := h.ts.Client().Do(req)
		var b strings.Builder
		_, _ = fmt.Fprint(&b, res.Header)
		buf := make([]byte, 4096)
		n, _ := res.Body.Read(buf)
		res.Body.Close()
		if res.StatusCode != 401 || strings.Contains(string(buf[:n])+b.String(), testTokens[config.RoleViewer]) {
			t.Fatalf("%d %s", res.StatusCode, buf[:n])
		}
	})
}

func TestExpireDropsOldResolvedAlertsOnly(t *testing.T) {
	h := newHarness(t, nil)
	old := h.now.Add(-500 * 24 * time.Hour)
	for i, status := range []string{msg.StatusResolved, msg.StatusFiring} {
		l := map[string]string{"alertname": "X", "site": "s", "n": fmt.Sprint(i)}
		h.alert(msg.Alert{Labels: l, Fingerprint: msg.Fingerprint(l, old), Status: status, StartsAt: old, EventTime: old})
	}
	n, err := h.srv.model.Expire(t.Context(), 100)
	if err != nil || n != 1 {
		t.Fatalf("expired %d (%v), want 1", n, err)
	}
	var page struct{ Alerts []AlertView }
	h.getJSON("/api/v1/alerts", config.RoleViewer, &page)
	if len(page.Alerts) != 1 || page.Alerts[0].Status != msg.StatusFiring {
		t.Fatalf("left: %+v", page.Alerts)
	}
}

func TestExpireTargetsForgetsOnlyTargetsIdlePastTheHourlyRetention(t *testing.T) {
	h := newHarness(t, nil)
	m := h.srv.model
	idle := h.now.Add(-m.HourlyRetention - time.Hour)
	for _, ref := range []string{"idle person", "firing person"} {
		h.level(msg.Level{Site: "forum-a", Target: ref, Time: idle, Level: 4, Baseline: 0, Name: "elevated"})
	}
	h.level(msg.Level{Site: "forum-a", Target: "active person", Time: h.now.Add(-time.Hour), Level: 2, Name: "elevated"})
	// A target whose alert still fires is kept, however old its level.
	l := map[string]string{"alertname": "TargetThreatSpike", "site": "forum-a", "target": "firing person"}
	h.alert(msg.Alert{Labels: l, Fingerprint: msg.Fingerprint(l, idle), Status: msg.StatusFiring, StartsAt: idle, EventTime: idle})

	n, err := m.ExpireTargets(t.Context(), 100)
	if err != nil || n != 1 {
		t.Fatalf("forgot %d targets (%v), want 1", n, err)
	}
	var res struct{ Targets []Target }
	h.getJSON("/api/v1/targets", config.RoleAnalyst, &res)
	var left []string
	for _, tg := range res.Targets {
		left = append(left, tg.ID)
	}
	slices.Sort(left)
	want := []string{TargetID("active person"), TargetID("firing person")}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("targets left: %v", left)
	}
	gone := TargetID("idle person")
	if n, err := m.s.Exists(t.Context(), m.k("target", gone), m.k("target", gone, "t")).Result(); err != nil || n != 0 {
		t.Errorf("%d of the idle target's hashes still stored (%v)", n, err)
	}
	if ok, err := m.s.HExists(t.Context(), m.k("targetref"), gone).Result(); err != nil || ok {
		t.Errorf("the idle target's ref is still stored (%v)", err)
	}
	// A level that arrives for it again brings it back.
	h.level(msg.Level{Site: "forum-b", Target: "idle person", Time: h.now, Level: 1, Name: "elevated"})
	if _, err := m.Target(t.Context(), gone); err != nil {
		t.Fatalf("a target named again: %v", err)
	}
	if n, err := m.ExpireTargets(t.Context(), 100); err != nil || n != 0 {
		t.Fatalf("second pass forgot %d (%v), want 0", n, err)
	}
}

func TestAScraperHealthSignalMarksTheSiteWithoutChangingItsLevel(t *testing.T) {
	h := newHarness(t, nil)
	h.level(msg.Level{Site: "s", Time: h.now, Level: 6, Baseline: 2, Name: "elevated"})
	// What scrapers.Health.Level() emits for a dark site.
	h.level(msg.Level{Site: "s", Time: h.now.Add(time.Minute), Name: "scraper_unreachable", Stale: true})
	h.level(msg.Level{Site: "dark-from-start", Time: h.now, Name: "scraper_markup_changed", Stale: true})
	var res struct{ Sites []SiteSummary }
	h.getJSON("/api/v1/sites", config.RoleViewer, &res)
	if len(res.Sites) != 2 {
		t.Fatalf("sites: %+v", res.Sites)
	}
	d, s := res.Sites[0], res.Sites[1]
	if !d.Health.Stale || d.Health.Scraper["state"] != "markup_changed" {
		t.Fatalf("a site known only from its health: %+v", d)
	}
	if s.Level != 6 || s.Name != "elevated" || !s.Health.Stale || s.Health.Scraper["state"] != "unreachable" || s.Health.StaleSince.IsZero() {
		t.Fatalf("after the health signal: %+v", s)
	}
	var ser Series
	h.getJSON("/api/v1/levels?site=s&from=1h&to="+url.QueryEscape(h.now.Add(time.Hour).Format(time.RFC3339)), config.RoleViewer, &ser)
	if len(ser.Points) != 1 {
		t.Fatalf("the health signal went into the series: %+v", ser.Points)
	}
	h.level(msg.Level{Site: "s", Time: h.now.Add(2 * time.Minute), Level: 7, Baseline: 2, Name: "elevated"})
	res.Sites = nil
	h.getJSON("/api/v1/sites", config.RoleViewer, &res)
	if s := res.Sites[1]; s.Health.Stale || s.Level != 7 || s.Health.Scraper != nil {
		t.Fatalf("after a live level: %+v", s)
	}
}

// The embedded default runs on the in-process Redis (miniredis): the read
// model's scripts and commands must work there too.
func TestTheReadModelWorksOnTheEmbeddedStore(t *testing.T) {
	st, err := store.Open(config.Redis{KeyPrefix: "emb:"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Options{Config: testServeConfig(), Store: st, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	h := &harness{t: t, srv: srv, ts: ts, store: st, state: alertstate.New(st), now: time.Now().UTC().Truncate(time.Minute)}
	firing, _ := h.seed()
	var res struct{ Sites []SiteSummary }
	h.getJSON("/api/v1/sites?spark=48h", config.RoleViewer, &res)
	if len(res.Sites) != 2 || res.Sites[0].Level != 14 || res.Sites[0].Firing != 1 {
		t.Fatalf("sites: %+v", res.Sites)
	}
	var ser Series
	h.getJSON("/api/v1/levels?site=forum-a&step=1h&from=48h", config.RoleViewer, &ser)
	if len(ser.Points) < 2 {
		t.Fatalf("hourly series: %+v", ser)
	}
	// Health signals, the later one first.
	h.level(msg.Level{Site: "forum-a", Time: h.now.Add(2 * time.Minute), Name: "scraper_ok"})
	h.level(msg.Level{Site: "forum-a", Time: h.now.Add(time.Minute), Name: "scraper_unreachable", Stale: true})
	var one struct{ Site SiteDetail }
	h.getJSON("/api/v1/sites/forum-a", config.RoleViewer, &one)
	if one.Site.Health.Stale || one.Site.Health.Scraper["state"] != "ok" || one.Site.Level != 14 {
		t.Fatalf("health: %+v", one.Site)
	}
	var v AlertView
	h.getJSON("/api/v1/alerts/"+firing, config.RoleViewer, &v)
	var tg struct{ Targets []Target }
	h.getJSON("/api/v1/targets", config.RoleViewer, &tg)
	if v.Fingerprint != firing || len(tg.Targets) != 1 {
		t.Fatalf("alert %+v, targets %+v", v, tg)
	}
	old := h.now.Add(-500 * 24 * time.Hour)
	l := map[string]string{"alertname": "X", "site": "s"}
	h.alert(msg.Alert{Labels: l, Fingerprint: msg.Fingerprint(l, old), Status: msg.StatusResolved, StartsAt: old, EventTime: old})
	if n, err := srv.model.Expire(t.Context(), 100); err != nil || n != 1 {
		t.Fatalf("expired %d (%v), want 1", n, err)
	}
}

// A silence matcher is typed by a responder: a viewer sees its value only
// when it is an identifier the pipeline writes for that label.
func TestAViewerSeesOnlyKnownValuesInSilenceMatchers(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	for _, tc := range []struct{ matcher, viewer string }{
		{`site="forum-a"`, `site="forum-a"`},
		{`site="clara sorrenti"`, `site="[REDACTED]"`},
		{`site!="clara-sorrenti"`, `site!="[REDACTED]"`},
		{`severity=~"warning|critical"`, `severity=~"warning|critical"`},
		{`severity=~"crit.*"`, `severity=~"[REDACTED]"`},
		{`signal="doxxing"`, `signal="doxxing"`},
		{`signal="Clara"`, `signal="[REDACTED]"`},
		{`alertname="ThreatLevelSpike"`, `alertname="ThreatLevelSpike"`},
		{`target="` + TargetID("clara sorrenti") + `"`, `target="` + TargetID("clara sorrenti") + `"`},
		{`thread="clara sorrenti"`, `thread="[REDACTED]"`},
	} {
		t.Run(tc.matcher, func(t *testing.T) {
			// The second matcher needs a value: a silence whose every
			// matcher matches "" (site!="x" alone) would mute every alert,
			// and is refused.
			code, b, _ := h.do("POST", "/api/v1/silences", config.RoleResponder, map[string]any{"matchers": []string{tc.matcher, `alertname="ThreatOverride"`}, "duration": "1h"})
			var created SilenceView
			if err := json.Unmarshal(b, &created); code != 201 || err != nil {
				t.Fatalf("create: %d %s", code, b)
			}
			var res struct{ Silences []SilenceView }
			h.getJSON("/api/v1/silences", config.RoleViewer, &res)
			for _, sl := range res.Silences {
				if sl.ID == created.ID {
					if len(sl.Matchers) != 2 || sl.Matchers[0] != tc.viewer {
						t.Fatalf("viewer sees %q, want %q", sl.Matchers, tc.viewer)
					}
					return
				}
			}
			t.Fatalf("silence %s not listed", created.ID)
		})
	}
}
