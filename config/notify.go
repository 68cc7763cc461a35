package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/pipeline/alertstate/match"
)

// Notify configures the notify stage (pipeline/notify): which sinks exist
// (receivers), which alerts go to which receivers (routes), how often a
// firing alert is repeated, and how failed deliveries are retried.
//
//	notify:
//	  external_url: https://threatwatch.example.org
//	  repeat_interval: 4h
//	  receivers:
//	    - name: oncall
//	      type: pagerduty
//	      settings: {routing_key: {env: PD_ROUTING_KEY}}
//	    - name: team-sec
//	      type: slack
//	      settings: {url: {env: SLACK_WEBHOOK_URL}}
//	  routes:
//	    - matchers: ['severity=~"critical|severe"']
//	      receivers: [oncall]
//	      continue: true
//	    - matchers: ['target="tgt-3fa9c0d2e1b4a587"']   # a protected person's alerts to their team
//	      receivers: [team-sec]
//	  default_receivers: [team-sec]
//
// Each receiver's settings are decoded strictly by its sink package
// (pipeline/notify/<type>), which documents them; the notify stage reports
// their problems with field paths when it starts (and `config check` too).
type Notify struct {
	// Receivers are the named sinks alerts can be sent to.
	Receivers []Receiver `yaml:"receivers"`
	// Routes send alerts to receivers by label matchers. They are tried in
	// order; the first that matches decides, unless it says continue.
	Routes []Route `yaml:"routes"`
	// DefaultReceivers get the alerts no route matched.
	DefaultReceivers []string `yaml:"default_receivers"`
	// RepeatInterval is how often a firing, unacknowledged alert is sent
	// again to a receiver (a receiver may set its own).
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	// ResolvedRetention is how long a resolved alert is remembered, so a
	// late or redelivered firing notification of it is not sent again.
	ResolvedRetention time.Duration `yaml:"resolved_retention"`
	// Tick is how often the stage looks for repeats due, deliveries to
	// retry, expired silences and operators' resolve requests. It must be
	// shorter than the resend_interval of every alertmanager receiver,
	// whose keep-alives it sends.
	Tick time.Duration `yaml:"tick"`
	// Timeout bounds one request to a sink.
	Timeout time.Duration `yaml:"timeout"`
	// Retry is the backoff for failed deliveries, applied in one place
	// around every sink.
	Retry NotifyRetry `yaml:"retry"`
	// ExternalURL is the console's base URL; links in notifications point
	// there (externalURL in webhook bodies).
	ExternalURL string `yaml:"external_url"`
}

// NotifyRetry is the retry policy for sink deliveries. A delivery that
// still fails after Attempts is recorded as failed and retried by the
// stage's tick with the same backoff, so it is never dropped.
type NotifyRetry struct {
	// Attempts is how many tries one delivery gets before the stage moves
	// on (later ones happen on ticks).
	Attempts int `yaml:"attempts"`
	// Initial and Max bound the exponential backoff between tries. A
	// Retry-After from the sink is honored up to Max.
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
	// GiveUpAfter stops retrying a delivery this long after its first
	// failure (it is then recorded as failed for good).
	GiveUpAfter time.Duration `yaml:"give_up_after"`
}

// Receiver is one configured sink.
type Receiver struct {
	// Name is what routes refer to; also shown in the audit log.
	Name string `yaml:"name"`
	// Type is the sink type: alertmanager, pagerduty, slack, webhook, file.
	Type string `yaml:"type"`
	// SendReplay lets alerts from replays through (for a file receiver
	// analysts read). Off: replay alerts never reach this receiver.
	SendReplay bool `yaml:"send_replay"`
	// RepeatInterval overrides notify.repeat_interval for this receiver.
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	// Settings are the sink's own, decoded strictly by its package.
	Settings SinkSettings `yaml:"settings"`
}

// Route sends alerts matching all Matchers to Receivers.
type Route struct {
	// Matchers in Alertmanager syntax: name="value", name!=value,
	// name=~"regexp", name!~"regexp" (regexps anchored).
	Matchers  []string `yaml:"matchers"`
	Receivers []string `yaml:"receivers"`
	// Continue goes on to the next routes after a match.
	Continue bool `yaml:"continue"`
}

