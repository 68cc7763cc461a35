package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// EnvScreenshots names a directory to copy the browser tests' screenshots
// to (they are always written under the test's temp dir).
const EnvScreenshots = "THREATWATCH_SCREENSHOTS"

// browser starts headless Chromium for t, or skips naming what is missing
// (fails under CI=true).
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (CI=true requires it; .ci/run installs Debian's chromium)")
		}
		t.Skip("chromium is not installed: skipping the browser test (Debian: apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", p, len(png))
	if dir := os.Getenv(EnvScreenshots); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
	if len(png) < 10000 {
		t.Fatalf("screenshot %s is only %d bytes: blank page?", name, len(png))
	}
}

// poll waits until the JavaScript expression is true.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))
}

func TestTheDashboardShowsLiveChangesAndAcknowledges(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	r := startPipeline(t, nil)
	now := time.Now().UTC()
	for i, site := range []string{"forum-a", "forum-b", "forum-c", "board-d", "chan-e", "forum-f"} {
		for h := 47; h >= 0; h-- {
			r.sendLevel(t, msg.Level{Site: site, Time: now.Add(-time.Duration(h) * time.Hour), Level: float64((h*7+i*3)%9) + 1, Baseline: 3, Name: "normal"})
		}
	}
	r.sendLevel(t, msg.Level{Site: "forum-b", Time: now, Level: 1, Baseline: 1, Name: "normal", Stale: true})
	eventually(t, 20*time.Second, "sites in the read model", func() bool {
		_, body := r.get(t, "/api/v1/sites", config.RoleViewer)
		return len(body) > 0 && containsAll(body, `"site":"forum-a"`, `"site":"forum-f"`, `"stale":true`)
	})

	err := chromedp.Do(ctx,
		chromedp.Navigate(r.url+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), testTokens[config.RoleResponder]),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		poll(`document.querySelectorAll("a.tile").length === 6`),
		poll(`document.getElementById("live").textContent === "live"`),
		poll(`document.getElementById("who").textContent.includes("responder-user")`),
	)
	if err != nil {
		t.Fatalf("loading the wall: %v", err)
	}

	// A level change shows on the wall without a reload.
	r.sendLevel(t, msg.Level{Site: "forum-a", Time: now.Add(time.Minute), Level: 42, Baseline: 3, Score: 9, Name: "severe"})
	err = chromedp.Do(ctx,
		poll(`document.querySelector('a.tile[data-site="forum-a"] .num').textContent === "42.0"`),
		poll(`document.querySelector('a.tile[data-site="forum-a"]').classList.contains("n-severe")`),
	)
	if err != nil {
		t.Fatalf("the level change never showed: %v", err)
	}
	// An alert appears live.
	labels := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-a", "signal": "doxxing", "severity": "critical"}
	fp := msg.Fingerprint(labels, now)
	r.sendAlert(t, msg.Alert{Labels: labels, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: now, EventTime: now.Add(time.Minute),
		Level: 42, Baseline: 3, Signals: map[msg.Signal]float64{msg.SignalDoxxing: 30, msg.SignalThreat: 12},
		Annotations: map[string]string{"summary": "Threat level severe for site forum-a"},
		Evidence:    piiEvidence(now)})
	err = chromedp.Do(ctx, poll(`document.querySelector('a.tile[data-site="forum-a"] .firing').textContent.startsWith("1 firing")`))
	if err != nil {
		t.Fatalf("the alert never showed on the wall: %v", err)
	}
	screenshot(t, ctx, "wall.png")

	// The console loses the stream: the wall says its data is not live,
	// and says so no more once the stream is back.
	r.srv.setFeed(FeedPaused, "the console cannot reach the stream (Kafka): no new levels or alerts arrive", errors.New("dial tcp: connection refused"))
	err = chromedp.Do(ctx,
		poll(`document.getElementById("live").textContent.startsWith("paused since ")`),
		poll(`document.getElementById("live").title.includes("cannot reach the stream")`),
	)
	if err != nil {
		t.Fatalf("the paused feed never showed: %v", err)
	}
	screenshot(t, ctx, "paused.png")
	r.srv.setFeed(FeedBehind, "posts wait to be scored: the classify stage has made no progress for over 5m0s", nil)
	if err := chromedp.Do(ctx, poll(`document.getElementById("live").textContent.startsWith("behind since ") && document.getElementById("live").title.includes("classify")`)); err != nil {
		t.Fatalf("the stalled stage never showed: %v", err)
	}
	r.srv.setFeed(FeedLive, "", nil)
	if err := chromedp.Do(ctx, poll(`document.getElementById("live").textContent === "live"`)); err != nil {
		t.Fatalf("the feed never showed live again: %v", err)
	}

	// The site view draws the level against the baseline with the marker.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a.tile[data-site="forum-a"]`)),
		poll(`document.querySelector("h1").textContent === "forum-a" && document.querySelector("svg.chart path.lvl") !== null`),
		poll(`document.querySelectorAll("svg.chart .marker").length >= 1`),
	)
	if err != nil {
		t.Fatalf("site view: %v", err)
	}
	screenshot(t, ctx, "site.png")

	// Open the alert from its marker's row and acknowledge it.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`tbody a[href="#/alert/%s"]`, fp))),
		poll(`document.getElementById("ack-note") !== null`),
		poll(`[...document.querySelectorAll("td.snippet")].some(e => e.textContent.includes("[ADDRESS]"))`),
		chromedp.SendKeys(chromedp.ID("ack-note"), "called the venue"),
		chromedp.Click(chromedp.Search(`//button[text()="Acknowledge"]`)),
		poll(`(document.getElementById("ack-badge") || {}).textContent?.includes("acknowledged by responder-user")`),
	)
	if err != nil {
		t.Fatalf("acknowledging: %v", err)
	}
	acks, err := r.state.Acks(context.Background(), fp)
	if err != nil || acks[fp].By != "responder-user" || acks[fp].Note != "called the venue" {
		t.Fatalf("the acknowledgement is not in the alert state: %+v %v", acks, err)
	}
	leaked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.innerText.includes("12 Maple Street") || document.body.innerText.includes("555-867-5309")`))
	if err != nil || leaked {
		t.Fatalf("the responder's page shows raw personal data (%v)", err)
	}
	screenshot(t, ctx, "alert.png")

	// A phone-sized window gets the same page, readable.
	err = chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(r.url+"/#/"),
		poll(`document.querySelectorAll("a.tile").length === 6`),
	)
	if err != nil {
		t.Fatalf("phone view: %v", err)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		t.Fatalf("phone view: %v", err)
	}
	if overflow {
		t.Error("the wall scrolls sideways on a phone")
	}
	screenshot(t, ctx, "phone.png")
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !contains(s, x) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// signIn opens the dashboard at path on the harness's server and signs in
// as role.
func (h *harness) signIn(t *testing.T, ctx context.Context, role, path string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(h.ts.URL+path),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), testTokens[role]),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		poll(`document.getElementById("who").textContent.includes("`+role+`-user")`),
		poll(`document.getElementById("live").textContent === "live"`),
	)
	if err != nil {
		t.Fatalf("signing in: %v", err)
	}
}

// alertRows is the number of alert rows the alerts view shows.
const alertRows = `document.querySelectorAll('main tbody a[href^="#/alert/"]').length`

// TestTheAlertsViewListsAlertsOfAnyStatus picks "any" in the status filter
// of the alerts view: firing and resolved alerts both show, and the
// filter stays on "any" rather than falling back to "firing".
func TestTheAlertsViewListsAlertsOfAnyStatus(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	firing, resolved := h.seed()
	h.signIn(t, ctx, config.RoleViewer, "/#/alerts")
	err := chromedp.Do(ctx,
		poll(alertRows+` === 1 && document.querySelector('main tbody a[href="#/alert/`+firing+`"]') !== null`),
		// As a person picks it: the value, then the change event.
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('select[name="status"]'); s.value = ""; s.dispatchEvent(new Event("change")); })()`),
	)
	if err != nil {
		t.Fatalf("picking any status: %v", err)
	}
	err = chromedp.Do(ctx, poll(alertRows+` === 2 && document.querySelector('main tbody a[href="#/alert/`+resolved+`"]') !== null && document.querySelector('select[name="status"]').value === ""`))
	if err != nil {
		hash, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + " " + document.querySelector('select[name="status"]').value`))
		t.Fatalf("with status any, the view does not list the resolved alert (at %q): %v", hash, err)
	}
}

// TestTheFiringAlertsViewDropsAnAlertThatResolves keeps the alerts view
// open on firing alerts while one resolves: its row leaves the list
// instead of showing it as firing until the next reload.
func TestTheFiringAlertsViewDropsAnAlertThatResolves(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	now := h.now
	labels, start, fp := h.firingSpike("forum-a")
	h.signIn(t, ctx, config.RoleViewer, "/#/alerts")
	if err := chromedp.Do(ctx, poll(alertRows+` === 1`)); err != nil {
		t.Fatalf("the firing alert never showed: %v", err)
	}
	h.alert(msg.Alert{Labels: labels, Fingerprint: fp, Status: msg.StatusResolved, StartsAt: start, EventTime: now, EndsAt: now, Level: 1, Baseline: 1})
	if err := chromedp.Do(ctx, poll(alertRows+` === 0`)); err != nil {
		badge, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("main tbody .badge")].map(b => b.textContent).join(",")`))
		t.Fatalf("the resolved alert stays in the list of firing alerts (badges %q): %v", badge, err)
	}
}

