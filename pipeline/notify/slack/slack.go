// Package slack is the Slack incoming-webhook sink.
//
// Settings:
//
//	url: {env: SLACK_WEBHOOK_URL}   # a Secret: the URL is the credential
//	channel: "#threat-alerts"       # optional override (legacy webhooks only)
//	username: ThreatWatch           # optional
//	icon_emoji: ":rotating_light:"  # optional
//	max_evidence: 5                 # contributors listed per alert
//
// Each call posts one message: a plain-text "text" (what notifications and
// old clients show) and Block Kit "blocks" with one section per alert.
// Slack answers 200 "ok"; 4xx bodies like "invalid_payload" or
// "no_service" are not retried; 429 is retried after its Retry-After.
package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
)

// Settings configure the Slack sink.
type Settings struct {
	URL         config.Secret `yaml:"url"`
	Channel     string        `yaml:"channel"`
	Username    string        `yaml:"username"`
	IconEmoji   string        `yaml:"icon_emoji"`
	MaxEvidence int           `yaml:"max_evidence"`
}

// Factory registers the sink.
var Factory = notify.Factory{
	Type:     "slack",
	Doc:      "Posts to a Slack incoming webhook (text plus Block Kit blocks).",
	Settings: func() any { return &Settings{} },
	New: func(n *yaml.Node, d notify.Deps) (notify.Sink, error) {
		s := Settings{MaxEvidence: 5}
		if err := notify.DecodeSettings(n, d.Path, &s); err != nil {
			return nil, err
		}
		var p notify.Problems
		if !s.URL.IsSet() {
			p.Add(d.Path+".url", notify.ErrRequired, "the incoming webhook URL")
		} else if !notify.IsHTTPURL(s.URL.Value()) {
			p.Add(d.Path+".url", notify.ErrInvalidEnum, "want an http(s) URL")
		}
		if s.MaxEvidence < 0 || s.MaxEvidence > 20 {
			p.Addf(d.Path+".max_evidence", notify.ErrOutOfRange, "%d, want 0..20", s.MaxEvidence)
		}
		if err := p.Err(); err != nil {
			return nil, err
		}
		return New(s, d), nil
	},
}

// Sink posts to a Slack incoming webhook.
type Sink struct {
	s Settings
	d notify.Deps
}

// New returns a Slack sink for checked settings.
func New(s Settings, d notify.Deps) *Sink { return &Sink{s: s, d: d} }

// Message is an incoming-webhook payload.
type Message struct {
	Text      string  `json:"text"`
	Blocks    []Block `json:"blocks,omitempty"`
	Channel   string  `json:"channel,omitempty"`
	Username  string  `json:"username,omitempty"`
	IconEmoji string  `json:"icon_emoji,omitempty"`
}

// Block is a Block Kit block (the subset used: header, section, context,
// divider).
type Block struct {
	Type     string  `json:"type"`
	Text     *Text   `json:"text,omitempty"`
	Fields   []*Text `json:"fields,omitempty"`
	Elements []*Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

// escape makes text safe inside mrkdwn: Slack asks for &, < and > to be
// escaped, so a snippet cannot forge a link or a mention.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Build makes the message for alerts.
func (s *Sink) Build(alerts []*msg.Alert) Message {
	m := Message{Channel: s.s.Channel, Username: s.s.Username, IconEmoji: s.s.IconEmoji}
	var texts []string
	for i, a := range alerts {
		if i > 0 {
			m.Blocks = append(m.Blocks, Block{Type: "divider"})
		}
		// The top-level text is mrkdwn too (the notification shows it).
		texts = append(texts, escape(notify.Title(a)))
		m.Blocks = append(m.Blocks, Block{Type: "header", Text: &Text{Type: "plain_text", Text: notify.Truncate(notify.Title(a), 150)}})
		var fields []*Text
		for _, k := range []string{"site", "signal", "severity", "target"} {
			if v := a.Labels[k]; v != "" {
				fields = append(fields, &Text{Type: "mrkdwn", Text: fmt.Sprintf("*%s*\n%s", k, escape(v))})
			}
		}
		if len(fields) > 0 {
			m.Blocks = append(m.Blocks, Block{Type: "section", Fields: fields})
		}
		if det := notify.Details(a); len(det) > 0 {
			m.Blocks = append(m.Blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: notify.Truncate(escape(strings.Join(det, "\n")), 3000)}})
		}
		if ev := notify.EvidenceLines(a, s.s.MaxEvidence); len(ev) > 0 && s.s.MaxEvidence > 0 {
			var b strings.Builder
			b.WriteString("*Evidence*")
			for _, l := range ev {
				b.WriteString("\n• " + escape(l))
			}
			m.Blocks = append(m.Blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: notify.Truncate(b.String(), 3000)}})
		}
		if l := notify.Link(a, s.d.ExternalURL); l != "" {
			m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []*Text{{Type: "mrkdwn", Text: "<" + escape(l) + "|Open in ThreatWatch> · fingerprint " + a.Fingerprint}}})
		}
	}
	// Slack allows 50 blocks per message; beyond that the text carries it.
	if len(m.Blocks) > 50 {
		m.Blocks = m.Blocks[:50]
	}
	m.Text = notify.Truncate(strings.Join(texts, "\n"), 3000)
	return m
}

// Notify posts one message for all alerts.
func (s *Sink) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	body, err := json.Marshal(s.Build(alerts))
	if err != nil {
		return false, fmt.Errorf("cannot encode slack message: %w", err)
	}
	return notify.Do(ctx, s.d.Client, notify.Request{URL: s.s.URL.Value(), Body: body})
}
