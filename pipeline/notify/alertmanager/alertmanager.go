// Package alertmanager is the Prometheus Alertmanager sink: it posts
// alerts to Alertmanager's API (POST /api/v2/alerts), as Prometheus does,
// so the grouping, inhibition, silencing and receivers a team already runs
// in Alertmanager apply to ThreatWatch's alerts.
//
// Settings:
//
//	url: http://alertmanager:9093     # base URL (a path prefix is kept)
//	bearer_token: {env: AM_TOKEN}     # optional Secret, for a proxy in front
//	resend_interval: 1m               # keep-alive of firing alerts
//
// Alertmanager considers an alert resolved once its endsAt has passed, so
// firing alerts are sent with endsAt = now + 4 × resend_interval and sent
// again every resend_interval while they fire (the notify stage does the
// re-sending, from its state in Redis, even for acknowledged alerts: an
// acknowledgement is not a resolution). A resolution is sent with endsAt
// set to the time it ended. If ThreatWatch stops, Alertmanager resolves
// the alerts itself after 4 × resend_interval.
package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
)

// Settings configure the Alertmanager sink.
type Settings struct {
	URL            string        `yaml:"url"`
	BearerToken    config.Secret `yaml:"bearer_token"`
	ResendInterval time.Duration `yaml:"resend_interval"`
}

// Factory registers the sink.
var Factory = notify.Factory{
	Type:     "alertmanager",
	Doc:      "Posts to Prometheus Alertmanager's /api/v2/alerts, re-sent while firing, endsAt on resolve.",
	Settings: func() any { return &Settings{} },
	New: func(n *yaml.Node, d notify.Deps) (notify.Sink, error) {
		s := Settings{ResendInterval: time.Minute}
		if err := notify.DecodeSettings(n, d.Path, &s); err != nil {
			return nil, err
		}
		var p notify.Problems
		if s.URL == "" {
			p.Add(d.Path+".url", notify.ErrRequired, "Alertmanager's base URL")
		} else if !notify.IsHTTPURL(s.URL) {
			p.Addf(d.Path+".url", notify.ErrInvalidEnum, "%q is not an http(s) URL", notify.ShownURL(s.URL))
		}
		if s.ResendInterval < time.Second {
			p.Addf(d.Path+".resend_interval", notify.ErrOutOfRange, "%v, want >= 1s", s.ResendInterval)
		}
		if err := p.Err(); err != nil {
			return nil, err
		}
		return New(s, d), nil
	},
}

// Sink posts to Alertmanager.
type Sink struct {
	s        Settings
	d        notify.Deps
	endpoint string
}

// New returns an Alertmanager sink for checked settings.
func New(s Settings, d notify.Deps) *Sink {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Sink{s: s, d: d, endpoint: strings.TrimRight(s.URL, "/") + "/api/v2/alerts"}
}

// KeepAlive tells the stage to re-send firing alerts this often.
func (s *Sink) KeepAlive() time.Duration { return s.s.ResendInterval }

// PostableAlert is one alert in Alertmanager's API v2.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitempty"`
	EndsAt       time.Time         `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Build makes the API v2 body for alerts at time now.
func (s *Sink) Build(alerts []*msg.Alert, now time.Time) []PostableAlert {
	out := make([]PostableAlert, 0, len(alerts))
	for _, a := range alerts {
		ann := map[string]string{}
		for k, v := range a.Annotations {
			ann[k] = v
		}
		if _, ok := ann["summary"]; !ok {
			ann["summary"] = notify.Summary(a)
		}
		if det := notify.Details(a); len(det) > 0 {
			if _, ok := ann["description"]; !ok {
				ann["description"] = strings.Join(det, "\n")
			}
		}
		if ev := notify.EvidenceLines(a, 5); len(ev) > 0 {
			ann["evidence"] = strings.Join(ev, "\n")
		}
		ann["fingerprint"] = a.Fingerprint
		pa := PostableAlert{Labels: a.Labels, Annotations: ann, StartsAt: a.StartsAt.UTC(), GeneratorURL: notify.Link(a, s.d.ExternalURL)}
		if a.Status == msg.StatusResolved {
			pa.EndsAt = a.EndsAt
			if pa.EndsAt.IsZero() || pa.EndsAt.After(now) {
				pa.EndsAt = now
			}
			if pa.StartsAt.After(pa.EndsAt) {
				pa.StartsAt = pa.EndsAt
			}
		} else {
			pa.EndsAt = now.Add(4 * s.s.ResendInterval)
			if pa.StartsAt.After(now) {
				// The aggregator accepts posts stamped a little ahead of
				// the clock (max_future), so an episode can start after
				// now; Alertmanager refuses a startsAt after endsAt, and
				// Prometheus never sends one ahead of its clock either.
				pa.StartsAt = now.UTC()
			}
		}
		pa.EndsAt = pa.EndsAt.UTC()
		out = append(out, pa)
	}
	return out
}

// Notify posts all alerts in one request.
func (s *Sink) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	body, err := json.Marshal(s.Build(alerts, s.d.Now()))
	if err != nil {
		return false, fmt.Errorf("cannot encode alertmanager alerts: %w", err)
	}
	h := http.Header{}
	var secrets []string
	if s.s.BearerToken.IsSet() {
		h.Set("Authorization", "Bearer "+s.s.BearerToken.Value())
		secrets = append(secrets, s.s.BearerToken.Value())
	}
	return notify.Do(ctx, s.d.Client, notify.Request{URL: s.endpoint, Body: body, Header: h, Secrets: secrets})
}
