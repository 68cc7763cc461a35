package alert

import (
	"strings"
	"testing"
	"time"
)

// step is one observation of a scripted lifecycle: at minute m, the fire
// and clear conditions, the severity rank, and the event expected.
type step struct {
	m           int
	fire, clear bool
	rank        int
	want        Event
}

func TestLifecycle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Policy{Pending: 10 * time.Minute, ResolveAfter: 30 * time.Minute, Cooldown: 6 * time.Hour, RepeatInterval: 2 * time.Hour}
	f := func(name string, steps []step) {
		t.Run(name, func(t *testing.T) {
			var l Lifecycle
			for _, s := range steps {
				if got := l.Step(t0.Add(time.Duration(s.m)*time.Minute), s.fire, s.clear, 1, s.rank, p); got != s.want {
					t.Fatalf("minute %d: got %v, want %v (phase %q)", s.m, got, s.want, l.Phase)
				}
			}
		})
	}
	f("fires only after the pending period", []step{
		{0, true, false, 2, None}, {5, true, false, 2, None}, {10, true, false, 2, Fire},
	})
	f("a blip shorter than the pending period never fires", []step{
		{0, true, false, 2, None}, {5, false, true, 0, None}, {10, true, false, 2, None}, {15, false, true, 0, None}, {25, true, false, 2, None},
	})
	f("between the bars a firing alert stays firing (hysteresis)", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {20, false, false, 0, None}, {60, false, false, 0, None}, {100, false, false, 0, None},
	})
	f("resolves once clear for resolve_after, then cools down", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {20, false, true, 0, None}, {45, false, true, 0, None},
		{50, false, true, 0, Resolve}, {60, true, false, 2, None}, {120, true, false, 2, None},
	})
	f("a rise during the resolve delay keeps the episode", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {20, false, true, 0, None}, {40, true, false, 2, None},
		{45, false, true, 0, None}, {70, false, true, 0, None}, {75, false, true, 0, Resolve},
	})
	f("in cooldown only a higher severity pages again", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {20, false, true, 0, None}, {50, false, true, 0, Resolve},
		{60, true, false, 2, None}, {70, true, false, 2, None}, {80, true, false, 3, None}, {90, true, false, 3, Fire},
	})
	f("in cooldown a higher severity that falls back while pending does not page", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {20, false, true, 0, None}, {50, false, true, 0, Resolve},
		{60, true, false, 3, None}, {65, true, false, 2, None}, {70, true, false, 2, None}, {75, true, false, 2, None},
		{80, true, false, 3, None}, {90, true, false, 3, Fire},
	})
	f("a rise in severity while firing escalates at once, once", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {15, true, false, 3, Escalate}, {20, true, false, 3, None}, {25, true, false, 2, None},
	})
	f("after an escalated episode the cooldown holds the higher severity back", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {15, true, false, 3, Escalate}, {20, false, true, 0, None}, {50, false, true, 0, Resolve},
		{60, true, false, 3, None}, {80, true, false, 3, None},
	})
	f("a severity reached between the bars is no escalation", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {15, false, false, 3, None}, {20, false, true, 0, None}, {50, false, true, 0, Resolve},
		{60, true, false, 3, None}, {70, true, false, 3, Fire},
	})
	f("after the cooldown a new episode pages", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {20, false, true, 0, None}, {50, false, true, 0, Resolve},
		{50 + 6*60, true, false, 2, None}, {60 + 6*60, true, false, 2, Fire},
	})
	f("a long episode is re-notified every repeat interval", []step{
		{0, true, false, 2, None}, {10, true, false, 2, Fire}, {100, true, false, 2, None}, {130, true, false, 2, Repeat}, {200, false, false, 0, None}, {250, true, false, 2, Repeat},
	})
}

func TestRedact(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("mail her at jane.roe@example.com now", "mail her at [EMAIL] now")
	f("he lives at 1420 North Oak Street apt 3", "he lives at [ADDRESS] apt 3")
	f("call +1 (555) 123-4567 tonight", "call [PHONE] tonight")
	f("level 42.5 against 6.0", "level 42.5 against 6.0")
	f("from 10.0.12.7", "from [IP]")
	if got := RedactNames("Jane Roe posted by @janeroe and JANE ROE", []string{"Jane Roe", "janeroe"}); strings.Contains(strings.ToLower(got), "jane") {
		t.Errorf("names left: %q", got)
	}
}
