package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Aggregate configures the aggregate stage (pipeline/aggregate): how scored
// posts become rolling threat levels per site and per target, and when a
// level pages. docs/levels-and-alerts.md explains every choice.
type Aggregate struct {
	// Step is the width of one event-time bucket and the hop of the sliding
	// level window: levels move and are emitted once per step.
	Step time.Duration `yaml:"step"`
	// Window is the length of the sliding window a level sums over.
	Window time.Duration `yaml:"window"`
	// Grace is how late (behind the key's event-time watermark) a post may
	// arrive and still count toward the live level. Later posts count
	// toward the baseline only and never page.
	Grace time.Duration `yaml:"grace"`
	// MaxFuture clamps posts stamped further than this ahead of the later
	// of the engine's clock and when the scraper read the post (a site
	// with a wrong clock must not jump time).
	MaxFuture time.Duration `yaml:"max_future"`
	// MinScore is the lowest signal score that counts as a threatening
	// post; a post's weight is its highest score at or above it.
	MinScore float64 `yaml:"min_score"`
	// TickEvery is how often the live stage advances windows on the wall
	// clock, so a silent site decays and its alerts resolve.
	TickEvery time.Duration `yaml:"tick_every"`
	// CatchUp is how far back a backlog is still worked through as live:
	// when the stage reads posts that entered the pipeline long ago (it, a
	// stage upstream or Kafka was down), windows move at the pace the
	// posts entered, so a campaign that ran meanwhile pages, with its own
	// time. Posts that entered longer ago than this count toward the
	// baseline only, as history: a new deployment reading a topic's
	// months of history, or a stage back after days away, does not page
	// for campaigns long over. Negative (-1s): off, the wall clock always
	// (every backlog post older than grace is late); 0 is unset, the
	// default.
	CatchUp time.Duration `yaml:"catch_up"`
	// Evidence is how many top contributing posts an alert and a level carry.
	Evidence int `yaml:"evidence"`
	// TargetKey keys the hash of the "target" label (HMAC-SHA256), which
	// every receiver and console user sees: unkeyed, anyone holding a
	// label can test a guessed name against it. Give it from a Secret, the
	// same for the aggregate stage and the watchlist command; at least 16
	// characters. Changing it starts every target's level afresh. Empty:
	// unkeyed, as before.
	TargetKey Secret `yaml:"target_key"`
	// MaxKeys caps the keys (sites plus targets) one engine tracks; beyond
	// it new targets are not tracked and counted as dropped.
	MaxKeys int `yaml:"max_keys"`
	// Rebuild restores a partition's state from the topic when Redis has
	// no checkpoint of it while the topic holds messages before the
	// stage's position: Redis lost its data, failed over to a replica that
	// had not caught up, or was restored from an older backup without it.
	// The stage then reads what the partition received in the
	// baseline.days plus window plus grace before that position, emitting
	// nothing, and goes on; a checkpoint behind that position is caught up
	// from the topic the same way. On unless set to false. Off, such a
	// partition starts from nothing: its sites learn again for
	// baseline.learning, paging on no spike meanwhile, and the alerts that
	// were firing never resolve.
	Rebuild *bool `yaml:"rebuild"`

	Baseline  AggregateBaseline `yaml:"baseline"`
	Spike     AggregateSpike    `yaml:"spike"`
	Targets   AggregateTargets  `yaml:"targets"`
	Overrides []OverrideRule    `yaml:"overrides"`
}

// AggregateBaseline configures what "normal" is for a key.
type AggregateBaseline struct {
	// Days of hourly history kept per key. The baseline for an hour is the
	// median of the same hours of the day over these days, so daily and
	// weekly rhythm and slow growth are followed and a hostile normal is
	// normal.
	Days int `yaml:"days"`
	// Learning is how much history a key needs before it can page on a
	// spike (override rules fire regardless).
	Learning time.Duration `yaml:"learning"`
	// MinScale floors the robust scale (in level units) so that a key with
	// a flat history does not page on noise.
	MinScale float64 `yaml:"min_scale"`
	// LearnSpikes lets hours in which the key's spike condition held count
	// toward its spread. Off by default: an incident is not normal, and a
	// day of bursts must not keep the next wave of a campaign from paging.
	LearnSpikes bool `yaml:"learn_spikes"`
}