// alertRowText is the text of the alerts view's row of an alert, "" when
// it has none.
func alertRowText(fp string) string {
	return `((document.querySelector('main tbody a[href="#/alert/` + fp + `"]') || {closest: () => ({textContent: ""})}).closest("tr").textContent)`
}

// TestALiveAlertRowShowsItsAckAndSilence keeps the alerts view open while
// an acknowledged, silenced alert changes and a new silenced one fires:
// the rows the live events bring show "acked" and "silenced" as the rows
// the list brought did, rather than losing them until the next reload.
func TestALiveAlertRowShowsItsAckAndSilence(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	now := h.now
	labels, start, fp := h.firingSpike("forum-a")
	if code, b, _ := h.do("POST", "/api/v1/alerts/"+fp+"/ack", config.RoleResponder, map[string]string{"note": "on it"}); code != 200 {
		t.Fatalf("ack: %d %s", code, b)
	}
	if code, b, _ := h.do("POST", "/api/v1/silences", config.RoleResponder, map[string]any{"matchers": []string{`site="forum-a"`}, "duration": "2h"}); code != 201 {
		t.Fatalf("silence: %d %s", code, b)
	}
	h.signIn(t, ctx, config.RoleViewer, "/#/alerts")
	listed := alertRowText(fp)
	if err := chromedp.Do(ctx, poll(listed+`.includes("acked by `+viewerSeesResponder+`") && `+listed+`.includes("silenced")`)); err != nil {
		t.Fatalf("the listed row does not show the ack and the silence: %v", err)
	}

	// The alert's level rises: its row is redrawn from the live event.
	h.alert(msg.Alert{Labels: labels, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: start, EventTime: now, Level: 8, Baseline: 1})
	// A new alert on the silenced site fires.
	l2 := map[string]string{"alertname": "ThreatLevelSpike", "site": "forum-a", "signal": "doxxing", "severity": "critical"}
	fp2 := msg.Fingerprint(l2, now)
	h.alert(msg.Alert{Labels: l2, Fingerprint: fp2, Status: msg.StatusFiring, StartsAt: now, EventTime: now, Level: 8, Baseline: 1})
	row, row2 := alertRowText(fp), alertRowText(fp2)
	if err := chromedp.Do(ctx, poll(row+`.includes("8.0 / 1.0") && `+row2+` !== ""`)); err != nil {
		t.Fatalf("the live events never showed: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[`+row+`, `+row2+`]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got[0], "acked by "+viewerSeesResponder) || !strings.Contains(got[0], "silenced") {
		t.Errorf("the acknowledged, silenced alert's live row lost its badges: %q", got[0])
	}
	if !strings.Contains(got[1], "silenced") || strings.Contains(got[1], "acked") {
		t.Errorf("the new alert's live row, want silenced and not acked: %q", got[1])
	}
}

// TestTheAlertsViewFollowsAcksAndSilencesMadeElsewhere keeps the alerts
// view open while a responder elsewhere acknowledges the alert, takes the
// acknowledgement back, silences it and ends the silence: the row follows
// each, as a reload would show it.
func TestTheAlertsViewFollowsAcksAndSilencesMadeElsewhere(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	_, _, fp := h.firingSpike("forum-a")
	h.signIn(t, ctx, config.RoleViewer, "/#/alerts")
	row := alertRowText(fp)
	if err := chromedp.Do(ctx, poll(row+` !== "" && !`+row+`.includes("acked") && !`+row+`.includes("silenced")`)); err != nil {
		t.Fatalf("the alert never showed: %v", err)
	}
	var silence SilenceView
	for _, step := range []struct {
		name, method, path string
		body               any
		want               string
	}{
		{"acknowledged", "POST", "/api/v1/alerts/" + fp + "/ack", map[string]string{"note": "on it"}, `.includes("acked by ` + viewerSeesResponder + `")`},
		{"acknowledgement taken back", "DELETE", "/api/v1/alerts/" + fp + "/ack", nil, `!== "" && !` + row + `.includes("acked")`},
		{"silenced", "POST", "/api/v1/silences", map[string]any{"matchers": []string{`site="forum-a"`}, "duration": "2h"}, `.includes("silenced")`},
		{"silence ended", "DELETE", "/api/v1/silences/", nil, `!== "" && !` + row + `.includes("silenced")`},
	} {
		path := step.path
		if step.name == "silence ended" {
			path += silence.ID
		}
		code, b, _ := h.do(step.method, path, config.RoleResponder, step.body)
		if code >= 300 {
			t.Fatalf("%s: %d %s", step.name, code, b)
		}
		if step.name == "silenced" {
			_ = json.Unmarshal(b, &silence)
		}
		if err := chromedp.Do(ctx, poll(row+step.want)); err != nil {
			got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](row))
			t.Fatalf("%s: the row did not follow (it reads %q): %v", step.name, got, err)
		}
	}
}

