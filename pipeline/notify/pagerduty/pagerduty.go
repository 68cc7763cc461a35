// Package pagerduty is the PagerDuty Events API v2 sink.
//
// Settings:
//
//	routing_key: {env: PD_ROUTING_KEY}   # a Secret: the integration key
//	url: https://events.pagerduty.com/v2/enqueue   # default; EU accounts use events.eu.pagerduty.com
//	source: threatwatch                  # payload.source when the alert has no site label
//	severity: {critical: critical, severe: critical, high: error, elevated: warning}
//
// A firing alert is a "trigger" event and its resolution a "resolve"
// event, both with dedup_key = the alert's fingerprint, so PagerDuty keeps
// one incident per alert episode: a repeated trigger updates it instead of
// opening another. An acknowledgement made in ThreatWatch is passed on as
// an "acknowledge" event. payload.severity maps the alert's severity label to
// PagerDuty's critical, error, warning or info (unknown: warning).
// PagerDuty answers 202; 400 is not retried; 429 and 5xx are.
package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
)

// DefaultURL is the Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Settings configure the PagerDuty sink.
type Settings struct {
	RoutingKey config.Secret     `yaml:"routing_key"`
	URL        string            `yaml:"url"`
	Source     string            `yaml:"source"`
	Severity   map[string]string `yaml:"severity"`
}

// defaultSeverity maps ThreatWatch's named threat levels and the usual
// Prometheus severities to PagerDuty's four.
var defaultSeverity = map[string]string{
	"critical": "critical", "severe": "critical", "page": "critical",
	"high": "error", "error": "error",
	"elevated": "warning", "warning": "warning", "medium": "warning",
	"low": "info", "info": "info",
}

// Factory registers the sink.
var Factory = notify.Factory{
	Type:     "pagerduty",
	Doc:      "PagerDuty Events API v2: trigger and resolve with a stable dedup_key.",
	Settings: func() any { return &Settings{} },
	New: func(n *yaml.Node, d notify.Deps) (notify.Sink, error) {
		s := Settings{URL: DefaultURL, Source: "threatwatch"}
		if err := notify.DecodeSettings(n, d.Path, &s); err != nil {
			return nil, err
		}
		var p notify.Problems
		if !s.RoutingKey.IsSet() {
			p.Add(d.Path+".routing_key", notify.ErrRequired, "the integration's routing key")
		} else if len(s.RoutingKey.Value()) != 32 {
			p.Add(d.Path+".routing_key", notify.ErrInvalidEnum, "a routing key is 32 characters")
		}
		if !notify.IsHTTPURL(s.URL) {
			p.Addf(d.Path+".url", notify.ErrInvalidEnum, "%q is not an http(s) URL", notify.ShownURL(s.URL))
		}
		for k, v := range s.Severity {
			switch v {
			case "critical", "error", "warning", "info":
			default:
				p.Addf(d.Path+".severity."+k, notify.ErrInvalidEnum, "%q, want critical, error, warning or info", v)
			}
		}
		if err := p.Err(); err != nil {
			return nil, err
		}
		return New(s, d), nil
	},
}

// Sink sends Events API v2 events.
type Sink struct {
	s Settings
	d notify.Deps
}

// New returns a PagerDuty sink for checked settings.
func New(s Settings, d notify.Deps) *Sink {
	sev := map[string]string{}
	for k, v := range defaultSeverity {
		sev[k] = v
	}
	for k, v := range s.Severity {
		sev[strings.ToLower(k)] = v
	}
	s.Severity = sev
	return &Sink{s: s, d: d}
}

// Event is an Events API v2 request body.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload is an event's payload (trigger only).
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown on the incident.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// DedupKey is the alert episode's key: its fingerprint.
func DedupKey(a *msg.Alert) string { return "threatwatch-" + a.Fingerprint }

