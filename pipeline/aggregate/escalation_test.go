package aggregate

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestAnEscalationMidEpisodePagesAtTheHigherSeverity(t *testing.T) {
	// Four days of normal, then a rise that pages as a warning at about
	// 10:30 and goes severe within minutes, and hours later, inside the
	// cooldown, a severe burst.
	s := newStream(11)
	s.feed("forum", 0, 5*day, 20, 0.8, true, nil)
	s.feed("forum", 4*day+10*time.Hour, 4*day+11*time.Hour, 90, 0.9, false, nil)
	s.feed("forum", 4*day+11*time.Hour, 4*day+12*time.Hour, 400, 0.9, false, nil)
	s.feed("forum", 4*day+18*time.Hour, 4*day+19*time.Hour, 600, 0.9, false, nil)
	outs := run(t, defaults(), s.sorted(), 5*day)

	var firing []*msg.Alert
	resolved := map[string]*msg.Alert{}
	for _, a := range alerts(outs, "") {
		switch {
		case a.Status == msg.StatusResolved:
			resolved[a.Fingerprint] = a
		case len(firing) == 0 || firing[len(firing)-1].Fingerprint != a.Fingerprint:
			firing = append(firing, a)
		}
	}
	if len(firing) != 2 {
		t.Fatalf("want a warning and its escalation to critical, got %v %v", times(firing), labelsOf(firing))
	}
	warn, crit := firing[0], firing[1]
	if warn.Labels["severity"] != alert.SeverityWarning || crit.Labels["severity"] != alert.SeverityCritical {
		t.Fatalf("severities %q then %q, want warning then critical", warn.Labels["severity"], crit.Labels["severity"])
	}
	// The level is severe from 10:35: expect the critical page by then.
	if crit.EventTime.After(at(4*day + 10*time.Hour + 35*time.Minute)) {
		t.Errorf("escalated at %v, want by 10:35", crit.EventTime)
	}
	if crit.Annotations[alert.AnnotationEscalates] != warn.Fingerprint || !crit.StartsAt.Equal(crit.EventTime) {
		t.Errorf("escalation not linked to the warning: annotations %v, startsAt %v", crit.Annotations, crit.StartsAt)
	}
	// The warning is resolved as the critical fires: nothing lingers.
	r := resolved[warn.Fingerprint]
	if r == nil || !r.EventTime.Equal(crit.EventTime) || r.Annotations[alert.AnnotationSupersededBy] != crit.Fingerprint {
		t.Fatalf("want the warning resolved at the escalation, superseded by it; got %+v", r)
	}
	// The episode ends as critical, and the later severe burst, inside the
	// cooldown of a critical episode, pages nothing more.
	if r := resolved[crit.Fingerprint]; r == nil || r.Labels["severity"] != alert.SeverityCritical || r.EventTime.After(at(4*day+15*time.Hour)) {
		t.Errorf("want the critical episode resolved by 15:00, got %+v", r)
	}
	if len(resolved) != 2 {
		t.Errorf("want two resolutions, got %d", len(resolved))
	}
}

func TestAWarningEpisodeDoesNotHoldBackASevereBurstInItsCooldown(t *testing.T) {
	// The first burst stays a warning; the second, severe, comes inside
	// the cooldown: an escalation over what was notified, so it pages.
	s := newStream(12)
	s.feed("forum", 0, 5*day, 20, 0.8, true, nil)
	s.feed("forum", 4*day+10*time.Hour, 4*day+10*time.Hour+30*time.Minute, 90, 0.9, false, nil)
	s.feed("forum", 4*day+18*time.Hour, 4*day+19*time.Hour, 600, 0.9, false, nil)
	on := onsets(run(t, defaults(), s.sorted(), 5*day))
	if len(on) != 2 || on[0].Labels["severity"] != alert.SeverityWarning || on[1].Labels["severity"] != alert.SeverityCritical {
		t.Fatalf("want a warning then a critical page, got %v %v", times(on), labelsOf(on))
	}
}
