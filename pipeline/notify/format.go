package notify

import (
	"fmt"
	"sort"
	"strings"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// The texts sinks show are built here, the same for every sink, from
// alerts that Redact has already cleaned.

// Summary is a one-line title: the summary annotation, or one built from
// the labels ("ThreatSpike on forum-a: swatting (severe)").
func Summary(a *msg.Alert) string {
	if s := strings.TrimSpace(a.Annotations["summary"]); s != "" {
		return s
	}
	var b strings.Builder
	b.WriteString(nonEmpty(a.Labels["alertname"], "ThreatWatch alert"))
	if s := a.Labels["site"]; s != "" {
		b.WriteString(" on " + s)
	}
	if t := a.Labels["target"]; t != "" {
		b.WriteString(" about target " + t)
	}
	if s := a.Labels["signal"]; s != "" {
		b.WriteString(": " + s)
	}
	if s := a.Labels["severity"]; s != "" {
		b.WriteString(" (" + s + ")")
	}
	return b.String()
}

// Title is Summary with the status in front, as chat messages show it.
func Title(a *msg.Alert) string {
	if a.Status == msg.StatusResolved {
		return "[RESOLVED] " + Summary(a)
	}
	return "[FIRING] " + Summary(a)
}

// Details are the lines under the title: description, level against
// baseline, the signal mix.
func Details(a *msg.Alert) []string {
	var out []string
	if d := strings.TrimSpace(a.Annotations["description"]); d != "" {
		out = append(out, d)
	}
	if a.Level != 0 || a.Baseline != 0 {
		out = append(out, fmt.Sprintf("Level %.2f against a baseline of %.2f", a.Level, a.Baseline))
	}
	if len(a.Signals) > 0 {
		keys := make([]string, 0, len(a.Signals))
		for k := range a.Signals {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %.2f", k, a.Signals[msg.Signal(k)])
		}
		out = append(out, "Signals: "+strings.Join(parts, ", "))
	}
	return out
}

// EvidenceLines renders up to n contributors: permalink and redacted
// snippet.
func EvidenceLines(a *msg.Alert, n int) []string {
	var out []string
	for i, e := range a.Evidence {
		if i == n {
			out = append(out, fmt.Sprintf("... and %d more", len(a.Evidence)-n))
			break
		}
		line := nonEmpty(e.URL, e.PostID)
		if e.Snippet != "" {
			line += ": " + e.Snippet
		}
		out = append(out, line)
	}
	return out
}

// Link is where an operator looks at the alert: its generator URL, or the
// console's alert page.
func Link(a *msg.Alert, externalURL string) string {
	if a.GeneratorURL != "" {
		return a.GeneratorURL
	}
	if externalURL != "" {
		return strings.TrimRight(externalURL, "/") + "/alerts/" + a.Fingerprint
	}
	return ""
}

// Text is the plain-text body: title, details, evidence and link.
func Text(a *msg.Alert, externalURL string) string {
	lines := append([]string{Title(a)}, Details(a)...)
	if ev := EvidenceLines(a, 5); len(ev) > 0 {
		lines = append(lines, "Evidence:")
		for _, l := range ev {
			lines = append(lines, "- "+l)
		}
	}
	if l := Link(a, externalURL); l != "" {
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

func nonEmpty(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