// SinkSettings holds a receiver's settings as YAML, for its sink package to
// decode. When the config is printed, values of keys that can hold secrets
// (url, key, token, secret, password) are shown as "<secret>" unless they
// are {env: NAME} or {file: PATH} references.
type SinkSettings struct {
	Node yaml.Node
}

// UnmarshalYAML keeps the node.
func (s *SinkSettings) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: settings must be a mapping", n.Line)
	}
	s.Node = *n
	return nil
}

// IsZero lets omitempty-style printing skip empty settings.
func (s SinkSettings) IsZero() bool { return s.Node.Kind == 0 }

// MarshalYAML prints the settings with secret values masked.
func (s SinkSettings) MarshalYAML() (any, error) {
	if s.Node.Kind == 0 {
		return map[string]any{}, nil
	}
	return maskSecrets(&s.Node), nil
}

var secretKey = regexp.MustCompile(`(?i)(url|key|token|secret|password)`)

// SecretKeyName reports whether a settings key is one whose value is masked
// when printed; sink packages must name their Secret fields so (a test in
// pipeline/notify checks every registered sink).
func SecretKeyName(k string) bool { return secretKey.MatchString(k) }

func maskSecrets(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		c.Content[i] = maskSecrets(ch)
	}
	if c.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(c.Content); i += 2 {
			if SecretKeyName(c.Content[i].Value) && c.Content[i+1].Kind == yaml.ScalarNode && c.Content[i+1].Value != "" {
				v := *c.Content[i+1]
				if !(strings.HasPrefix(v.Value, "${") && strings.HasSuffix(v.Value, "}")) {
					v.Value, v.Tag, v.Style = "<secret>", "!!str", 0
				}
				c.Content[i+1] = &v
			}
		}
	}
	return &c
}

// Notification defaults.
const (
	DefaultRepeatInterval = 4 * time.Hour
	// DefaultReceiverName is the receiver used when none is configured:
	// alerts as JSON lines on standard output.
	DefaultReceiverName = "stdout"
)

func (c *Notify) setDefaults() {
	setDefault(&c.RepeatInterval, DefaultRepeatInterval)
	setDefault(&c.ResolvedRetention, 7*24*time.Hour)
	setDefault(&c.Tick, 10*time.Second)
	setDefault(&c.Timeout, 10*time.Second)
	setDefault(&c.Retry.Attempts, 4)
	setDefault(&c.Retry.Initial, 500*time.Millisecond)
	setDefault(&c.Retry.Max, time.Minute)
	setDefault(&c.Retry.GiveUpAfter, 24*time.Hour)
	if len(c.Receivers) == 0 && len(c.Routes) == 0 && len(c.DefaultReceivers) == 0 {
		// With nothing configured, alerts still show up somewhere.
		var n yaml.Node
		_ = yaml.Unmarshal([]byte("path: \"-\"\n"), &n)
		c.Receivers = []Receiver{{Name: DefaultReceiverName, Type: "file", Settings: SinkSettings{Node: *n.Content[0]}}}
		c.DefaultReceivers = []string{DefaultReceiverName}
	}
}

// alertmanagerResendInterval is the Alertmanager sink's default
// resend_interval (pipeline/notify/alertmanager; a test keeps them equal).
const alertmanagerResendInterval = time.Minute

// settingDuration reads a duration from a receiver's settings; given is
// false when the key is absent or does not hold a duration (the sink
// package reports a bad value when it decodes its settings).
func settingDuration(s SinkSettings, key string) (d time.Duration, given bool) {
	n := s.Node
	if n.Kind != yaml.MappingNode {
		return 0, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			if err := n.Content[i+1].Decode(&d); err != nil {
				return 0, false
			}
			return d, true
		}
	}
	return 0, false
}

var receiverName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

