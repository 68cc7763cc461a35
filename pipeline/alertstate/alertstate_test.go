package alertstate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newState(t *testing.T) (*alertstate.State, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return alertstate.New(redistest.New(t), alertstate.WithClock(c.now), alertstate.WithSilenceRetention(24*time.Hour)), c
}

func TestMatchers(t *testing.T) {
	labels := map[string]string{"alertname": "ThreatSpike", "site": "forum-a", "severity": "critical", "target": "t_9f2c"}
	f := func(expr string, want bool) {
		t.Helper()
		m, err := alertstate.ParseMatcher(expr)
		if err != nil {
			t.Fatalf("ParseMatcher(%q): %v", expr, err)
		}
		if got := m.Matches(labels); got != want {
			t.Errorf("%s on %v = %v, want %v", m, labels, got, want)
		}
	}
	f(`site="forum-a"`, true)
	f(`site=forum-a`, true)
	f(`site!=forum-a`, false)
	f(`site=~"forum-.*"`, true)
	f(`site=~"forum"`, false) // anchored
	f(`site!~"forum-b|forum-c"`, true)
	f(`team=""`, true) // a missing label is the empty string
	f(`team!=""`, false)
	f(`target="t_9f2c"`, true)

	bad := func(expr string) {
		t.Helper()
		if _, err := alertstate.ParseMatcher(expr); !errors.Is(err, alertstate.ErrMatcher) {
			t.Errorf("ParseMatcher(%q) error = %v, want ErrMatcher", expr, err)
		}
	}
	bad(`site`)
	bad(`=forum`)
	bad(`site=~"(unclosed"`)
	bad(`1site=x`)
	bad(`site="unterminated`)
}