// AggregateSpike configures spike detection and the alert lifecycle.
type AggregateSpike struct {
	// FireScore is the robust z-score (level minus baseline, in units of
	// the key's own robust scale) at which a spike starts pending.
	FireScore float64 `yaml:"fire_score"`
	// FireRatio requires the level to be at least this multiple of the
	// baseline as well: on a busy site a statistically clear but small
	// relative rise is not worth a page.
	FireRatio float64 `yaml:"fire_ratio"`
	// MinExcess is the least the level must stand above the baseline, in
	// post-equivalents, so that two posts on a quiet site do not page.
	MinExcess float64 `yaml:"min_excess"`
	// DailyPeakRatio requires the level to exceed this multiple of the
	// key's typical daily peak (the median over baseline.days of each
	// day's busiest hour): a level the key reaches on a typical day is not
	// a spike, whatever the hour. 0 turns the check off.
	DailyPeakRatio *float64 `yaml:"daily_peak_ratio"`
	// ResolveScore is the z-score below which a firing alert may resolve
	// (hysteresis: lower than FireScore so alerts do not flap).
	ResolveScore float64 `yaml:"resolve_score"`
	// Pending is how long the fire condition must hold before it pages
	// (0s: at once).
	Pending *time.Duration `yaml:"pending"`
	// ResolveAfter is how long the level must stay below ResolveScore
	// before the alert resolves.
	ResolveAfter time.Duration `yaml:"resolve_after"`
	// Cooldown is how long after a resolution the same alert cannot fire
	// again: one page per episode.
	Cooldown time.Duration `yaml:"cooldown"`
	// RepeatInterval re-notifies a still-firing alert this often (0, the
	// default: never here, as the notify stage re-sends firing alerts).
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	// SevereScore marks a spike severe (severity critical) instead of high.
	SevereScore float64 `yaml:"severe_score"`
	// ElevatedScore names a level "elevated" (shown, never paged).
	ElevatedScore float64 `yaml:"elevated_score"`
}

// PendingOr0 is Pending, or 0 when unset.
func (s AggregateSpike) PendingOr0() time.Duration {
	if s.Pending == nil {
		return 0
	}
	return *s.Pending
}

// DailyPeakRatioOr0 is DailyPeakRatio, or 0 (off) when unset.
func (s AggregateSpike) DailyPeakRatioOr0() float64 {
	if s.DailyPeakRatio == nil {
		return 0
	}
	return *s.DailyPeakRatio
}

// AggregateTargets configures per-target levels (a person or handle across sites).
type AggregateTargets struct {
	// Enabled turns per-target levels and alerts on.
	Enabled *bool `yaml:"enabled"`
	// FireScore replaces spike.fire_score for targets: a target's normal
	// is usually nothing at all, so its scale is the floor and its score
	// counts post-equivalents.
	FireScore float64 `yaml:"fire_score"`
	// MinExcess replaces spike.min_excess for targets.
	MinExcess float64 `yaml:"min_excess"`
	// Pending replaces spike.pending for targets. A person named in
	// several threatening posts within the hour is already specific
	// enough: by default target spikes page at once.
	Pending *time.Duration `yaml:"pending"`
	// IdleTTL forgets a target with no posts for this long (and no alert
	// firing).
	IdleTTL time.Duration `yaml:"idle_ttl"`
}

// RebuildOn reports whether lost partition states are rebuilt (the default).
func (c Aggregate) RebuildOn() bool { return c.Rebuild == nil || *c.Rebuild }

// RebuildSpan is how far back a rebuild reads: the hourly history a
// baseline uses, the window the level sums over, and the grace for late
// posts.
func (c Aggregate) RebuildSpan() time.Duration {
	return time.Duration(c.Baseline.Days)*24*time.Hour + c.Window + c.Grace
}

// On reports whether per-target levels are enabled.
func (t AggregateTargets) On() bool { return t.Enabled == nil || *t.Enabled }

// OverrideRule fires an alert at once, regardless of baseline, when a post
// (or, with SameTarget, a target's current window) matches.
type OverrideRule struct {
	// Name becomes the alert's "rule" label.
	Name string `yaml:"name"`
	// Scores: every listed signal must reach its score.
	Scores map[string]float64 `yaml:"scores"`
	// SameTarget requires the scores to be about one target: one post
	// naming a target, or posts about the same target within the window
	// across sites.
	SameTarget bool `yaml:"same_target"`
	// EvidenceKindPrefix matches a post with an evidence span whose kind
	// starts with it ("watchlist:").
	EvidenceKindPrefix string `yaml:"evidence_kind_prefix"`
	// ExceptKinds are evidence kinds that do not count for the prefix
	// match ("watchlist:name": a protected person merely named).
	ExceptKinds []string `yaml:"except_kinds"`
	// Severity of the alert: info, warning or critical.
	Severity string `yaml:"severity"`
}

// AlertSeverities lists the alert severities, lowest first.
var AlertSeverities = []string{"info", "warning", "critical"}