// Build makes the event for one alert.
func (s *Sink) Build(a *msg.Alert) Event {
	ev := Event{RoutingKey: s.s.RoutingKey.Value(), DedupKey: DedupKey(a)}
	if a.Status == msg.StatusResolved {
		ev.EventAction = "resolve"
		return ev
	}
	ev.EventAction = "trigger"
	sev := s.s.Severity[strings.ToLower(a.Labels["severity"])]
	if sev == "" {
		sev = "warning"
	}
	details := fitDetails(a)
	ts := a.StartsAt
	if ts.IsZero() {
		ts = a.EventTime
	}
	ev.Payload = &Payload{
		// PagerDuty cuts summaries at 1024 characters.
		Summary:       notify.Truncate(notify.Summary(a), 1024),
		Source:        firstNonEmpty(a.Labels["site"], s.s.Source),
		Severity:      sev,
		Component:     "threatwatch",
		Group:         a.Labels["site"],
		Class:         a.Labels["signal"],
		CustomDetails: details,
	}
	if !ts.IsZero() {
		ev.Payload.Timestamp = ts.UTC().Format(time.RFC3339)
	}
	ev.Client = "ThreatWatch"
	if l := notify.Link(a, s.d.ExternalURL); l != "" {
		ev.ClientURL = l
		ev.Links = []Link{{Href: l, Text: "Open in ThreatWatch"}}
	}
	return ev
}

// maxEvent is the largest event PagerDuty takes (512 KB); it refuses a
// larger one with a 400, which is not retried: the page would be lost.
// Room is left for the rest of the event (summary, links, routing key).
const maxEvent = 512*1024 - 8*1024

// textCaps are the caps tried, in turn, on each text of custom_details
// until they fit in maxEvent (0: none).
var textCaps = []int{0, 64 << 10, 16 << 10, 4 << 10, 1 << 10, 256}

// fitDetails returns the event's custom_details: labels, annotations,
// details and evidence, with every text cut (on a rune boundary) to the
// first cap at which they fit in one event, and the identity alone when
// none does. The console has the texts in full.
func fitDetails(a *msg.Alert) map[string]any {
	for _, n := range textCaps {
		d := map[string]any{
			"labels":      capValues(a.Labels, n),
			"annotations": capValues(a.Annotations, n),
			"fingerprint": a.Fingerprint,
			"details":     capLines(notify.Details(a), n),
		}
		if ev := notify.EvidenceLines(a, 10); len(ev) > 0 {
			d["evidence"] = capLines(ev, n)
		}
		if n > 0 {
			d["truncated"] = fmt.Sprintf("texts cut to %d bytes to fit PagerDuty's event size limit", n)
		}
		if b, err := json.Marshal(d); err == nil && len(b) <= maxEvent {
			return d
		}
	}
	ids := map[string]string{}
	for _, k := range []string{"alertname", "site", "signal", "severity", "target"} {
		if v, ok := a.Labels[k]; ok {
			ids[k] = notify.Truncate(v, 256)
		}
	}
	return map[string]any{"labels": ids, "fingerprint": a.Fingerprint,
		"truncated": "texts left out to fit PagerDuty's event size limit"}
}

func capValues(m map[string]string, n int) map[string]string {
	if n == 0 || m == nil {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = notify.Truncate(v, n)
	}
	return out
}

func capLines(ls []string, n int) []string {
	if n == 0 {
		return ls
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = notify.Truncate(l, n)
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// Acknowledge sends an "acknowledge" event per alert, so an
// acknowledgement made in ThreatWatch shows on the PagerDuty incident.
func (s *Sink) Acknowledge(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	for _, a := range alerts {
		body, err := json.Marshal(Event{RoutingKey: s.s.RoutingKey.Value(), EventAction: "acknowledge", DedupKey: DedupKey(a)})
		if err != nil {
			return false, fmt.Errorf("cannot encode pagerduty event: %w", err)
		}
		retry, err := notify.Do(ctx, s.d.Client, notify.Request{URL: s.s.URL, Body: body, Secrets: []string{s.s.RoutingKey.Value()}})
		if err != nil {
			return retry, err
		}
	}
	return false, nil
}

// Notify sends one event per alert, in order, and stops at the first
// failure (the stage retries the whole call; PagerDuty deduplicates the
// events already accepted by dedup_key).
func (s *Sink) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	for _, a := range alerts {
		body, err := json.Marshal(s.Build(a))
		if err != nil {
			return false, fmt.Errorf("cannot encode pagerduty event: %w", err)
		}
		retry, err := notify.Do(ctx, s.d.Client, notify.Request{URL: s.s.URL, Body: body, Secrets: []string{s.s.RoutingKey.Value()}})
		if err != nil {
			return retry, err
		}
	}
	return false, nil
}
