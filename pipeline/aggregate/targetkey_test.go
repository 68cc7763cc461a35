package aggregate

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// With aggregate.target_key set, every target label the engine writes (a
// target's alerts and levels, and the target an override names) is the
// keyed hash, which a receiver cannot test a guessed name against.
func TestTargetLabelsAreKeyedWithTheTargetKey(t *testing.T) {
	cfg := defaults()
	cfg.TargetKey = config.NewSecret("a-target-key-of-32-characters!!")
	keyed := alert.NewTargetLabeler(cfg.TargetKey.Value())
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	person := msg.Entity{Kind: msg.EntityPerson, Name: "Jane Roe", Ref: "jane roe", Target: true}
	protected := msg.Entity{Kind: msg.EntityProtected, Name: "wl-0042", Ref: "wl-0042", Target: true}
	var outs []Output
	outs = append(outs, e.Add(&msg.Scored{Schema: msg.SchemaScored,
		Post:     msg.Post{Schema: msg.SchemaPost, ID: "d", Site: "forum", Published: at(0)},
		Scores:   map[msg.Signal]float64{msg.SignalDoxxing: 0.95, msg.SignalSwatting: 0.93},
		Entities: []msg.Entity{person},
	})...)
	outs = append(outs, e.Add(&msg.Scored{Schema: msg.SchemaScored,
		Post:     msg.Post{Schema: msg.SchemaPost, ID: "w", Site: "forum", Published: at(time.Minute)},
		Scores:   map[msg.Signal]float64{msg.SignalDoxxing: 0.97},
		Entities: []msg.Entity{protected},
		Evidence: []msg.Span{{Signal: msg.SignalDoxxing, Kind: "watchlist:address", Snippet: "she lives at [ADDRESS]"}},
	})...)
	outs = append(outs, e.Advance(at(10*time.Minute))...)
	want := map[string]string{"doxxing_and_swatting": keyed.Label("jane roe"), "protected_person_exposed": keyed.Label("wl-0042")}
	got := map[string]string{}
	for _, a := range onsets(outs) {
		got[a.Labels["rule"]] = a.Labels["target"]
	}
	for rule, w := range want {
		if got[rule] != w {
			t.Errorf("%s: target %q, want the keyed %q (unkeyed: %q)", rule, got[rule], w, alert.TargetLabel(map[string]string{"doxxing_and_swatting": "jane roe", "protected_person_exposed": "wl-0042"}[rule]))
		}
	}
	for _, o := range outs {
		if o.Level != nil && o.Level.Target != "" && o.Level.Target != keyed.Label("jane roe") && o.Level.Target != keyed.Label("wl-0042") {
			t.Errorf("a level names target %q, not a keyed label", o.Level.Target)
		}
	}
}