// TestTheWallAddsASiteFirstHeardOfFromItsScraper keeps the wall open while
// a scraper reports a new site it cannot read: the site gets its stale
// tile at once, as the list the wall loads would give it, instead of
// only after a reload.
func TestTheWallAddsASiteFirstHeardOfFromItsScraper(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	h.level(msg.Level{Site: "forum-a", Time: h.now, Level: 3, Baseline: 2, Name: "normal"})
	h.signIn(t, ctx, config.RoleViewer, "/#/")
	if err := chromedp.Do(ctx, poll(`document.querySelectorAll("a.tile").length === 1`)); err != nil {
		t.Fatalf("the wall never showed: %v", err)
	}
	h.level(msg.Level{Site: "dark-from-start", Time: h.now, Name: "scraper_markup_changed", Stale: true})
	err := chromedp.Do(ctx, poll(`document.querySelectorAll("a.tile").length === 2 && document.querySelector('a.tile[data-site="dark-from-start"]').classList.contains("stale")`))
	if err != nil {
		t.Fatalf("the new dark site never got its tile: %v", err)
	}
	var res struct{ Sites []SiteSummary }
	h.getJSON("/api/v1/sites", config.RoleViewer, &res)
	if len(res.Sites) != 2 {
		t.Fatalf("the list, for comparison: %+v", res.Sites)
	}
}

