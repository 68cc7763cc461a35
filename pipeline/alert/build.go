package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Alert names, the "alertname" label.
const (
	NameSiteSpike   = "ThreatLevelSpike"
	NameTargetSpike = "TargetThreatSpike"
	NameOverride    = "ThreatOverride"
)

// Severities, the "severity" label, lowest first.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// TargetLabel hashes a target ref into the value of the "target" label and
// of Level.Target: stable, so alerts about one person group together, and
// opaque, so no name reaches a page. Unkeyed: anyone who can read a label
// can test a guessed name against it (TargetLabeler with a key cannot).
func TargetLabel(ref string) string {
	if ref == "" {
		return ""
	}
	h := sha256.Sum256([]byte("threatwatch-target\x00" + ref))
	return "tgt-" + hex.EncodeToString(h[:8])
}

// TargetLabeler makes target labels, keyed with aggregate.target_key when
// one is set. Target labels go to every receiver (Slack, PagerDuty, an
// Alertmanager) and to every console user; unkeyed, whoever holds one can
// confirm that a person they name is a target by hashing the name. Keyed
// (HMAC-SHA256), only the holder of the key can. The zero value is
// unkeyed (TargetLabel).
type TargetLabeler struct{ key []byte }

// NewTargetLabeler returns a labeler with key ("" : unkeyed).
func NewTargetLabeler(key string) TargetLabeler {
	if key == "" {
		return TargetLabeler{}
	}
	return TargetLabeler{key: []byte(key)}
}

// Label is ref's target label.
func (l TargetLabeler) Label(ref string) string {
	if ref == "" || l.key == nil {
		return TargetLabel(ref)
	}
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("threatwatch-target\x00" + ref))
	return "tgt-" + hex.EncodeToString(m.Sum(nil)[:8])
}

// Facts are what an alert notification says about its key at one time.
type Facts struct {
	Site     string
	Target   string // hashed
	Level    float64
	Baseline float64
	Score    float64
	Name     string // named threat level
	Signals  map[msg.Signal]float64
	Posts    int
	Sites    []string // sites a target's posts came from
	Evidence []msg.Contributor
	Rule     string // override rule, if any
	Window   time.Duration
	Replay   bool
	// LateBy is how long before it was counted the post behind the alert
	// was published, when it was read late (an override's match, or the
	// post that lifted a late hour over the spike bar).
	LateBy time.Duration
	// LateHour is, for a spike judged on posts read late, the start of
	// the hour judged: Level and Baseline are that hour's.
	LateHour time.Time
}

// Labels returns the label set of a new episode.
func Labels(alertname, severity string, signal msg.Signal, f *Facts) map[string]string {
	l := map[string]string{"alertname": alertname, "severity": severity}
	if f.Site != "" {
		l["site"] = f.Site
	}
	if f.Target != "" {
		l["target"] = f.Target
	}
	if signal != "" {
		l["signal"] = string(signal)
	}
	if f.Rule != "" {
		l["rule"] = f.Rule
	}
	return l
}

// Build makes the notification of lifecycle l with status at event time now.
func Build(l *Lifecycle, status string, now time.Time, f *Facts) *msg.Alert {
	a := &msg.Alert{
		Schema:      msg.SchemaAlert,
		Labels:      maps.Clone(l.Labels),
		Fingerprint: l.Fingerprint,
		Status:      status,
		StartsAt:    l.StartsAt,
		EventTime:   now,
		Level:       round(f.Level),
		Baseline:    round(f.Baseline),
		Signals:     roundMap(f.Signals),
		Evidence:    slices.Clone(f.Evidence),
		Replay:      f.Replay,
	}
	if status == msg.StatusResolved {
		a.EndsAt = now
	}
	a.Annotations = annotations(a, status, f)
	return a
}

// Annotations linking the two notifications of an escalation, each the
// other's fingerprint (a hash: no name, nothing to redact).
const (
	// AnnotationEscalates is on the firing notification at the higher
	// severity: the episode it continues. It is the same incident, not a
	// new onset (nab.Onsets leaves it out).
	AnnotationEscalates = "escalates"
	// AnnotationSupersededBy is on the resolution of the lower one.
	AnnotationSupersededBy = "superseded_by"
)