func (c *Notify) validate(path string) error {
	var p Problems
	names := map[string]bool{}
	for i, r := range c.Receivers {
		rp := fmt.Sprintf("%s.receivers[%d]", path, i)
		switch {
		case r.Name == "":
			p.Add(rp+".name", ErrRequired, "")
		case !receiverName.MatchString(r.Name):
			p.Addf(rp+".name", ErrInvalidEnum, "%q: want letters, digits, '_', '.', '-' (at most 64)", r.Name)
		case names[r.Name]:
			p.Addf(rp+".name", ErrInvalidEnum, "%q is used by another receiver", r.Name)
		}
		names[r.Name] = true
		if r.Type == "" {
			p.Add(rp+".type", ErrRequired, "")
		}
		if r.RepeatInterval < 0 {
			p.Addf(rp+".repeat_interval", ErrOutOfRange, "%v, want >= 0", r.RepeatInterval)
		}
	}
	used := map[string]bool{}
	checkRefs := func(rp string, refs []string) {
		for j, n := range refs {
			used[n] = true
			if !names[n] {
				p.Addf(fmt.Sprintf("%s[%d]", rp, j), ErrInvalidEnum, "no receiver named %q", n)
			}
		}
	}
	for i, r := range c.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, i)
		if len(r.Receivers) == 0 {
			p.Add(rp+".receivers", ErrRequired, "a route needs at least one receiver")
		}
		checkRefs(rp+".receivers", r.Receivers)
		for j, m := range r.Matchers {
			if _, err := match.ParseMatcher(m); err != nil {
				p.Addf(fmt.Sprintf("%s.matchers[%d]", rp, j), ErrInvalidEnum, "%v", err)
			}
		}
	}
	checkRefs(path+".default_receivers", c.DefaultReceivers)
	for i, r := range c.Receivers {
		if r.Name != "" && !used[r.Name] {
			p.Addf(fmt.Sprintf("%s.receivers[%d].name", path, i), ErrUnused, "receiver %q is used by no route and is not a default receiver", r.Name)
		}
	}
	for f, d := range map[string]time.Duration{
		"repeat_interval": c.RepeatInterval, "resolved_retention": c.ResolvedRetention, "tick": c.Tick,
		"timeout": c.Timeout, "retry.initial": c.Retry.Initial, "retry.max": c.Retry.Max, "retry.give_up_after": c.Retry.GiveUpAfter,
	} {
		if d <= 0 {
			p.Addf(path+"."+f, ErrOutOfRange, "%v, want > 0", d)
		}
	}
	// An Alertmanager receiver's firing alerts end at 4 x resend_interval
	// unless re-sent, and re-sends are made on ticks: with a tick as long
	// as the interval they come up to twice as late as promised, and a
	// lease moving to another instance (3 ticks) lets the alerts resolve
	// and fire again in Alertmanager. The sink package decodes the
	// settings; the key and its default are read here only for this check.
	for i, r := range c.Receivers {
		if r.Type != "alertmanager" || c.Tick <= 0 {
			continue
		}
		resend, given := settingDuration(r.Settings, "resend_interval")
		shown := resend.String()
		if !given {
			resend, shown = alertmanagerResendInterval, alertmanagerResendInterval.String()+", its default"
		}
		// A resend_interval <= 0 is the sink's to report, when it is built.
		if resend > 0 && c.Tick >= resend {
			p.Addf(path+".tick", ErrOutOfRange, "%v, want less than %s.receivers[%d].settings.resend_interval (%s): keep-alives to Alertmanager would come late and alerts flap",
				c.Tick, path, i, shown)
		}
	}
	if c.Retry.Max < c.Retry.Initial {
		p.Add(path+".retry.max", ErrOutOfRange, "want retry.initial <= retry.max")
	}
	if c.Retry.Attempts < 1 || c.Retry.Attempts > 20 {
		p.Addf(path+".retry.attempts", ErrOutOfRange, "%d, want 1..20", c.Retry.Attempts)
	}
	if c.ExternalURL != "" && !strings.HasPrefix(c.ExternalURL, "http://") && !strings.HasPrefix(c.ExternalURL, "https://") {
		p.Addf(path+".external_url", ErrInvalidEnum, "%q is not an http(s) URL", c.ExternalURL)
	}
	return p.Err()
}