// DefaultOverrideRules are the override rules used when none are configured.
func DefaultOverrideRules() []OverrideRule {
	return []OverrideRule{
		{Name: "doxxing_and_swatting", Scores: map[string]float64{"doxxing": 0.9, "swatting": 0.9}, SameTarget: true, Severity: "critical"},
		{Name: "protected_person_exposed", EvidenceKindPrefix: "watchlist:", ExceptKinds: []string{"watchlist:name", "watchlist:handle"}, Severity: "critical"},
	}
}

// Defaults that range errors name, as 0 in the file means them.
const (
	defaultGrace     = 30 * time.Minute
	defaultTickEvery = 15 * time.Second
)

func (c *Aggregate) setDefaults() {
	setDefault(&c.Step, 5*time.Minute)
	setDefault(&c.Window, time.Hour)
	setDefault(&c.Grace, defaultGrace)
	setDefault(&c.MaxFuture, 10*time.Minute)
	setDefault(&c.MinScore, 0.5)
	setDefault(&c.TickEvery, defaultTickEvery)
	setDefault(&c.CatchUp, 6*time.Hour)
	setDefault(&c.Evidence, 5)
	setDefault(&c.MaxKeys, 200000)
	b := &c.Baseline
	setDefault(&b.Days, 7)
	setDefault(&b.Learning, 24*time.Hour)
	setDefault(&b.MinScale, 1)
	s := &c.Spike
	setDefault(&s.FireScore, 6)
	setDefault(&s.FireRatio, 2)
	setDefault(&s.MinExcess, 5)
	if s.DailyPeakRatio == nil {
		one := 1.0
		s.DailyPeakRatio = &one
	}
	if s.Pending == nil {
		// A spike must hold for three steps: one burst within a single
		// step is not yet a campaign.
		d := 15 * time.Minute
		s.Pending = &d
	}
	setDefault(&s.ResolveScore, 3)
	setDefault(&s.ResolveAfter, time.Hour)
	setDefault(&s.Cooldown, 24*time.Hour)
	// Re-sending a firing alert is the notify stage's job (notify.repeat_interval);
	// a notification repeated here would carry the same dedup id anyway.
	setDefault(&s.SevereScore, 12)
	setDefault(&s.ElevatedScore, 3)
	t := &c.Targets
	setDefault(&t.FireScore, 3)
	setDefault(&t.MinExcess, 3)
	setDefault(&t.IdleTTL, 14*24*time.Hour)
	if t.Pending == nil {
		var zero time.Duration
		t.Pending = &zero
	}
	if c.Overrides == nil {
		c.Overrides = DefaultOverrideRules()
	}
}

