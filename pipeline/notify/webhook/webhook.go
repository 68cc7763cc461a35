// Package webhook is the generic webhook sink. It POSTs the body
// Alertmanager's webhook receiver sends (version "4"), so receivers written
// for Alertmanager work unchanged, and signs it.
//
// Settings:
//
//	url: {env: ALERT_WEBHOOK_URL}         # a Secret: URLs often hold tokens
//	secret: {env: ALERT_WEBHOOK_SECRET}   # HMAC-SHA256 key; required
//	signature_header: X-ThreatWatch-Signature
//	max_alerts: 0                         # cap per body (0: no cap)
//
// The signature header is "sha256=" followed by the lower-case hex
// HMAC-SHA256 of the exact body bytes under the secret, as GitHub and
// others do. A receiver checks it with a constant-time comparison before
// parsing the body.
//
// That signature holds for ever: whoever records one request can send it
// again later (re-opening an incident a resolution closed). Each request
// therefore also carries X-ThreatWatch-Timestamp (Unix seconds when it was
// signed) and X-ThreatWatch-Timestamped-Signature: "sha256=" and the hex
// HMAC-SHA256 of the timestamp, a ".", and the body, as Slack and Stripe
// do. A receiver that checks it and refuses a timestamp more than a few
// minutes from its clock (VerifyTimestamped) refuses replays.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
)

// DefaultHeader is the signature header when none is configured.
const DefaultHeader = "X-ThreatWatch-Signature"

// The headers of the timestamped signature.
const (
	TimestampHeader            = "X-ThreatWatch-Timestamp"
	TimestampedSignatureHeader = "X-ThreatWatch-Timestamped-Signature"
)

// Settings configure the webhook sink.
type Settings struct {
	URL             config.Secret `yaml:"url"`
	Secret          config.Secret `yaml:"secret"`
	SignatureHeader string        `yaml:"signature_header"`
	MaxAlerts       int           `yaml:"max_alerts"`
}

// Factory registers the sink.
var Factory = notify.Factory{
	Type:     "webhook",
	Doc:      "POSTs the Alertmanager webhook v4 body, signed with HMAC-SHA256.",
	Settings: func() any { return &Settings{} },
	New: func(n *yaml.Node, d notify.Deps) (notify.Sink, error) {
		var s Settings
		if err := notify.DecodeSettings(n, d.Path, &s); err != nil {
			return nil, err
		}
		if s.SignatureHeader == "" {
			s.SignatureHeader = DefaultHeader
		}
		var p notify.Problems
		if !s.URL.IsSet() {
			p.Add(d.Path+".url", notify.ErrRequired, "")
		} else if !notify.IsHTTPURL(s.URL.Value()) {
			p.Add(d.Path+".url", notify.ErrInvalidEnum, "want an http(s) URL")
		}
		if !s.Secret.IsSet() {
			p.Add(d.Path+".secret", notify.ErrRequired, "the HMAC-SHA256 key receivers verify the signature with")
		}
		if s.MaxAlerts < 0 {
			p.Addf(d.Path+".max_alerts", notify.ErrOutOfRange, "%d, want >= 0", s.MaxAlerts)
		}
		if err := p.Err(); err != nil {
			return nil, err
		}
		return New(s, d), nil
	},
}

// Sink posts signed webhook bodies.
type Sink struct {
	s Settings
	d notify.Deps
}

func (s *Sink) now() time.Time {
	if s.d.Now != nil {
		return s.d.Now()
	}
	return time.Now()
}

// New returns a webhook sink for checked settings.
func New(s Settings, d notify.Deps) *Sink { return &Sink{s: s, d: d} }

// Message is the Alertmanager webhook body, version 4.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert in a webhook body.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Body builds the v4 message for alerts sent to receiver. The group is the
// alerts' episode(s): groupKey names the receiver and fingerprints, and
// groupLabels the alertname and site they share.
func Body(receiver, externalURL string, alerts []*msg.Alert, maxAlerts int) Message {
	m := Message{
		Version: "4", Receiver: receiver, ExternalURL: externalURL, Status: msg.StatusResolved,
		GroupLabels: map[string]string{}, CommonLabels: map[string]string{}, CommonAnnotations: map[string]string{},
		Alerts: []Alert{},
	}
	fps := make([]string, 0, len(alerts))
	for i, a := range alerts {
		fps = append(fps, a.Fingerprint)
		if a.Status == msg.StatusFiring {
			m.Status = msg.StatusFiring
		}
		if i == 0 {
			for k, v := range a.Labels {
				m.CommonLabels[k] = v
			}
			for k, v := range a.Annotations {
				m.CommonAnnotations[k] = v
			}
		} else {
			intersect(m.CommonLabels, a.Labels)
			intersect(m.CommonAnnotations, a.Annotations)
		}
		if maxAlerts > 0 && len(m.Alerts) >= maxAlerts {
			m.TruncatedAlerts++
			continue
		}
		ann := map[string]string{}
		for k, v := range a.Annotations {
			ann[k] = v
		}
		ann["threatwatch_text"] = notify.Text(a, externalURL)
		m.Alerts = append(m.Alerts, Alert{
			Status: a.Status, Labels: a.Labels, Annotations: ann, StartsAt: a.StartsAt, EndsAt: a.EndsAt,
			GeneratorURL: notify.Link(a, externalURL), Fingerprint: a.Fingerprint,
		})
	}
	for _, k := range []string{"alertname", "site"} {
		if v, ok := m.CommonLabels[k]; ok {
			m.GroupLabels[k] = v
		}
	}
	sort.Strings(fps)
	m.GroupKey = receiver + ":{fingerprint=~\"" + strings.Join(fps, "|") + "\"}"
	return m
}

func intersect(common, other map[string]string) {
	for k, v := range common {
		if other[k] != v {
			delete(common, k)
		}
	}
}

// Sign returns the signature header value for body under key.
func Sign(key, body []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// Verify reports whether sig is body's signature under key, in constant
// time. Receivers written in Go can use it.
func Verify(key, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(key, body)))
}

// SignTimestamped returns the timestamped signature of body sent with
// timestamp ts (TimestampHeader's value).
func SignTimestamped(key []byte, ts string, body []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// VerifyTimestamped reports whether sig is the timestamped signature of
// body sent at ts, and ts lies within tolerance of now: a request signed
// long ago, however genuine, is a replay.
func VerifyTimestamped(key, body []byte, ts, sig string, now time.Time, tolerance time.Duration) bool {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(SignTimestamped(key, ts, body)))
}

// Notify posts one signed body holding all alerts.
func (s *Sink) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	body, err := json.Marshal(Body(s.d.Receiver, s.d.ExternalURL, alerts, s.s.MaxAlerts))
	if err != nil {
		return false, fmt.Errorf("cannot encode webhook body: %w", err)
	}
	h := http.Header{}
	key := []byte(s.s.Secret.Value())
	h.Set(s.s.SignatureHeader, Sign(key, body))
	ts := strconv.FormatInt(s.now().Unix(), 10)
	h.Set(TimestampHeader, ts)
	h.Set(TimestampedSignatureHeader, SignTimestamped(key, ts, body))
	return notify.Do(ctx, s.d.Client, notify.Request{URL: s.s.URL.Value(), Body: body, Header: h, Secrets: []string{s.s.Secret.Value()}})
}