// Supersede links the notifications of an escalation: firing, the episode
// at its raised severity, and resolved, the lower notification it
// replaces, resolved at the same moment so that nothing lingers.
func Supersede(firing, resolved *msg.Alert) {
	firing.Annotations[AnnotationEscalates] = resolved.Fingerprint
	resolved.Annotations[AnnotationSupersededBy] = firing.Fingerprint
	// The summary names no fingerprint: the redaction takes a run of
	// digits in one for a phone number.
	resolved.Annotations["summary"] = Redact(fmt.Sprintf("Escalated to %s: superseded by the alert at the higher severity",
		firing.Labels["severity"]))
}

func annotations(a *msg.Alert, status string, f *Facts) map[string]string {
	who := "site " + f.Site
	if f.Target != "" {
		who = "target " + f.Target
	}
	var summary string
	switch {
	case a.Labels["alertname"] == NameOverride && status == msg.StatusFiring:
		summary = fmt.Sprintf("Override rule %s matched for %s", f.Rule, who)
	case a.Labels["alertname"] == NameOverride:
		summary = fmt.Sprintf("Override rule %s: no new match for %s", f.Rule, who)
	case status == msg.StatusFiring && !f.LateHour.IsZero():
		// Not "2006-01-02 15:04": Redact takes that for a phone number.
		summary = fmt.Sprintf("Threat level %s for %s in the hour from %s, read late: %.1f against a normal of %.1f",
			f.Name, who, f.LateHour.UTC().Format("15:04 UTC on 2 Jan 2006"), f.Level, f.Baseline)
	case status == msg.StatusFiring:
		summary = fmt.Sprintf("Threat level %s for %s: %.1f against a normal of %.1f", f.Name, who, f.Level, f.Baseline)
	default:
		summary = fmt.Sprintf("Threat level for %s back to %s: %.1f against a normal of %.1f", who, f.Name, f.Level, f.Baseline)
	}
	var d strings.Builder
	if !f.LateHour.IsZero() && status == msg.StatusFiring {
		fmt.Fprintf(&d, "Posts of the hour from %s UTC were read late (a scraper outage or backlog): with them that hour's level is %.1f against a normal of %.1f (score %.1f).",
			f.LateHour.UTC().Format("15:04"), f.Level, f.Baseline, f.Score)
	} else {
		fmt.Fprintf(&d, "%d threatening posts in the last %s (level %.1f, baseline %.1f, score %.1f).", f.Posts, f.Window, f.Level, f.Baseline, f.Score)
	}
	if mix := signalMix(f.Signals); mix != "" {
		fmt.Fprintf(&d, " Signal mix: %s.", mix)
	}
	if len(f.Sites) > 0 {
		fmt.Fprintf(&d, " Sites: %s.", strings.Join(f.Sites, ", "))
	}
	if len(f.Evidence) > 0 {
		fmt.Fprintf(&d, " Top post: %s.", f.Evidence[0].PostID)
	}
	if f.LateBy > 0 && status == msg.StatusFiring {
		what := "The post that matched"
		if !f.LateHour.IsZero() {
			what = "The post that lifted it over the bar"
		}
		fmt.Fprintf(&d, " %s was published %s before it was read.", what, f.LateBy.Round(time.Minute))
	}
	out := map[string]string{
		"summary":      Redact(summary),
		"description":  Redact(d.String()),
		"level":        fmt.Sprintf("%.2f", f.Level),
		"baseline":     fmt.Sprintf("%.2f", f.Baseline),
		"score":        fmt.Sprintf("%.2f", f.Score),
		"threat_level": f.Name,
	}
	if f.LateBy > 0 && status == msg.StatusFiring {
		out["late_by"] = f.LateBy.Round(time.Second).String()
	}
	if !f.LateHour.IsZero() && status == msg.StatusFiring {
		out["late_hour"] = f.LateHour.UTC().Format(time.RFC3339)
	}
	return out
}