func TestSilences(t *testing.T) {
	ctx := context.Background()
	st, c := newState(t)
	labels := map[string]string{"alertname": "ThreatSpike", "site": "forum-a"}

	t.Run("a silence needs matchers, an author and an end in the future", func(t *testing.T) {
		for _, s := range []alertstate.Silence{
			{CreatedBy: "ana", EndsAt: c.now().Add(time.Hour)},
			{Matchers: []alertstate.Matcher{alertstate.MustMatcher("site", "=", "x")}, EndsAt: c.now().Add(time.Hour)},
			{Matchers: []alertstate.Matcher{alertstate.MustMatcher("site", "=", "x")}, CreatedBy: "ana", EndsAt: c.now().Add(-time.Minute)},
			{Matchers: []alertstate.Matcher{{Name: "site", Op: "==", Value: "x"}}, CreatedBy: "ana", EndsAt: c.now().Add(time.Hour)},
		} {
			if _, err := st.CreateSilence(ctx, s); !errors.Is(err, alertstate.ErrInvalid) {
				t.Errorf("CreateSilence(%+v) error = %v, want ErrInvalid", s, err)
			}
		}
	})

	sil, err := st.CreateSilence(ctx, alertstate.Silence{
		Matchers:  []alertstate.Matcher{alertstate.MustMatcher("site", alertstate.MatchRegexp, "forum-.*")},
		EndsAt:    c.now().Add(time.Hour),
		CreatedBy: "ana", Comment: "maintenance on forum-a",
	})
	if err != nil {
		t.Fatal(err)
	}
	if sil.ID == "" || !sil.StartsAt.Equal(c.now()) {
		t.Fatalf("created silence %+v: want an id and startsAt now", sil)
	}

	t.Run("an active silence mutes matching alerts only", func(t *testing.T) {
		ids, err := st.Silenced(ctx, labels, c.now())
		if err != nil || len(ids) != 1 || ids[0] != sil.ID {
			t.Fatalf("Silenced = %v, %v; want [%s]", ids, err, sil.ID)
		}
		ids, _ = st.Silenced(ctx, map[string]string{"site": "other"}, c.now())
		if len(ids) != 0 {
			t.Fatalf("Silenced(other site) = %v, want none", ids)
		}
	})

	t.Run("matchers survive the round trip through Redis compiled", func(t *testing.T) {
		got, err := st.Silence(ctx, sil.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Matches(labels) || got.Matches(map[string]string{"site": "xforum-a"}) {
			t.Fatalf("stored silence matches wrongly: %+v", got)
		}
	})

	t.Run("a silence stops muting when it ends", func(t *testing.T) {
		c.add(61 * time.Minute)
		ids, _ := st.Silenced(ctx, labels, c.now())
		if len(ids) != 0 {
			t.Fatalf("Silenced after expiry = %v, want none", ids)
		}
		active, _ := st.Silences(ctx, false)
		all, _ := st.Silences(ctx, true)
		if len(active) != 0 || len(all) != 1 {
			t.Fatalf("listing: %d active, %d all; want 0 and 1", len(active), len(all))
		}
	})

	t.Run("an operator can expire a silence early and it is audited", func(t *testing.T) {
		s2, err := st.CreateSilence(ctx, alertstate.Silence{
			Matchers: []alertstate.Matcher{alertstate.MustMatcher("site", "=", "forum-a")}, EndsAt: c.now().Add(time.Hour), CreatedBy: "ana",
		})
		if err != nil {
			t.Fatal(err)
		}
		c.add(time.Minute)
		if err := st.ExpireSilence(ctx, s2.ID, "bo"); err != nil {
			t.Fatal(err)
		}
		if ids, _ := st.Silenced(ctx, labels, c.now()); len(ids) != 0 {
			t.Fatalf("expired silence still mutes: %v", ids)
		}
		got, _ := st.Silence(ctx, s2.ID)
		if got.ExpiredBy != "bo" || !got.EndsAt.Equal(c.now()) {
			t.Fatalf("expired silence = %+v", got)
		}
		es, _, err := st.Audit(ctx, alertstate.AuditQuery{Limit: 1})
		if err != nil || len(es) != 1 || es[0].Action != alertstate.ActionSilenceExpire || es[0].Actor != "bo" || es[0].SilenceID != s2.ID {
			t.Fatalf("newest audit entry = %+v, %v", es, err)
		}
		if err := st.ExpireSilence(ctx, "nope", "bo"); !errors.Is(err, alertstate.ErrNotFound) {
			t.Fatalf("expiring an unknown silence: %v, want ErrNotFound", err)
		}
	})

	t.Run("silences past the retention are garbage collected", func(t *testing.T) {
		c.add(25 * time.Hour)
		n, err := st.GCSilences(ctx)
		if err != nil || n != 2 {
			t.Fatalf("GCSilences = %d, %v; want 2", n, err)
		}
		if _, err := st.Silence(ctx, sil.ID); !errors.Is(err, alertstate.ErrNotFound) {
			t.Fatalf("collected silence still readable: %v", err)
		}
	})
}

func TestAcksAndResolves(t *testing.T) {
	ctx := context.Background()
	st, c := newState(t)

	if _, err := st.Acknowledge(ctx, "fp1", "", "x"); !errors.Is(err, alertstate.ErrInvalid) {
		t.Fatalf("ack without who: %v", err)
	}
	a, err := st.Acknowledge(ctx, "fp1", "ana", "on it")
	if err != nil {
		t.Fatal(err)
	}
	if a.By != "ana" || !a.At.Equal(c.now()) {
		t.Fatalf("ack = %+v", a)
	}
	acks, err := st.Acks(ctx, "fp1", "fp2")
	if err != nil || len(acks) != 1 || acks["fp1"].Note != "on it" {
		t.Fatalf("Acks = %v, %v", acks, err)
	}
	if err := st.Unacknowledge(ctx, "fp1", "bo"); err != nil {
		t.Fatal(err)
	}
	if err := st.Unacknowledge(ctx, "fp1", "bo"); !errors.Is(err, alertstate.ErrNotFound) {
		t.Fatalf("second unack: %v, want ErrNotFound", err)
	}

	if _, ok, _ := st.Closed(ctx, "fp1"); ok {
		t.Fatal("episode closed before any request")
	}
	r, err := st.RequestResolve(ctx, "fp1", "ana", "false positive")
	if err != nil {
		t.Fatal(err)
	}
	pending, _ := st.PendingResolves(ctx)
	if len(pending) != 1 || pending[0].Fingerprint != "fp1" {
		t.Fatalf("pending = %+v", pending)
	}
	if _, ok, _ := st.Closed(ctx, "fp1"); !ok {
		t.Fatal("a pending request must already count as closed")
	}
	if err := st.CompleteResolve(ctx, r); err != nil {
		t.Fatal(err)
	}
	pending, _ = st.PendingResolves(ctx)
	got, ok, err := st.Closed(ctx, "fp1")
	if len(pending) != 0 || !ok || err != nil || got.Done.IsZero() || got.By != "ana" {
		t.Fatalf("after completion: pending %v, closed %+v %v %v", pending, got, ok, err)
	}

	es, _, err := st.Audit(ctx, alertstate.AuditQuery{Fingerprint: "fp1"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []alertstate.Action
	for _, e := range es {
		actions = append(actions, e.Action)
	}
	want := []alertstate.Action{alertstate.ActionResolveRequest, alertstate.ActionUnack, alertstate.ActionAck}
	if fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Fatalf("fp1 audit, newest first = %v, want %v", actions, want)
	}
}

func TestAuditPaging(t *testing.T) {
	ctx := context.Background()
	st, _ := newState(t)
	for i := range 25 {
		if err := st.Record(ctx, alertstate.AuditEntry{Action: alertstate.ActionNotify, Fingerprint: "fp", Receiver: fmt.Sprint("r", i), Result: alertstate.ResultSent}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		es, next, err := st.Audit(ctx, alertstate.AuditQuery{Fingerprint: "fp", Before: cursor, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, e.Receiver)
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if len(got) != 25 || got[0] != "r24" || got[24] != "r0" {
		t.Fatalf("paged %d entries, first %q last %q; want 25 from r24 down to r0", len(got), got[0], got[len(got)-1])
	}
	if _, _, err := st.Audit(ctx, alertstate.AuditQuery{Before: "not-an-id"}); !errors.Is(err, alertstate.ErrInvalid) {
		t.Fatalf("bad cursor: %v, want ErrInvalid", err)
	}
}

func TestTrackedAndLease(t *testing.T) {
	ctx := context.Background()
	st, _ := newState(t)
	tr := &alertstate.Tracked{
		Alert:      msg.Alert{Schema: msg.SchemaAlert, Fingerprint: "fp9", Status: msg.StatusFiring, Labels: map[string]string{"alertname": "ThreatSpike"}},
		Receivers:  []string{"oncall"},
		Deliveries: map[string]alertstate.Delivery{"oncall": {Status: msg.StatusFiring}},
	}
	if err := st.Track(ctx, tr); err != nil {
		t.Fatal(err)
	}
	got, err := st.Tracked(ctx, "fp9")
	if err != nil || got.Deliveries["oncall"].Status != msg.StatusFiring || got.Alert.Labels["alertname"] != "ThreatSpike" {
		t.Fatalf("Tracked = %+v, %v", got, err)
	}
	all, _ := st.AllTracked(ctx)
	if len(all) != 1 {
		t.Fatalf("AllTracked = %d, want 1", len(all))
	}
	if err := st.Forget(ctx, "fp9"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Tracked(ctx, "fp9"); !errors.Is(err, alertstate.ErrNotFound) {
		t.Fatalf("forgotten alert: %v", err)
	}

	ok1, _ := st.Lease(ctx, "tick", "a", time.Minute)
	ok2, _ := st.Lease(ctx, "tick", "b", time.Minute)
	ok3, _ := st.Lease(ctx, "tick", "a", time.Minute)
	if !ok1 || ok2 || !ok3 {
		t.Fatalf("lease a=%v b=%v a-again=%v; want true false true", ok1, ok2, ok3)
	}
}

// TrackFiring, the tick's write of an episode it read as firing, must not
// undo a resolution stored meanwhile, on a real Redis and on the embedded
// one alike.
func TestTrackFiringNeverOverwritesAResolution(t *testing.T) {
	f := func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st := alertstate.New(s)
		ep := func(fp, status string) *alertstate.Tracked {
			return &alertstate.Tracked{
				Alert:      msg.Alert{Schema: msg.SchemaAlert, Fingerprint: fp, Status: status, Labels: map[string]string{"alertname": "ThreatSpike", "status": "resolved"}},
				Deliveries: map[string]alertstate.Delivery{"am": {Status: msg.StatusResolved}},
			}
		}
		for _, c := range []struct {
			stored string // "" for none
			want   bool
		}{{"", true}, {msg.StatusFiring, true}, {msg.StatusResolved, false}} {
			fp := "fp-" + c.stored
			if c.stored != "" {
				if err := st.Track(ctx, ep(fp, c.stored)); err != nil {
					t.Fatal(err)
				}
			}
			ok, err := st.TrackFiring(ctx, ep(fp, msg.StatusFiring))
			if err != nil || ok != c.want {
				t.Fatalf("stored %q: TrackFiring = %v, %v; want %v", c.stored, ok, err, c.want)
			}
			got, err := st.Tracked(ctx, fp)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: msg.StatusFiring, false: c.stored}[c.want]; got.Alert.Status != want {
				t.Errorf("stored %q: episode is %s after TrackFiring, want %s", c.stored, got.Alert.Status, want)
			}
		}
	}
	t.Run("redis", func(t *testing.T) { f(t, redistest.New(t)) })
	t.Run("embedded", func(t *testing.T) {
		s, err := store.Open(config.Redis{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		f(t, s)
	})
}

// The lease is taken, renewed only by its holder (the renewal extends it),
// and taken by another once it lapsed, on a real Redis and on the embedded
// one alike.
func TestLeaseIsRenewedByItsHolderAndTakenOnceItLapses(t *testing.T) {
	f := func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st := alertstate.New(s)
		take := func(holder string, ttl time.Duration, want bool) {
			t.Helper()
			ok, err := st.Lease(ctx, "tick", holder, ttl)
			if err != nil || ok != want {
				t.Fatalf("Lease(%s) = %v, %v; want %v", holder, ok, err, want)
			}
		}
		take("a", 300*time.Millisecond, true)
		take("b", time.Minute, false)
		time.Sleep(200 * time.Millisecond)
		take("a", 300*time.Millisecond, true) // renewed: lasts past the first ttl
		time.Sleep(200 * time.Millisecond)
		take("b", time.Minute, false)
		time.Sleep(400 * time.Millisecond)
		take("b", time.Minute, true) // a's lapsed
		take("a", time.Minute, false)
	}
	t.Run("redis", func(t *testing.T) { f(t, redistest.New(t)) })
	t.Run("embedded", func(t *testing.T) {
		s, err := store.Open(config.Redis{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		f(t, s)
	})
}

// A silence whose every matcher matches the empty string (a missing label)
// matches every alert, whatever its labels: Alertmanager refuses it, and so
// does ThreatWatch. target="" is fine beside a matcher that needs a value
// (site alerts have no target).
func TestASilenceThatWouldMuteEveryAlertIsRefused(t *testing.T) {
	ctx := context.Background()
	st, c := newState(t)
	f := func(exprs []string, refused bool) {
		t.Helper()
		ms, err := alertstate.ParseMatchers(exprs)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.CreateSilence(ctx, alertstate.Silence{Matchers: ms, EndsAt: c.now().Add(time.Hour), CreatedBy: "ana"})
		switch {
		case refused && !errors.Is(err, alertstate.ErrInvalid):
			t.Errorf("CreateSilence(%q) error = %v, want ErrInvalid", exprs, err)
		case refused && !strings.Contains(err.Error(), "every alert"):
			t.Errorf("CreateSilence(%q) error = %q, want it to say the silence would mute every alert", exprs, err)
		case !refused && err != nil:
			t.Errorf("CreateSilence(%q) = %v, want it accepted", exprs, err)
		}
	}
	f([]string{`team=""`}, true)
	f([]string{`foo=~".*"`}, true)
	f([]string{`target=""`}, true)
	f([]string{`target=""`, `severity=~"|critical"`}, true)
	f([]string{`site!="forum-a"`}, true)
	f([]string{`site!~"forum-.+"`}, true)
	f([]string{`target=""`, `site="forum-a"`}, false)
	f([]string{`site=~"forum-.*"`}, false)
	f([]string{`foo=~".*"`, `alertname="ThreatSpike"`}, false)
	f([]string{`team!=""`}, false)
	f([]string{`target!~""`}, false)
}

// The offsets handled and the receivers' waits only move forward: a
// message seen again after a rebalance, or a shorter Retry-After from
// another instance, must not undo what was recorded later.
func TestHandledOffsetsAndHoldsOnlyMoveForward(t *testing.T) {
	st, c := newState(t)
	ctx := context.Background()
	for _, step := range []struct {
		partition int
		next      int64
		want      int64
	}{
		{0, 10, 10},
		{0, 7, 10}, // seen again after a rebalance
		{1, 3, 3},
		{0, 11, 11},
	} {
		if err := st.MarkHandled(ctx, step.partition, step.next); err != nil {
			t.Fatal(err)
		}
		got, err := st.Handled(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got[step.partition] != step.want {
			t.Errorf("after marking %d/%d: %v, want %d", step.partition, step.next, got, step.want)
		}
	}

	long, short := c.now().Add(time.Minute), c.now().Add(10*time.Second)
	for _, until := range []time.Time{long, short, c.now().Add(-time.Second)} {
		if err := st.Hold(ctx, "am", until); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Holds(ctx, "am", "pager")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got["am"].Equal(long) {
		t.Errorf("holds %v, want am's until %v and none for pager", got, long)
	}
}