// TestTheAlertPageFollowsASilenceMadeElsewhere keeps an alert's page open
// while a responder elsewhere silences alerts like it and ends the
// silence: the page's state line follows both.
func TestTheAlertPageFollowsASilenceMadeElsewhere(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	_, _, fp := h.firingSpike("forum-a")
	h.signIn(t, ctx, config.RoleViewer, "/#/alert/"+fp)
	state := `(document.getElementById("alert-state") || {textContent: ""}).textContent`
	if err := chromedp.Do(ctx, poll(state+`.includes("firing") && !`+state+`.includes("silenced")`)); err != nil {
		t.Fatalf("the alert page never showed: %v", err)
	}
	code, b, _ := h.do("POST", "/api/v1/silences", config.RoleResponder, map[string]any{"matchers": []string{`site="forum-a"`}, "duration": "2h"})
	if code != 201 {
		t.Fatalf("silence: %d %s", code, b)
	}
	if err := chromedp.Do(ctx, poll(state+`.includes("silenced")`)); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](state))
		t.Fatalf("the page does not show the silence (it reads %q): %v", got, err)
	}
	var sil SilenceView
	_ = json.Unmarshal(b, &sil)
	if code, b, _ := h.do("DELETE", "/api/v1/silences/"+sil.ID, config.RoleResponder, nil); code != 204 {
		t.Fatalf("expire: %d %s", code, b)
	}
	if err := chromedp.Do(ctx, poll(state+`.includes("firing") && !`+state+`.includes("silenced")`)); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](state))
		t.Fatalf("the page still shows the ended silence (it reads %q): %v", got, err)
	}
}

// firingSpike stores a firing site spike of site, started an hour before
// the harness's now, and returns its labels, start and fingerprint.
func (h *harness) firingSpike(site string) (map[string]string, time.Time, string) {
	labels := map[string]string{"alertname": "ThreatLevelSpike", "site": site, "signal": "threat", "severity": "warning"}
	start := h.now.Add(-time.Hour)
	fp := msg.Fingerprint(labels, start)
	h.alert(msg.Alert{Labels: labels, Fingerprint: fp, Status: msg.StatusFiring, StartsAt: start, EventTime: start, Level: 5, Baseline: 1})
	return labels, start, fp
}