func signalMix(m map[msg.Signal]float64) string {
	var total float64
	for _, v := range m {
		total += v
	}
	if total <= 0 {
		return ""
	}
	var parts []string
	for _, s := range msg.Signals {
		if v := m[s]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", s, 100*v/total))
		}
	}
	return strings.Join(parts, ", ")
}

// Dominant returns the signal with the most weight (ties: msg.Signals
// order), or "" for none.
func Dominant(m map[msg.Signal]float64) msg.Signal {
	var best msg.Signal
	bv := 0.0
	for _, s := range msg.Signals {
		if m[s] > bv {
			best, bv = s, m[s]
		}
	}
	return best
}

func round(v float64) float64 {
	return float64(int64(v*1000+0.5)) / 1000
}

func roundMap(m map[msg.Signal]float64) map[msg.Signal]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[msg.Signal]float64, len(m))
	for k, v := range m {
		if v > 0 {
			out[k] = round(v)
		}
	}
	return out
}

// The local redaction fallback: typed placeholders for the kinds of personal
// data that can be recognized by shape. Snippets reaching here were already
// redacted by the classifiers; this is the second line of defence for
// anything the aggregator writes itself.
var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}`), "[EMAIL]"},
	{regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`), "[IP]"},
	{regexp.MustCompile(`(?i)\b\d{1,6}\s+(?:[a-z0-9'.\-]+\s+){0,4}(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|terrace|circle|cir|highway|hwy)\b\.?`), "[ADDRESS]"},
	{regexp.MustCompile(`\+?\(?\d{1,4}\)?(?:[\s.\-]?\(?\d{2,4}\)?){2,4}\b`), "[PHONE]"},
	{regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`), "[ID]"},
}

// Redact replaces e-mail addresses, IP addresses, street addresses and
// phone numbers with typed placeholders.
func Redact(s string) string {
	// Every pattern needs a digit, but e-mail, which needs an @: most
	// snippets (already redacted upstream) have neither, so skip the scan.
	if !strings.ContainsAny(s, "0123456789@") {
		return s
	}
	for _, r := range redactions {
		s = r.re.ReplaceAllStringFunc(s, func(m string) string {
			if r.with == "[PHONE]" && countDigits(m) < 7 {
				return m
			}
			return r.with
		})
	}
	return s
}

func countDigits(s string) int {
	n := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	return n
}

// RedactNames replaces each of names (case-insensitively, with an @ in
// front if there is one) with [TARGET]: a target's own name must not ride
// along in a snippet. It runs for every post that enters a level's top
// contributors, so it searches without compiling a pattern per name.
func RedactNames(s string, names []string) string {
	for _, n := range names {
		n = strings.TrimSpace(n)
		if len(n) < 3 {
			continue
		}
		s = replaceFold(s, n, "[TARGET]")
	}
	return s
}

// replaceFold replaces every case-insensitive occurrence of old in s, and
// an @ right before it, with repl.
func replaceFold(s, old, repl string) string {
	ls, lo := strings.ToLower(s), strings.ToLower(old)
	if len(ls) != len(s) || len(lo) != len(old) {
		// Lower-casing changed byte lengths (some non-ASCII letters):
		// offsets in ls would not be offsets in s.
		re, err := regexp.Compile(`(?i)@?` + regexp.QuoteMeta(old))
		if err != nil {
			return s
		}
		return re.ReplaceAllString(s, repl)
	}
	i := strings.Index(ls, lo)
	if i < 0 {
		return s
	}
	var b strings.Builder
	at := 0
	for i >= 0 {
		start := at + i
		cut := start
		if cut > 0 && s[cut-1] == '@' && cut-1 >= at {
			cut--
		}
		b.WriteString(s[at:cut])
		b.WriteString(repl)
		at = start + len(old)
		i = strings.Index(ls[at:], lo)
	}
	b.WriteString(s[at:])
	return b.String()
}
