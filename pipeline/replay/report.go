package replay

import (
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Report is the analyst's page of a replay: a summary table, a chart per
// site, the alert list with redacted evidence, and a comparison when two
// configurations ran. It is one self-contained HTML file: styles and
// charts (inline SVG) are in the page, nothing is fetched from anywhere.
type Report struct {
	Title  string
	Inputs []string
	// Config describes the configuration in a few words (file name, key
	// settings).
	Config string
	Stats  Stats
	Data   *Collector
	// Compare is set when a second configuration ran.
	Compare *Comparison
	// Redact replaces personal data in snippets and thread titles with
	// typed placeholders (classifiers.Redact). The evidence in alerts is
	// redacted by the engine already; this is a second pass, because a
	// report gets mailed around.
	Redact func(string) string
	// MaxCharts bounds the sites charted, most alarming first; every site
	// is in the summary table. Zero: 40; NoCharts (any negative): none.
	MaxCharts int
	// Notes are caveats shown above the summary (Stats.BaselineNotes):
	// what the reader must know before trusting a quiet stretch.
	Notes []string
}

// NoCharts as Report.MaxCharts charts no site.
const NoCharts = -1

// maxCharts is the number of sites to chart.
func (r *Report) maxCharts() int {
	switch {
	case r.MaxCharts == 0:
		return 40
	case r.MaxCharts < 0:
		return 0
	}
	return r.MaxCharts
}

func (r *Report) redact(s string) string {
	if r.Redact != nil {
		s = r.Redact(s)
	}
	return fallbackRedact(s)
}

// fallbackRedact runs after the given redactor (or alone): it masks the
// obvious that a stricter redactor may let through, such as digit runs
// that look like a phone number but are not a valid one (e-mail
// addresses, phone-like digit runs, house-number-and-street).
var (
	reEmail  = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	rePhone  = regexp.MustCompile(`\+?\d[\d\s().-]{7,}\d`)
	reStreet = regexp.MustCompile(`(?i)\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|court|ct|boulevard|blvd|way|place|pl)\b\.?`)
)

func fallbackRedact(s string) string {
	s = reEmail.ReplaceAllString(s, "[EMAIL]")
	s = reStreet.ReplaceAllString(s, "[ADDRESS]")
	return rePhone.ReplaceAllString(s, "[PHONE]")
}

func (r *Report) span() (time.Time, time.Time) {
	from, to := r.Data.first, r.Data.last
	if !r.Stats.First.IsZero() && (from.IsZero() || r.Stats.First.Before(from)) {
		from = r.Stats.First
	}
	if r.Stats.End.After(to) {
		to = r.Stats.End
	}
	return from, to
}

type reportSite struct {
	*Series
	Posts, Threatening int64
	Anchor             string
}

type reportAlert struct {
	Time                       string
	Status, Name, Severity     string
	Site, Target, Signal, Rule string
	Level, Baseline            string
	Summary                    string
	Evidence                   []reportEvidence
	Fingerprint                string
	StatusClass                string
}

type reportEvidence struct {
	PostID, Where, Thread, Snippet, Scores, At string
}

type reportChart struct {
	Title, Anchor string
	SVG           template.HTML
}

type reportPair struct {
	Key, A, B, Verdict, Class string
}

// WriteHTML writes the report page.
func (r *Report) WriteHTML(w io.Writer) error {
	limit := r.maxCharts()
	from, to := r.span()
	sites := r.Data.Sites()
	var rs []reportSite
	for i, s := range sites {
		c := r.Data.sites[s.Site]
		if c == nil {
			c = &siteCount{}
		}
		rs = append(rs, reportSite{Series: s, Posts: c.posts, Threatening: c.threatening})
		// Only a charted site links to its chart.
		if i < limit {
			rs[len(rs)-1].Anchor = fmt.Sprintf("site-%d", i)
		}
	}
	// Sites with posts but no level point yet still belong in the table.
	var quiet []string
	for name := range r.Data.sites {
		if r.Data.series[seriesKey{site: name}] == nil {
			quiet = append(quiet, name)
		}
	}
	sort.Strings(quiet)
	for _, name := range quiet {
		c := r.Data.sites[name]
		rs = append(rs, reportSite{Series: &Series{Site: name}, Posts: c.posts, Threatening: c.threatening})
	}
	var charts []reportChart
	for _, s := range rs {
		if s.Anchor == "" {
			break
		}
		charts = append(charts, reportChart{Title: s.Site, Anchor: s.Anchor, SVG: template.HTML(ChartSVG(s.Series, from, to))}) //nolint:gosec // built by ChartSVG, which escapes every text
	}
	// Targets that paged get a chart too: a campaign against a person
	// spans sites.
	nt := 0
	for _, s := range r.Data.Targets() {
		if s.Alerts == 0 || nt >= 10 {
			break
		}
		nt++
		charts = append(charts, reportChart{Title: "target " + s.Target, Anchor: fmt.Sprintf("target-%d", nt), SVG: template.HTML(ChartSVG(s, from, to))}) //nolint:gosec // escaped by ChartSVG
	}
	alerts, dropped := r.Data.Alerts()
	var ra []reportAlert
	for _, a := range alerts {
		ra = append(ra, r.alertRow(a))
	}
	var pairs []reportPair
	if r.Compare != nil {
		at := func(o *Onset) string {
			if o == nil {
				return "—"
			}
			return o.Time.UTC().Format("2006-01-02 15:04") + " (" + o.Severity + ")"
		}
		for _, p := range r.Compare.Pairs {
			cls := "both"
			if p.A == nil || p.B == nil {
				cls = "only"
			}
			pairs = append(pairs, reportPair{Key: p.Key, A: at(p.A), B: at(p.B), Verdict: r.Compare.Verdict(p), Class: cls})
		}
	}
	data := map[string]any{
		"Title":   r.Title,
		"Notes":   r.Notes,
		"Inputs":  r.Inputs,
		"Config":  r.Config,
		"Stats":   r.Stats,
		"From":    fmtTime(from),
		"To":      fmtTime(to),
		"Sites":   rs,
		"Targets": r.Data.Targets(),
		"Charts":  charts,
		"Alerts":  ra,
		"Dropped": dropped,
		"Compare": r.Compare,
		"Pairs":   pairs,
		"Omitted": max(0, len(sites)-limit),
	}
	if err := reportTmpl.Execute(w, data); err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	return nil
}

func (r *Report) alertRow(a *msg.Alert) reportAlert {
	ra := reportAlert{
		Time: fmtTime(a.EventTime), Status: a.Status, Name: a.Labels["alertname"], Severity: a.Labels["severity"],
		Site: a.Labels["site"], Target: a.Labels["target"], Signal: a.Labels["signal"], Rule: a.Labels["rule"],
		Level: fmt.Sprintf("%.1f", a.Level), Baseline: fmt.Sprintf("%.1f", a.Baseline),
		Summary:     r.redact(a.Annotations["summary"]),
		Fingerprint: a.Fingerprint, StatusClass: a.Status,
	}
	for _, c := range a.Evidence {
		ev := reportEvidence{PostID: c.PostID, Thread: r.redact(c.Thread), Snippet: r.redact(c.Snippet), At: fmtTime(c.At)}
		// The URL's path can carry a name: show the host only.
		if u, err := url.Parse(c.URL); err == nil && u.Host != "" {
			ev.Where = u.Host
		}
		var sc []string
		for _, s := range msg.Signals {
			if v, ok := c.Scores[s]; ok {
				sc = append(sc, fmt.Sprintf("%s %.2f", s, v))
			}
		}
		ev.Scores = strings.Join(sc, ", ")
		ra.Evidence = append(ra.Evidence, ev)
	}
	return ra
}

// WriteCharts writes one SVG file per charted site into dir (created if
// needed) and returns their paths. File names are the site names made safe.
func (r *Report) WriteCharts(dir string) ([]string, error) {
	limit := r.maxCharts()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create chart directory: %w", err)
	}
	from, to := r.span()
	var out []string
	used := map[string]int{}
	for i, s := range r.Data.Sites() {
		if i >= limit {
			break
		}
		name := safeName(s.Site)
		if n := used[name]; n > 0 {
			name = fmt.Sprintf("%s-%d", name, n)
		}
		used[name]++
		p := filepath.Join(dir, name+".svg")
		if err := os.WriteFile(p, []byte(ChartSVG(s, from, to)), 0o644); err != nil {
			return out, fmt.Errorf("cannot write chart: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] == '.' {
		return "site" + string(b)
	}
	return string(b)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"when": fmtTime,
	"f1":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1040px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#555}.chart{margin:10px 0 18px}.firing{color:#c0392b;font-weight:600}.resolved{color:#2e8b57}
.ev{color:#444;font-size:13px;margin:2px 0}.ev code{background:#f4f4f4;padding:0 3px}.only{background:#fff6e5}
.note{background:#f4f8ff;border:1px solid #cfe0ff;padding:8px 10px;border-radius:4px}.warn{background:#fff6e5;border-color:#f0c36d}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="meta">Replay of {{range $i, $f := .Inputs}}{{if $i}}, {{end}}<code>{{$f}}</code>{{end}} · event time {{.From}} to {{.To}} UTC{{if .Config}} · {{.Config}}{{end}}</p>
<p class="note">A replay: these alerts were computed from history and paged no one. Evidence is redacted: personal data appears as typed placeholders such as [ADDRESS] or [PHONE].</p>
{{range .Notes}}<p class="note warn">{{.}}</p>
{{end}}<h2>Summary</h2>
<table><tr><th>posts replayed</th><th>scored now</th><th>duplicates</th><th>late</th><th>bad lines</th><th>out of range</th><th>alerts (notifications)</th></tr>
<tr><td class="n">{{.Stats.Records}}</td><td class="n">{{.Stats.Scored}}</td><td class="n">{{.Stats.Duplicates}}</td><td class="n">{{.Stats.Late}}</td><td class="n">{{.Stats.BadLines}}</td><td class="n">{{.Stats.OutOfRange}}</td><td class="n">{{len .Alerts}}{{if .Dropped}} (+{{.Dropped}} not listed){{end}}</td></tr></table>
<table><tr><th>site</th><th>posts</th><th>threatening</th><th>max level</th><th>max score</th><th>highest named level</th><th>alerts fired</th><th>first alert</th></tr>
{{range .Sites}}<tr><td>{{if .Anchor}}<a href="#{{.Anchor}}">{{.Site}}</a>{{else}}{{.Site}}{{end}}</td><td class="n">{{.Posts}}</td><td class="n">{{.Threatening}}</td><td class="n">{{f1 .MaxLevel}}</td><td class="n">{{f1 .MaxScore}}</td><td>{{.MaxName}}</td><td class="n">{{.Alerts}}</td><td>{{when .FirstAlert}}</td></tr>
{{end}}</table>
{{if .Targets}}<table><tr><th>target (hashed ref)</th><th>max level</th><th>max score</th><th>alerts fired</th><th>first alert</th></tr>
{{range .Targets}}<tr><td><code>{{.Target}}</code></td><td class="n">{{f1 .MaxLevel}}</td><td class="n">{{f1 .MaxScore}}</td><td class="n">{{.Alerts}}</td><td>{{when .FirstAlert}}</td></tr>
{{end}}</table>{{end}}
{{if .Compare}}<h2>Comparison: {{.Compare.NameA}} vs {{.Compare.NameB}}</h2>
<p>{{.Compare.Both}} alerts fired under both ({{.Compare.NameB}} earlier in {{.Compare.Earlier}}, later in {{.Compare.Later}}); {{.Compare.OnlyA}} only under {{.Compare.NameA}}; {{.Compare.OnlyB}} only under {{.Compare.NameB}}. Onsets of the same alert count as one when at most {{.Compare.Window}} apart.</p>
<table><tr><th>alert</th><th>{{.Compare.NameA}}</th><th>{{.Compare.NameB}}</th><th>difference</th></tr>
{{range .Pairs}}<tr class="{{.Class}}"><td><code>{{.Key}}</code></td><td>{{.A}}</td><td>{{.B}}</td><td>{{.Verdict}}</td></tr>
{{end}}</table>{{end}}
<h2>Threat level per site and per targeted person</h2>
<p class="meta">Level (blue) against the site's own baseline (grey, dashed); red marks an alert firing, green its resolution; the band below shows each signal's share of the level. Times are event times, UTC.{{if .Omitted}} {{.Omitted}} quieter sites are in the table only.{{end}}</p>
{{range .Charts}}<div class="chart" id="{{.Anchor}}">{{.SVG}}</div>
{{end}}
<h2>Alerts</h2>
{{if not .Alerts}}<p>No alert fired.</p>{{else}}<table><tr><th>event time</th><th>status</th><th>alert</th><th>site / target</th><th>level / baseline</th><th>evidence</th></tr>
{{range .Alerts}}<tr><td>{{.Time}}</td><td class="{{.StatusClass}}">{{.Status}}</td><td>{{.Name}}{{if .Rule}} ({{.Rule}}){{end}}<br>{{.Severity}}{{if .Signal}} · {{.Signal}}{{end}}</td><td>{{.Site}}{{if .Target}}<br><code>{{.Target}}</code>{{end}}</td><td class="n">{{.Level}} / {{.Baseline}}</td>
<td>{{if .Summary}}<div>{{.Summary}}</div>{{end}}{{range .Evidence}}<div class="ev"><code>{{.PostID}}</code>{{if .Where}} on {{.Where}}{{end}} {{.At}}{{if .Thread}} · “{{.Thread}}”{{end}}{{if .Scores}} · {{.Scores}}{{end}}{{if .Snippet}}<br>{{.Snippet}}{{end}}</div>{{end}}</td></tr>
{{end}}</table>{{end}}
</body></html>
`))
