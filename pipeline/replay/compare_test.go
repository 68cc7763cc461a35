package replay

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestCompareMatchesOnsets(t *testing.T) {
	at := func(h, m int) time.Time {
		return scenarioStart.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	on := func(site string, t time.Time) Onset {
		l := map[string]string{"alertname": "ThreatLevelSpike", "site": site, "severity": "warning"}
		return Onset{Key: AlertKey(l), Labels: l, Time: t, Severity: "warning"}
	}
	a := []Onset{on("x", at(1, 0)), on("y", at(2, 0)), on("z", at(3, 0)), on("x", at(30, 0))}
	b := []Onset{on("x", at(0, 25)), on("y", at(2, 40)), on("w", at(4, 0)), on("x", at(80, 0))}
	c := Compare("old", a, "new", b, 24*time.Hour)
	if c.Both != 2 || c.OnlyA != 2 || c.OnlyB != 2 || c.Earlier != 1 || c.Later != 1 {
		t.Fatalf("both %d onlyA %d onlyB %d earlier %d later %d; want 2 2 2 1 1", c.Both, c.OnlyA, c.OnlyB, c.Earlier, c.Later)
	}
	var out bytes.Buffer
	if err := c.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"new 35 min earlier", "new 40 min later", "only old", "only new", "site=w"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison text lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTwoLanesInOnePass(t *testing.T) {
	strict := config.Default()
	strict.Aggregate.Spike.FireScore = 10
	strict.Aggregate.Spike.SevereScore = 20
	strict.Aggregate.Targets.FireScore = 10
	if err := strict.Validate(); err != nil {
		t.Fatal(err)
	}
	paths := []string{scenario("campaign")}
	aloneA := replayFiles(t, paths, nil)
	aloneB := replayWith(t, strict, paths, nil)

	src, err := Files(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	engA, _ := NewAggregateEngine(config.Default().Aggregate)
	engB, _ := NewAggregateEngine(strict.Aggregate)
	var aa, ab bytes.Buffer
	wa, wb := NewAlertWriter(&aa), NewAlertWriter(&ab)
	oa, ob := NewOnsets(), NewOnsets()
	o := Options{Tail: 24 * time.Hour}
	o.FromAggregate(config.Default().Aggregate)
	if _, err := Run(context.Background(), src, o,
		&Lane{Name: "default", Engine: engA, Sinks: []Sink{wa, oa}},
		&Lane{Name: "strict", Engine: engB, Sinks: []Sink{wb, ob}}); err != nil {
		t.Fatal(err)
	}
	wa.Flush()
	wb.Flush()
	if !bytes.Equal(aa.Bytes(), aloneA.alerts) || !bytes.Equal(ab.Bytes(), aloneB.alerts) {
		t.Fatal("a lane's alerts differ from a replay of its config alone: lanes interfere")
	}
	c := Compare("default", oa.List(), "strict", ob.List(), 24*time.Hour)
	if len(oa.List()) == 0 {
		t.Fatal("the default config fired nothing on the campaign")
	}
	if c.Earlier != 0 {
		t.Errorf("a stricter threshold fired %d alerts earlier", c.Earlier)
	}
	if c.Later+c.OnlyA == 0 {
		t.Errorf("a much stricter threshold changed nothing: %+v", c)
	}
}

func TestReport(t *testing.T) {
	r := replayFiles(t, []string{scenario("campaign"), scenario("quiet")}, nil)
	// An alert whose texts carry raw personal data, as a buggy or older
	// engine might write: the report must still not show it.
	leak := &msg.Alert{Schema: msg.SchemaAlert, Labels: map[string]string{"alertname": "ThreatLevelSpike", "site": "quiet.example", "severity": "warning"},
		Annotations: map[string]string{"summary": "Jane Roe lives at 12 Elm Street, call 555-201-3344 or mail jane.roe@example.com"},
		Fingerprint: "f", Status: msg.StatusFiring, EventTime: scenarioStart.Add(time.Hour),
		Evidence: []msg.Contributor{{PostID: "p1", URL: "https://forum.example/threads/jane-roe-lives-here.1/", Thread: "Jane Roe exposed at 12 Elm Street",
			Snippet: "she lives at 12 Elm Street, phone 555-201-3344", At: scenarioStart}}}
	r.coll.Alert(leak)
	rep := &Report{Title: "test", Inputs: []string{"campaign", "quiet"}, Stats: r.stats, Data: r.coll, Redact: classifiers.Redact}
	var out bytes.Buffer
	if err := rep.WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	for _, want := range []string{"<svg", "campaign.example", "quiet.example", "ThreatLevelSpike", "TargetThreatSpike", "signal mix", "[ADDRESS]", "[PHONE]"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, leaked := range []string{"12 Elm Street", "555-201-3344", "jane.roe@example.com", "jane-roe-lives-here"} {
		if strings.Contains(page, leaked) {
			t.Errorf("report shows raw personal data %q", leaked)
		}
	}
	// Self-contained: nothing is fetched (the SVG namespace is a name, not a fetch).
	for _, ext := range []string{"<script", "<link", " src=", "url(", "@import"} {
		if strings.Contains(page, ext) {
			t.Errorf("report references an external resource: %q", ext)
		}
	}
	// Each chart alone is a valid standalone SVG, the same for the same series.
	for _, s := range r.coll.Sites() {
		a, b := ChartSVG(s, r.stats.First, r.stats.End), ChartSVG(s, r.stats.First, r.stats.End)
		if a != b || !strings.HasPrefix(a, "<svg xmlns=") || !strings.HasSuffix(a, "</svg>") {
			t.Fatalf("chart of %s is not a stable standalone SVG", s.Site)
		}
	}
	dir := t.TempDir()
	paths, err := rep.WriteCharts(dir)
	if err != nil || len(paths) != 2 {
		t.Fatalf("WriteCharts = %v, %v; want one file per site", paths, err)
	}
}

// An escalation pages the same incident again at a higher severity: it is
// not an onset of its own, so a comparison does not count it as an alert
// one configuration fired and the other did not.
func TestAnEscalationIsNotAnOnset(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	o := NewOnsets()
	warn := &msg.Alert{Status: msg.StatusFiring, Fingerprint: "aaaa", EventTime: at, StartsAt: at,
		Labels: map[string]string{"alertname": "ThreatLevelSpike", "site": "s", "severity": "warning"}}
	crit := &msg.Alert{Status: msg.StatusFiring, Fingerprint: "bbbb", EventTime: at.Add(time.Hour), StartsAt: at.Add(time.Hour),
		Labels:      map[string]string{"alertname": "ThreatLevelSpike", "site": "s", "severity": "critical"},
		Annotations: map[string]string{"escalates": "aaaa"}}
	for _, a := range []*msg.Alert{warn, crit} {
		if err := o.Alert(a); err != nil {
			t.Fatal(err)
		}
	}
	if got := o.List(); len(got) != 1 || got[0].Severity != "warning" {
		t.Fatalf("onsets %+v, want the warning only", got)
	}
}

// Matching each onset of A in turn with the nearest free onset of B lost
// pairs: the first A took a B the next A needed, or took the B nearer
// the next A, leaving "only A" and "only B" where both lanes fired. The
// matching now pairs as many as can be, and of those the closest.
func TestCompareFindsTheBestMatching(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	on := func(ms ...int) []Onset {
		var out []Onset
		for _, m := range ms {
			out = append(out, Onset{Key: "alertname=Spike site=forum-a", Time: at(m)})
		}
		return out
	}
	for _, tc := range []struct {
		name         string
		a, b         []Onset
		both, oA, oB int
		pairs        map[int]int // minute of A -> minute of B
	}{
		{"a B nearer the next A goes to it", on(0, 50), on(40), 1, 1, 0, map[int]int{50: 40}},
		{"the first A does not take the B the next A needs", on(10, 40), on(30, -10), 2, 0, 0, map[int]int{10: -10, 40: 30}},
		{"out of window stays apart", on(0), on(120), 0, 1, 1, map[int]int{}},
		{"one each, in order", on(0, 100, 200), on(5, 95, 230), 3, 0, 0, map[int]int{0: 5, 100: 95, 200: 230}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare("a", tc.a, "b", tc.b, 45*time.Minute)
			if c.Both != tc.both || c.OnlyA != tc.oA || c.OnlyB != tc.oB {
				t.Errorf("both %d, only A %d, only B %d; want %d, %d, %d", c.Both, c.OnlyA, c.OnlyB, tc.both, tc.oA, tc.oB)
			}
			for _, p := range c.Pairs {
				if p.A == nil || p.B == nil {
					continue
				}
				ma, mb := int(p.A.Time.Sub(t0).Minutes()), int(p.B.Time.Sub(t0).Minutes())
				if want, ok := tc.pairs[ma]; !ok || want != mb {
					t.Errorf("A at %d paired with B at %d; want %v", ma, mb, tc.pairs)
				}
			}
		})
	}
}

// The report counted an escalation as a second alert of the site and drew
// it as a new firing, with a resolution (the superseded lower one) at the
// same moment; the escalation's first repeat was counted again. It is one
// alert, marked where it escalated, and resolved once.
func TestTheReportCountsAnEscalatedEpisodeOnce(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	labels := func(sev string) map[string]string {
		return map[string]string{"alertname": "ThreatLevelSpike", "site": "s", "severity": sev}
	}
	c := NewCollector()
	for _, a := range []*msg.Alert{
		{Status: msg.StatusFiring, Fingerprint: "aaaa", EventTime: at, StartsAt: at, Labels: labels("warning")},
		{Status: msg.StatusResolved, Fingerprint: "aaaa", EventTime: at.Add(time.Hour), StartsAt: at, Labels: labels("warning"),
			Annotations: map[string]string{"superseded_by": "bbbb"}},
		{Status: msg.StatusFiring, Fingerprint: "bbbb", EventTime: at.Add(time.Hour), StartsAt: at.Add(time.Hour), Labels: labels("critical"),
			Annotations: map[string]string{"escalates": "aaaa"}},
		{Status: msg.StatusFiring, Fingerprint: "bbbb", EventTime: at.Add(5 * time.Hour), StartsAt: at.Add(time.Hour), Labels: labels("critical")},
		{Status: msg.StatusResolved, Fingerprint: "bbbb", EventTime: at.Add(6 * time.Hour), StartsAt: at.Add(time.Hour), Labels: labels("critical")},
	} {
		if err := c.Alert(a); err != nil {
			t.Fatal(err)
		}
	}
	sites := c.Sites()
	if len(sites) != 1 || sites[0].Alerts != 1 {
		t.Fatalf("sites %+v, want one site with one alert", sites)
	}
	var got []string
	for _, m := range sites[0].Markers {
		got = append(got, m.Status+" "+m.Severity)
	}
	if want := []string{"firing warning", "escalated critical", "resolved critical"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("markers %v, want %v", got, want)
	}
}

// A what-if over weeks of history lists hundreds of alerts that both
// configurations fire alike; the few that differ were hard to find among
// them. OnlyDifferences lists those alone (the summary counts them all).
func TestCompareCanListOnlyTheDifferences(t *testing.T) {
	at := func(h int) time.Time { return scenarioStart.Add(time.Duration(h) * time.Hour) }
	on := func(site, sev string, t time.Time) Onset {
		l := map[string]string{"alertname": "ThreatLevelSpike", "site": site, "severity": sev}
		return Onset{Key: AlertKey(l), Labels: l, Time: t, Severity: sev}
	}
	a := []Onset{on("same", "warning", at(1)), on("later", "warning", at(2)), on("only", "warning", at(3)), on("sev", "warning", at(4))}
	b := []Onset{on("same", "warning", at(1)), on("later", "warning", at(3)), on("sev", "critical", at(4))}
	c := Compare("old", a, "new", b, 24*time.Hour)
	c.OnlyDifferences = true
	var out bytes.Buffer
	if err := c.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "site=same") {
		t.Errorf("an alert both fire alike is listed:\n%s", text)
	}
	for _, want := range []string{"site=later", "site=only", "site=sev", "3 of 4 alerts that differ", "same time, new critical"} {
		if !strings.Contains(text, want) {
			t.Errorf("comparison lacks %q:\n%s", want, text)
		}
	}
}