func (c *Aggregate) validate(path string) error {
	var p Problems
	f := func(name string) string { return path + "." + name }
	if c.Step < time.Second || c.Step > 24*time.Hour {
		p.Addf(f("step"), ErrOutOfRange, "%v, want 1s..24h", c.Step)
	}
	if c.Step > 0 && (c.Window < c.Step || c.Window%c.Step != 0 || c.Window/c.Step > 1440) {
		p.Addf(f("window"), ErrOutOfRange, "%v, want a multiple of step (%v), at most 1440 steps", c.Window, c.Step)
	}
	if c.Step > 0 && time.Hour%c.Step != 0 {
		p.Addf(f("step"), ErrOutOfRange, "%v must divide one hour (baselines are hourly)", c.Step)
	}
	// Here and for tick_every, 0 in a file is unset and takes the default:
	// the reason must not offer 0 as "no grace" or "never".
	if c.Grace < 0 || c.Grace > 7*24*time.Hour {
		p.Addf(f("grace"), ErrOutOfRange, "%v, want > 0 and <= 168h (0: the default, %v)", c.Grace, defaultGrace)
	}
	if c.MaxFuture < 0 {
		p.Addf(f("max_future"), ErrOutOfRange, "%v, want >= 0", c.MaxFuture)
	}
	if !(c.MinScore >= 0 && c.MinScore <= 1) {
		p.Addf(f("min_score"), ErrOutOfRange, "%v, want 0..1", c.MinScore)
	}
	if c.TickEvery < 0 {
		p.Addf(f("tick_every"), ErrOutOfRange, "%v, want > 0 (0: the default, %v)", c.TickEvery, defaultTickEvery)
	}
	if k := c.TargetKey.Value(); k != "" && len(k) < 16 {
		p.Add(f("target_key"), ErrOutOfRange, "shorter than 16 characters: a key that short can be guessed")
	}
	if c.Evidence < 0 || c.Evidence > 50 {
		p.Addf(f("evidence"), ErrOutOfRange, "%d, want 0..50", c.Evidence)
	}
	if c.MaxKeys < 1 {
		p.Addf(f("max_keys"), ErrOutOfRange, "%d, want >= 1", c.MaxKeys)
	}
	b := c.Baseline
	if b.Days < 1 || b.Days > 56 {
		p.Addf(f("baseline.days"), ErrOutOfRange, "%d, want 1..56", b.Days)
	}
	if b.Learning < 0 || b.Learning > time.Duration(b.Days)*24*time.Hour {
		p.Addf(f("baseline.learning"), ErrOutOfRange, "%v, want 0..baseline.days", b.Learning)
	}
	if !(b.MinScale > 0) {
		p.Addf(f("baseline.min_scale"), ErrOutOfRange, "%v, want > 0", b.MinScale)
	}
	s := c.Spike
	if !(s.FireScore > 0) {
		p.Addf(f("spike.fire_score"), ErrOutOfRange, "%v, want > 0", s.FireScore)
	}
	if !(s.ResolveScore >= 0 && s.ResolveScore < s.FireScore) {
		p.Addf(f("spike.resolve_score"), ErrOutOfRange, "%v, want 0 <= resolve_score < fire_score (hysteresis)", s.ResolveScore)
	}
	if !(s.ElevatedScore > 0 && s.ElevatedScore <= s.FireScore) {
		p.Addf(f("spike.elevated_score"), ErrOutOfRange, "%v, want 0 < elevated_score <= fire_score", s.ElevatedScore)
	}
	if !(s.SevereScore >= s.FireScore) {
		p.Addf(f("spike.severe_score"), ErrOutOfRange, "%v, want >= fire_score", s.SevereScore)
	}
	if !(s.FireRatio >= 1) {
		p.Addf(f("spike.fire_ratio"), ErrOutOfRange, "%v, want >= 1", s.FireRatio)
	}
	if r := s.DailyPeakRatio; r != nil && !(*r >= 0 && *r <= 100) {
		p.Addf(f("spike.daily_peak_ratio"), ErrOutOfRange, "%v, want 0..100 (0: off)", *r)
	}
	if !(s.MinExcess >= 0) {
		p.Addf(f("spike.min_excess"), ErrOutOfRange, "%v, want >= 0", s.MinExcess)
	}
	for name, d := range map[string]time.Duration{"pending": s.PendingOr0(), "resolve_after": s.ResolveAfter, "cooldown": s.Cooldown, "repeat_interval": s.RepeatInterval} {
		if d < 0 {
			p.Addf(f("spike."+name), ErrOutOfRange, "%v, want >= 0", d)
		}
	}
	if c.Targets.Pending != nil && *c.Targets.Pending < 0 {
		p.Addf(f("targets.pending"), ErrOutOfRange, "%v, want >= 0", *c.Targets.Pending)
	}
	if !(c.Targets.FireScore > 0) {
		p.Addf(f("targets.fire_score"), ErrOutOfRange, "%v, want > 0", c.Targets.FireScore)
	}
	if !(c.Targets.MinExcess >= 0) {
		p.Addf(f("targets.min_excess"), ErrOutOfRange, "%v, want >= 0", c.Targets.MinExcess)
	}
	if c.Targets.IdleTTL < c.Window {
		p.Addf(f("targets.idle_ttl"), ErrOutOfRange, "%v, want >= window", c.Targets.IdleTTL)
	}
	names := map[string]bool{}
	for i, r := range c.Overrides {
		rp := fmt.Sprintf("%s.overrides[%d]", path, i)
		if r.Name == "" {
			p.Add(rp+".name", ErrRequired, "")
		} else if names[r.Name] {
			p.Addf(rp+".name", ErrInvalidEnum, "%q is used twice", r.Name)
		}
		names[r.Name] = true
		if len(r.Scores) == 0 && r.EvidenceKindPrefix == "" {
			p.Add(rp, ErrRequired, "a rule needs scores or evidence_kind_prefix")
		}
		for sig, v := range r.Scores {
			if !aggKnownSignal(sig) {
				p.Addf(rp+".scores."+sig, ErrInvalidEnum, "want a known signal (%v)", msg.Signals)
			}
			if !(v > 0 && v <= 1) {
				p.Addf(rp+".scores."+sig, ErrOutOfRange, "%v, want (0,1]", v)
			}
		}
		if len(r.ExceptKinds) > 0 && r.EvidenceKindPrefix == "" {
			p.Add(rp+".except_kinds", ErrRequired, "except_kinds needs evidence_kind_prefix")
		}
		if !aggValidSeverity(r.Severity) {
			p.Addf(rp+".severity", ErrInvalidEnum, "%q, want %s", r.Severity, strings.Join(AlertSeverities, ", "))
		}
	}
	return p.Err()
}

func aggKnownSignal(s string) bool {
	for _, v := range msg.Signals {
		if string(v) == s {
			return true
		}
	}
	return false
}

func aggValidSeverity(s string) bool {
	for _, v := range AlertSeverities {
		if s == v {
			return true
		}
	}
	return false
}
