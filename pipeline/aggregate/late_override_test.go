package aggregate

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestOverrideRulesFireOnAPostThatArrivesLate: an override rule fires at
// once, whatever the baseline. It was applied only to live posts, so a
// protected person's address in a post read more than aggregate.grace
// after it was published (a scraper back after an outage, a thread
// reached a few rounds late, a feed that lags) never paged: the post
// only went into the site's history. A post late by less than
// aggregate.catch_up now fires the rule, with itself as the evidence; one
// older than that is history, as is a first crawl's backfill.
func TestOverrideRulesFireOnAPostThatArrivesLate(t *testing.T) {
	now := at(3 * day)
	person := msg.Entity{Kind: msg.EntityPerson, Name: "Jane Roe", Ref: "jane roe", Target: true}
	protected := msg.Entity{Kind: msg.EntityProtected, Name: "wl-0042", Ref: "wl-0042", Target: true}
	exposed := func(id string, published time.Time) *msg.Scored {
		return &msg.Scored{Schema: msg.SchemaScored,
			Post:     msg.Post{Schema: msg.SchemaPost, ID: id, Site: "forum", Published: published, Fetched: now},
			Scores:   map[msg.Signal]float64{msg.SignalDoxxing: 0.97},
			Entities: []msg.Entity{protected},
			Evidence: []msg.Span{{Signal: msg.SignalDoxxing, Kind: "watchlist:address", Snippet: "she lives at [ADDRESS]"}},
		}
	}
	doxAndSwat := func(id string, published time.Time) *msg.Scored {
		return &msg.Scored{Schema: msg.SchemaScored,
			Post:     msg.Post{Schema: msg.SchemaPost, ID: id, Site: "chan", Published: published, Fetched: now},
			Scores:   map[msg.Signal]float64{msg.SignalDoxxing: 0.95, msg.SignalSwatting: 0.93},
			Entities: []msg.Entity{person},
		}
	}
	routine := func(id, site string, published time.Time) *msg.Scored {
		return &msg.Scored{Schema: msg.SchemaScored,
			Post:   msg.Post{Schema: msg.SchemaPost, ID: id, Site: site, Published: published, Fetched: published},
			Scores: map[msg.Signal]float64{msg.SignalThreat: 0.6},
		}
	}
	cases := []struct {
		name     string
		post     *msg.Scored
		backfill bool
		rule     string // "": no override fires
	}{
		{"a protected person's address posted 45 minutes before it was read", exposed("x1", now.Add(-45*time.Minute)), false, "protected_person_exposed"},
		{"a protected person's address posted 5 hours before it was read", exposed("x2", now.Add(-5*time.Hour)), false, "protected_person_exposed"},
		{"a protected person's address posted 7 hours before it was read is history", exposed("x3", now.Add(-7*time.Hour)), false, ""},
		{"a protected person's address in a first crawl's backfill is history", exposed("x4", now.Add(-45*time.Minute)), true, ""},
		{"doxxing and swatting of one person in a post read 40 minutes late", doxAndSwat("d1", now.Add(-40*time.Minute)), false, "doxxing_and_swatting"},
		{"doxxing and swatting of one person in a post read 3 hours late", doxAndSwat("d2", now.Add(-3*time.Hour)), false, "doxxing_and_swatting"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := NewEngine(defaults())
			// Both sites and the person's key are live up to now: the
			// post arrives behind every window it could count in live.
			for i, site := range []string{"forum", "chan"} {
				e.Add(routine("r"+site, site, now.Add(-time.Duration(10+i)*time.Minute)))
			}
			e.Add(&msg.Scored{Schema: msg.SchemaScored,
				Post:     msg.Post{Schema: msg.SchemaPost, ID: "early", Site: "chan", Published: now.Add(-2 * time.Minute), Fetched: now},
				Scores:   map[msg.Signal]float64{msg.SignalThreat: 0.6},
				Entities: []msg.Entity{person},
			})
			e.Advance(now)
			c.post.Post.Backfill = c.backfill
			late := e.Stats().Late
			outs := e.Add(c.post)
			var fired []*msg.Alert
			for _, a := range onsets(outs) {
				if a.Labels["alertname"] == "ThreatOverride" {
					fired = append(fired, a)
				}
			}
			if !c.backfill && e.Stats().Late <= late {
				t.Fatalf("the post was not late (late %d -> %d): the test does not test lateness", late, e.Stats().Late)
			}
			if c.rule == "" {
				if len(fired) != 0 {
					t.Errorf("fired %v, want none", labelsOf(fired))
				}
				return
			}
			if len(fired) != 1 || fired[0].Labels["rule"] != c.rule || fired[0].Labels["severity"] != "critical" {
				t.Fatalf("fired %v, want one %s", labelsOf(fired), c.rule)
			}
			a := fired[0]
			if !a.EventTime.Equal(now) || !a.StartsAt.Equal(now) {
				t.Errorf("fired at %v (starts %v), want when it was read, %v", a.EventTime, a.StartsAt, now)
			}
			if len(a.Evidence) == 0 || a.Evidence[0].PostID != c.post.Post.ID {
				t.Errorf("evidence %+v, want the late post first", a.Evidence)
			}
			if a.Annotations["late_by"] == "" {
				t.Errorf("annotations %v, want how late the post was read", a.Annotations)
			}
			// The same match again does not page twice.
			again := *c.post
			again.Post.ID += "-again"
			for _, b := range onsets(e.Add(&again)) {
				if b.Labels["alertname"] == "ThreatOverride" {
					t.Errorf("a second late match paged again: %v", b.Labels)
				}
			}
		})
	}
}
