package aggregate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// campaignRig drives a unit stage's partition 0 through the outage
// scenarios: four days of a forum's hostile normal, an outage, and a
// backlog holding another site's posts and a campaign on the forum.
type campaignRig struct {
	t     *testing.T
	ctx   context.Context
	s     *Stage
	base  time.Time // the outage begins
	off   int64
	fired []*msg.Alert
}

func newCampaignRig(t *testing.T, s *Stage) *campaignRig {
	return &campaignRig{t: t, ctx: context.Background(), s: s, base: t0.Add(5 * day)}
}

func (r *campaignRig) collect(outs []pipeline.Output) {
	for _, o := range outs {
		if a, ok := o.Msg.(*msg.Alert); ok {
			r.fired = append(r.fired, a)
		}
	}
}

// handle applies a post published at; it entered the pipeline a second
// after.
func (r *campaignRig) handle(site string, at time.Time, score float64) {
	r.t.Helper()
	outs, err := r.s.Handle(r.ctx, threatPost(fmt.Sprint(r.off), site, at, score), pipeline.Meta{Partition: 0, Offset: r.off, Time: at.Add(time.Second)})
	if err != nil {
		r.t.Fatal(err)
	}
	r.collect(outs)
	r.off++
}

// watermark applies the classify stage's watermark, at the next offset.
func (r *campaignRig) watermark(through time.Time) {
	r.t.Helper()
	if err := r.s.Watermark(r.ctx, pipeline.Meta{Partition: 0, Offset: r.off, Time: through}, through); err != nil {
		r.t.Fatal(err)
	}
	r.off++
}

// restart checkpoints the stage, starts a new one with opts and resumes
// partition 0 where the old one stopped, before any message of it.
func (r *campaignRig) restart(opts StageOptions) {
	r.t.Helper()
	if err := r.s.Checkpoint(r.ctx, map[int]int64{0: r.off - 1}); err != nil {
		r.t.Fatal(err)
	}
	var err error
	if r.s, err = NewStage(defaults(), opts); err != nil {
		r.t.Fatal(err)
	}
	if err := r.s.Resume(r.ctx, "", 0, r.off); err != nil {
		r.t.Fatal(err)
	}
}

func (r *campaignRig) tick(now time.Time) {
	r.t.Helper()
	outs, err := r.s.Tick(r.ctx, now)
	if err != nil {
		r.t.Fatal(err)
	}
	r.collect(outs)
}

// live feeds the four days before the outage: a post every 10 minutes,
// then after is called (a watermark, a tick) two seconds after each.
func (r *campaignRig) live(after func(now time.Time)) {
	for m := time.Duration(0); m < 4*day; m += 10 * time.Minute {
		r.handle("forum", r.base.Add(-4*day+m), 0.8)
		after(r.base.Add(-4*day + m + 2*time.Second))
	}
}

// backlog feeds what waited on the topic: another site's posts, then the
// campaign, calling every20 after each twentieth with the last post's
// time.
func (r *campaignRig) backlog(every20 func(at time.Time)) {
	n := 0
	feed := func(site string, at time.Time) {
		r.handle(site, at, 0.9)
		if n++; n%20 == 0 {
			every20(at)
		}
	}
	for k := range 60 {
		feed("other", r.base.Add(time.Duration(k)*10*time.Second))
	}
	for k := range 120 {
		feed("forum", r.base.Add(10*time.Minute+time.Duration(k)*30*time.Second))
	}
}

// check says whether the campaign paged as many times as it should have:
// once, early in the campaign, with no post of the backlog late; or
// never, with the campaign's posts counted as late (history).
func (r *campaignRig) check(pages int) {
	r.t.Helper()
	var onsets []*msg.Alert
	for _, a := range r.fired {
		if a.Status == msg.StatusFiring && a.Labels["site"] == "forum" {
			onsets = append(onsets, a)
		}
	}
	if len(onsets) != pages {
		r.t.Fatalf("the campaign during the outage paged %d times, want %d", len(onsets), pages)
	}
	late := r.s.parts[0].eng.Stats().Late
	if pages == 0 {
		if late < 120 {
			r.t.Errorf("%d backlog posts counted as late, want the campaign's 120 at least", late)
		}
		return
	}
	if at := onsets[0].EventTime; at.Before(r.base.Add(10*time.Minute)) || at.After(r.base.Add(45*time.Minute)) {
		r.t.Errorf("paged at %v, want within the campaign's first 35 minutes", at.Sub(r.base))
	}
	if late != 0 {
		r.t.Errorf("%d posts of the backlog counted as late", late)
	}
}

// checkLate checks that the campaign paged once, late: when its backlog
// was read, after back, from the late judgement of an hour-long span
// holding campaign posts, with every post of the campaign counted late.
// The page may escalate as more of the campaign is read.
func (r *campaignRig) checkLate(back time.Time) {
	r.t.Helper()
	var onsets []*msg.Alert
	for _, a := range r.fired {
		if a.Status == msg.StatusFiring && a.Labels["site"] == "forum" && a.Annotations[alert.AnnotationEscalates] == "" {
			onsets = append(onsets, a)
		}
	}
	if len(onsets) != 1 {
		r.t.Fatalf("the campaign during the outage paged %d times, want once, late", len(onsets))
	}
	// The stage catching up moves its clock at the pace the backlog
	// entered, so the page's event time is the partition's clock then:
	// after the span judged, before the wall clock.
	a := onsets[0]
	span, err := time.Parse(time.RFC3339, a.Annotations["late_hour"])
	campaign := r.base.Add(10 * time.Minute)
	if err != nil || !span.Add(time.Hour).After(campaign) || !span.Before(campaign.Add(time.Hour)) ||
		a.EventTime.Before(span.Add(time.Hour)) || a.EventTime.After(back) {
		r.t.Errorf("paged at %v with annotations %v, want after an hour of the campaign's, judged late", a.EventTime.Sub(r.base), a.Annotations)
	}
	if s := a.Annotations["summary"]; strings.Contains(s, "[") {
		r.t.Errorf("summary %q: redaction took a time for personal data", s)
	}
	if late := r.s.parts[0].eng.Stats().Late; late < 120 {
		r.t.Errorf("%d backlog posts counted as late, want the campaign's 120 at least", late)
	}
}
