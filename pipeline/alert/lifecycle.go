// Package alert is the alert lifecycle: an alert condition observed over
// event time becomes pending, then firing, then resolved, with a pending
// period, hysteresis (a lower bar to resolve than to fire), a resolve
// delay, a cooldown after resolution and re-notification while firing. It
// also builds the Alertmanager-shaped msg.Alert with labels, a stable
// fingerprint per episode, redacted annotations and evidence.
//
// Everything here is pure: the caller passes event time in and gets events
// out, so the same inputs always give the same alerts, live and in replay.
package alert

import "time"

// Phase is where an alert is in its lifecycle.
type Phase string

// The phases. Resolved is not a phase: a resolved alert is inactive again
// (with a cooldown).
const (
	Inactive Phase = ""
	Pending  Phase = "pending"
	Firing   Phase = "firing"
)

// Event is what one Step decided.
type Event int

// The events a Step can return.
const (
	None    Event = iota
	Fire          // the alert starts firing: a new episode
	Repeat        // still firing and due for re-notification
	Resolve       // the episode is over
	// Escalate: still firing, at a severity above the one notified. The
	// caller pages the episode again under labels with the new severity
	// (a new fingerprint, starting now) and resolves the lower
	// notification at the same moment, so nothing lingers.
	Escalate
)

func (e Event) String() string {
	switch e {
	case Fire:
		return "fire"
	case Repeat:
		return "repeat"
	case Resolve:
		return "resolve"
	case Escalate:
		return "escalate"
	}
	return "none"
}

// Policy is the timing of a lifecycle.
type Policy struct {
	// Pending is how long the fire condition must hold before firing.
	Pending time.Duration
	// ResolveAfter is how long the clear condition must hold before a
	// firing alert resolves.
	ResolveAfter time.Duration
	// Cooldown keeps a resolved alert from starting a new episode this
	// long, unless the new one is an escalation: a higher severity than the
	// last episode was notified with.
	Cooldown time.Duration
	// RepeatInterval re-notifies a firing alert this often (0: never).
	RepeatInterval time.Duration
}

// Lifecycle is one alert's state for one key. The zero value is inactive.
// Fields are exported so that it is checkpointed as is.
type Lifecycle struct {
	Phase Phase `json:"phase,omitempty"`
	// PendingSince is when the fire condition started to hold.
	PendingSince time.Time `json:"pending_since,omitzero"`
	// StartsAt is the start of the episode's current notification: the
	// firing onset, or its last escalation.
	StartsAt time.Time `json:"starts_at,omitzero"`
	// ClearSince is when the clear condition started to hold while firing.
	ClearSince time.Time `json:"clear_since,omitzero"`
	// LastSent is when the episode was last notified.
	LastSent time.Time `json:"last_sent,omitzero"`
	// CooldownUntil blocks a new episode until then.
	CooldownUntil time.Time `json:"cooldown_until,omitzero"`
	// Labels are fixed at onset, so the fingerprint is stable.
	Labels      map[string]string `json:"labels,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	// Peak is the highest score seen in the episode.
	Peak float64 `json:"peak,omitempty"`
	// Rank is the severity rank the last episode was notified with (its
	// highest: an episode escalates, it never steps down). Only what was
	// notified counts: a rise nobody was told of must not hold back the
	// next page in the cooldown.
	Rank int `json:"rank,omitempty"`
}

// Step observes the alert condition at event time now. fire: the condition
// to start (or keep) an episode holds; clear: the condition to end one
// holds; score: how strong it is (the episode's peak is kept); rank: the
// severity the condition pages with now (in cooldown only a rank above
// the last episode's starts a new one; while firing, a rank above the
// notified one escalates at once, without a new pending period: the
// episode is already established). A condition neither firing nor clear
// (between the two bars) keeps a firing alert firing: that gap is the
// hysteresis.
func (l *Lifecycle) Step(now time.Time, fire, clear bool, score float64, rank int, p Policy) Event {
	if l.Phase == Firing && fire {
		l.Peak = max(l.Peak, score)
		if rank > l.Rank {
			l.StartsAt, l.LastSent, l.ClearSince, l.Rank = now, now, time.Time{}, rank
			// The caller sets the new labels and fingerprint.
			return Escalate
		}
	}
	switch l.Phase {
	case Inactive:
		if !fire || (now.Before(l.CooldownUntil) && rank <= l.Rank) {
			return None
		}
		l.PendingSince = now
		if p.Pending > 0 {
			l.Phase = Pending
			return None
		}
		return l.fire(now, score, rank)
	case Pending:
		// In cooldown only a rank above the last episode's may page; one
		// that fell back during the pending period must not page at the
		// rank the cooldown holds back.
		if !fire || (now.Before(l.CooldownUntil) && rank <= l.Rank) {
			l.Phase, l.PendingSince = Inactive, time.Time{}
			return None
		}
		if now.Sub(l.PendingSince) >= p.Pending {
			return l.fire(now, score, rank)
		}
		return None
	case Firing:
		if clear && !fire {
			if l.ClearSince.IsZero() {
				l.ClearSince = now
			}
			if now.Sub(l.ClearSince) >= p.ResolveAfter {
				l.Phase = Inactive
				l.CooldownUntil = now.Add(p.Cooldown)
				return Resolve
			}
			return None
		}
		l.ClearSince = time.Time{}
		if p.RepeatInterval > 0 && now.Sub(l.LastSent) >= p.RepeatInterval {
			l.LastSent = now
			return Repeat
		}
	}
	return None
}

func (l *Lifecycle) fire(now time.Time, score float64, rank int) Event {
	l.Phase = Firing
	l.StartsAt, l.LastSent, l.ClearSince, l.Peak, l.Rank = now, now, time.Time{}, score, rank
	// Labels and fingerprint are set by the caller, who knows them.
	l.Labels, l.Fingerprint = nil, ""
	return Fire
}

// Active reports whether the alert is firing.
func (l *Lifecycle) Active() bool { return l.Phase == Firing }

// Idle reports whether the lifecycle holds nothing worth keeping at now
// (inactive and out of cooldown), so its key may be forgotten.
func (l *Lifecycle) Idle(now time.Time) bool {
	return l.Phase == Inactive && !now.Before(l.CooldownUntil)
}

// SeverityRank orders severities: info < warning < critical.
func SeverityRank(severity string) int {
	switch severity {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}
