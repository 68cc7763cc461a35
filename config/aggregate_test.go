package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each testdata/aggregate/conf.<case>.yml is paired with the error it must
// produce ("" for a file that must load).
func TestAggregateConfigCases(t *testing.T) {
	cases := map[string]string{
		"good":                    "",
		"window-not-multiple":     "aggregate.step: is out of range: 7m0s must divide one hour",
		"no-hysteresis":           "aggregate.spike.resolve_score: is out of range: 5, want 0 <= resolve_score < fire_score (hysteresis)",
		"override-unknown-signal": "aggregate.overrides[0].scores.harassment: is not one of the allowed values",
		"override-bad-severity":   `aggregate.overrides[0].severity: is not one of the allowed values: "page-everyone", want info, warning, critical`,
		"override-empty":          "aggregate.overrides[0]: is required: a rule needs scores or evidence_kind_prefix",
		"bad-min-score":           "aggregate.min_score: is out of range: 1.5, want 0..1",
	}
	files, _ := filepath.Glob("testdata/aggregate/conf.*.yml")
	if len(files) != len(cases) {
		t.Fatalf("%d case files but %d expectations: keep them paired", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", "aggregate", "conf."+name+".yml"))
			switch {
			case want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case want != "" && err == nil:
				t.Fatalf("loaded, want error containing %q", want)
			case want != "" && !strings.Contains(err.Error(), want):
				t.Fatalf("error %q\ndoes not contain %q", err, want)
			}
		})
	}
}

func TestAggregateDefaults(t *testing.T) {
	c := Default().Aggregate
	if c.Step != 5*time.Minute || c.Window != time.Hour || !c.Targets.On() {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.Overrides) != 2 || c.Overrides[1].EvidenceKindPrefix != "watchlist:" {
		t.Errorf("default overrides: %+v", c.Overrides)
	}
	if c.Spike.ResolveScore >= c.Spike.FireScore {
		t.Error("defaults lack hysteresis")
	}
	// An explicitly empty list turns the overrides off.
	cfg, err := Parse([]byte("aggregate:\n  overrides: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Aggregate.Overrides) != 0 {
		t.Errorf("overrides: [] kept %d rules", len(cfg.Aggregate.Overrides))
	}
}

// Catching up can be turned off, as aggregate.catch_up documents: 0 is
// "unset" (the default), so a negative duration is what says "off", and
// filling the defaults again keeps it off.
func TestAggregateCatchUpCanBeTurnedOff(t *testing.T) {
	f := func(yml string, want time.Duration) {
		t.Helper()
		c, err := Parse([]byte(yml))
		if err != nil {
			t.Fatalf("%q: %v", yml, err)
		}
		c.SetDefaults()
		if got := c.Aggregate.CatchUp; got != want {
			t.Errorf("%q: catch_up %v, want %v", yml, got, want)
		}
	}
	f("aggregate:\n  catch_up: -1s\n", -time.Second)
	f("aggregate:\n  catch_up: -1h\n", -time.Hour)
	f("aggregate:\n  catch_up: 2h\n", 2*time.Hour)
	f("aggregate: {}\n", 6*time.Hour)
}
