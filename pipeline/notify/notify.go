// Package notify is the notify stage: it reads alerts from the alerts topic
// and delivers them to the configured receivers (sinks), deciding in one
// place what is sent, to whom, and how often.
//
// For every alert notification, and for every receiver its labels route to,
// the stage runs the same decisions in this order:
//
//  1. replay: alerts from a replay never page (only receivers with
//     send_replay get them);
//  2. closed: an episode an operator resolved is not sent as firing again;
//  3. silence: a firing alert matching an active silence is not sent;
//  4. ack: an acknowledged firing alert is not repeated (sinks that need
//     keep-alives, like Alertmanager, still get them);
//  5. dedup: a status already delivered to the receiver is not sent again
//     until the repeat interval has passed (resolutions: never again);
//  6. retry: the sink is called, and on a retryable failure called again
//     with exponential backoff honoring Retry-After; after the attempts,
//     the delivery stays pending and the stage's tick retries it later.
//
// Every decision that is not a plain dedup is written to the audit log
// (pipeline/alertstate) with its result. Sinks never retry by themselves,
// and see alerts only after Redact has replaced personal data with typed
// placeholders.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Sink delivers alerts to one external system.
//
// Notify is called with one or more alerts (the stage sends one alert per
// call; sinks must handle several, each as its own event, page or list
// entry). It returns nil when the receiving system accepted all of them.
// On failure, retry says whether the same call may succeed later (a
// timeout, a 5xx, a 429) or cannot (a 4xx: bad key, bad payload); the
// stage decides whether and when to call again. A sink never retries by
// itself, never sleeps, and honors ctx.
//
// Errors must never contain a secret: not the webhook URL (Slack's holds
// its key), not a routing key, token or HMAC key. Use Post, which scrubs
// them. A shared test checks every registered sink for this.
//
// Notify may be called concurrently for different alerts.
type Sink interface {
	Notify(ctx context.Context, alerts ...*msg.Alert) (retry bool, err error)
}

// KeepAliver is implemented by sinks that keep alert state themselves and
// need a firing alert re-sent at an interval to keep it firing
// (Alertmanager resolves an alert it has not heard of for a while). The
// stage re-sends at that interval, even for acknowledged alerts.
type KeepAliver interface {
	KeepAlive() time.Duration
}

// Acknowledger is implemented by sinks whose receiving system has its own
// acknowledgement (PagerDuty). When an operator acknowledges a firing alert
// in ThreatWatch, the stage calls Acknowledge once for each such receiver
// that was sent the firing, with the same contract as Notify.
type Acknowledger interface {
	Acknowledge(ctx context.Context, alerts ...*msg.Alert) (retry bool, err error)
}

// Deps are what the stage gives a sink's constructor.
type Deps struct {
	// Receiver is the receiver's configured name.
	Receiver string
	// Path is the settings' field path in the config file, for errors
	// ("notify.receivers[2].settings").
	Path string
	// Client is the HTTP client to use (its timeout is notify.timeout).
	Client *http.Client
	// ExternalURL is the console's base URL, for links.
	ExternalURL string
	// Now is the clock.
	Now func() time.Time
	// Stdout is where the file sink writes for path "-".
	Stdout io.Writer
}

// Factory makes one type of sink from its settings. A sink package exports
// one Factory; the registry in pipeline/notify/sinks lists them.
type Factory struct {
	// Type is the name used in receivers' type field.
	Type string
	// Doc is one sentence for the docs and `config` output.
	Doc string
	// Settings returns a pointer to a zero settings struct, for docs and
	// for checking that secret fields carry secret-sounding names.
	Settings func() any
	// New decodes settings (use DecodeSettings) and returns the sink. It
	// does no I/O: the config check builds every sink.
	New func(settings *yaml.Node, d Deps) (Sink, error)
}

// Build makes the sink and wraps it so it only ever sees redacted alerts.
// It is the only way the stage (and the conformance test) makes sinks.
func (f Factory) Build(settings *yaml.Node, d Deps) (Sink, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 10 * time.Second}
	}
	s, err := f.New(settings, d)
	if err != nil {
		return nil, err
	}
	if _, ok := s.(Acknowledger); ok {
		return redactingAck{redacting{s}}, nil
	}
	return redacting{s}, nil
}

// redacting is the stage that makes "no raw PII in any payload" hold for
// every sink, whatever the sink formats.
type redacting struct{ Sink }

func (r redacting) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	red := make([]*msg.Alert, len(alerts))
	for i, a := range alerts {
		red[i] = Redact(a)
	}
	return r.Sink.Notify(ctx, red...)
}

// redactingAck is redacting for sinks that also acknowledge.
type redactingAck struct{ redacting }

func (r redactingAck) Acknowledge(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	red := make([]*msg.Alert, len(alerts))
	for i, a := range alerts {
		red[i] = Redact(a)
	}
	return r.Sink.(Acknowledger).Acknowledge(ctx, red...)
}

// KeepAlive passes the wrapped sink's interval through.
func (r redacting) KeepAlive() time.Duration {
	if k, ok := r.Sink.(KeepAliver); ok {
		return k.KeepAlive()
	}
	return 0
}

// Close closes the wrapped sink if it holds resources.
func (r redacting) Close() error {
	if c, ok := r.Sink.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// ErrSettings reports receiver settings that cannot be used.
var ErrSettings = errors.New("invalid sink settings")

// DecodeSettings decodes a receiver's settings into v strictly: an unknown
// key is an error naming its field path, as in the rest of the config.
// A nil or empty node leaves v as it is.
func DecodeSettings(n *yaml.Node, path string, v any) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", path, ErrSettings, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w: %w", path, ErrSettings, err)
	}
	return nil
}

// Problems collects settings problems with field paths; a sink's New
// returns Problems.Err().
type Problems = config.Problems

// Sentinels for settings problems, shared with the config package so
// errors.Is works the same way on every configuration error.
var (
	ErrRequired    = config.ErrRequired
	ErrInvalidEnum = config.ErrInvalidEnum
	ErrOutOfRange  = config.ErrOutOfRange
)
