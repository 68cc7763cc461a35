// Package aggregate turns scored posts into threat levels and alerts.
//
// Engine is the deterministic core shared by the live aggregate stage and
// by replay: no I/O, no wall clock, no goroutines; the same posts and the
// same Advance calls always give the same levels and alerts in the same
// order. Stage wraps an Engine per Kafka partition for the pipeline runner
// and checkpoints its state to Redis together with the partition offset.
//
// docs/levels-and-alerts.md describes the windowing, the detector, the
// named levels and the alert lifecycle.
package aggregate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/level"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/spike"
	"github.com/threatwatch/threatwatch/pipeline/window"
)

// Output is one thing the engine emits: exactly one of Level and Alert is set.
type Output struct {
	Level *msg.Level
	Alert *msg.Alert
}

// Stats counts what the engine did with its input, for metrics.
type Stats struct {
	Posts       int64 // posts added
	Threatening int64 // posts with a weight (a score at or above min_score)
	Late        int64 // later than grace: history only
	Backfill    int64 // backfill: history only
	Future      int64 // stamped too far ahead: clamped
	NoTime      int64 // no event time and no clock: dropped
	Invalid     int64 // nil or invalid: dropped
	KeysDropped int64 // new keys refused at max_keys
	Evicted     int64 // idle targets forgotten
}

// Key kinds.
const (
	kindSite   = "site"
	kindTarget = "target"
)

// keyState is one key's state; its JSON is the key's checkpoint.
type keyState struct {
	Kind   string                      `json:"kind"`
	Site   string                      `json:"site,omitempty"`
	Target string                      `json:"target,omitempty"`
	L      *level.State                `json:"level"`
	Spike  alert.Lifecycle             `json:"spike"`
	Over   map[string]*alert.Lifecycle `json:"over,omitempty"`

	name    string // keyName, kept to avoid building it per post
	ref     string // a target's ref (the byRef index), "" for a site
	changed bool   // in Engine.changed: its checkpoint is stale
	// lateBy is set only on the copy of a key an alert is notified with
	// when the post behind it was read late: how late; lateHour, for a
	// spike judged late, the hour judged.
	lateBy   time.Duration
	lateHour time.Time

	// LateFrom and LateTo are the ends of the first and last hour-long
	// spans holding posts read late that had not ended by the key's
	// clock when they were read (the hour in progress, or the next): each
	// is judged when the clock reaches its end (zero: none).
	LateFrom time.Time `json:"late_from,omitzero"`
	LateTo   time.Time `json:"late_to,omitzero"`
	// LateIn is what checkpoints of earlier versions kept instead: 1 +
	// the hour in progress whose spans wait (0: none). Read, never written.
	LateIn int64 `json:"late_in,omitempty"`
}

// Engine computes levels and alerts. It is not safe for concurrent use.
type Engine struct {
	cfg  config.Aggregate
	step time.Duration
	n    int
	// sub is the width of the slots late posts are judged in (every
	// hour-long span starting on one), subN how many make an hour, and
	// recentN how many a key keeps while it reads late posts.
	sub       time.Duration
	subN      int64
	recentN   int
	factor    float64
	peakRatio float64
	siteDet   spike.Detector
	tgtDet    spike.Detector
	names     level.Thresholds
	labels    alert.TargetLabeler
	policy    alert.Policy
	tgtPolicy alert.Policy // policy with targets.pending
	sites     bool
	targets   bool
	replay    bool
	keys      map[string]*keyState
	bySite    map[string]*keyState
	byTarget  map[string]*keyState
	// byRef finds a target key by its ref, so a post's targets cost a
	// map lookup rather than a hash and three strings each.
	byRef map[string]*keyState
	// sorted holds the keys in name order for Advance; keys created since
	// it was built wait in fresh and are merged in at the next Advance, so
	// a new target costs a sort of the new keys only, not of all of them.
	sorted []*keyState
	fresh  []*keyState
	// changed lists the keys whose checkpoint is stale (each flagged by
	// keyState.changed, so a post costs a flag test, not a map write);
	// gone names keys evicted since the last ClearDirty.
	changed []*keyState
	gone    []string
	clock   time.Time
	// rolled is the time the last Advance that crossed a step moved the
	// keys to. Keys that were quiet are not saved for such a move: a
	// restore moves them there again (RestoreKeys). rolledMoved says it
	// changed since the last ClearDirty.
	rolled      time.Time
	rolledMoved bool
	nextDue     int64
	stats       Stats
	outs        []Output
}

// NewEngine returns an engine for cfg (defaults filled in and validated
// by the config package).
func NewEngine(cfg config.Aggregate) (*Engine, error) {
	if cfg.Step <= 0 || cfg.Window < cfg.Step || cfg.Baseline.Days < 1 {
		return nil, errors.New("aggregate config is not filled in (step, window, baseline.days)")
	}
	if len(msg.Signals) > window.NumSignals {
		return nil, fmt.Errorf("%d signals exceed the %d slots of a window bucket", len(msg.Signals), window.NumSignals)
	}
	e := &Engine{
		cfg:       cfg,
		step:      cfg.Step,
		n:         int(cfg.Window / cfg.Step),
		factor:    float64(cfg.Window) / float64(time.Hour),
		peakRatio: cfg.Spike.DailyPeakRatioOr0(),
		siteDet:   spike.NewSeasonal(cfg.Baseline.Days, int64(cfg.Baseline.Learning/time.Hour), cfg.Baseline.MinScale),
		tgtDet:    spike.NewSeasonal(cfg.Baseline.Days, 0, cfg.Baseline.MinScale),
		names:     level.Thresholds{Elevated: cfg.Spike.ElevatedScore, High: cfg.Spike.FireScore, Severe: cfg.Spike.SevereScore},
		policy: alert.Policy{Pending: cfg.Spike.PendingOr0(), ResolveAfter: cfg.Spike.ResolveAfter,
			Cooldown: cfg.Spike.Cooldown, RepeatInterval: cfg.Spike.RepeatInterval},
		sites:   true,
		targets: cfg.Targets.On(),
		nextDue: math.MinInt64,
	}
	e.sub = max(cfg.Step, lateSlot)
	e.subN = int64(time.Hour / e.sub)
	e.recentN = int((max(cfg.CatchUp, cfg.Window) + 2*time.Hour) / e.sub)
	e.labels = alert.NewTargetLabeler(cfg.TargetKey.Value())
	e.tgtPolicy = e.policy
	if p := cfg.Targets.Pending; p != nil {
		e.tgtPolicy.Pending = *p
	}
	e.setKeys(map[string]*keyState{})
	return e, nil
}

// SetScope chooses which levels the engine keeps: per site, per target, or
// both (the default). The live stage runs sites and targets as two stages
// because a target's posts arrive on every partition.
func (e *Engine) SetScope(sites, targets bool) {
	e.sites, e.targets = sites, targets && e.cfg.Targets.On()
}

// SetReplay marks every alert the engine emits as a replay, which notifiers
// never page on.
func (e *Engine) SetReplay(on bool) { e.replay = on }

// Stats returns the counters so far.
func (e *Engine) Stats() Stats { return e.stats }

// Clock is the latest time passed to Advance.
func (e *Engine) Clock() time.Time { return e.clock }

// Keys is how many sites and targets the engine tracks.
func (e *Engine) Keys() (sites, targets int) {
	for _, k := range e.keys {
		if k.Kind == kindSite {
			sites++
		} else {
			targets++
		}
	}
	return sites, targets
}

func (e *Engine) bucket(t time.Time) int64 { return floorDiv(t.UnixNano(), int64(e.step)) }
func (e *Engine) bucketTime(b int64) time.Time {
	return time.Unix(0, b*int64(e.step)).UTC()
}
func hourOf(t time.Time) int64 { return floorDiv(t.UnixNano(), int64(time.Hour)) }

// lateSlot is the finest offset at which late posts' hour-long spans
// start: a campaign split by a clock hour is judged whole to within it.
const lateSlot = 15 * time.Minute

func (e *Engine) slotOf(t time.Time) int64 { return floorDiv(t.UnixNano(), int64(e.sub)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// weigh returns a post's weight and per-signal weights: scores at or above
// min_score count; the weight is the highest of them.
func (e *Engine) weigh(s *msg.Scored) (float64, window.Bucket) {
	var b window.Bucket
	w := 0.0
	if len(s.Scores) == 0 {
		return 0, b
	}
	// A bucket's slot i holds signal msg.Signals[i].
	for i, sig := range msg.Signals {
		v := s.Scores[sig]
		if v >= e.cfg.MinScore && v > 0 {
			b.Signals[i] = v
			w = max(w, v)
		}
	}
	return w, b
}

// Add counts one scored post at its event time and returns the outputs it
// caused: levels of steps its key passed, and alerts it fired. A nil or
// invalid post is counted and ignored.
func (e *Engine) Add(s *msg.Scored) []Output {
	e.outs = e.outs[:0]
	if s == nil || s.Validate() != nil {
		e.stats.Invalid++
		return nil
	}
	t := s.Post.EventTime().UTC()
	if t.IsZero() {
		if e.clock.IsZero() {
			e.stats.NoTime++
			return nil
		}
		t = e.clock
	}
	// A post is clamped to max_future after the later of the clock and
	// when the scraper read it. The clock alone is no bound: it is zero
	// until the first Advance, and a stage catching up reads hours of
	// posts between two ticks, which were all squashed into the ten
	// minutes after the last one. The fetch time the live stage hands in
	// is no later than its wall clock (Stage.bounded): a scraper's clock
	// may run fast.
	ref := e.clock
	if f := s.Post.Fetched.UTC(); f.After(ref) {
		ref = f
	}
	if !ref.IsZero() && t.Sub(ref) > e.cfg.MaxFuture {
		e.stats.Future++
		t = ref.Add(e.cfg.MaxFuture)
	}
	e.stats.Posts++
	w, sigs := e.weigh(s)
	if w > 0 {
		e.stats.Threatening++
	}
	if s.Post.Backfill {
		e.stats.Backfill++
	}
	if e.sites && s.Post.Site != "" {
		if k := e.key(kindSite, s.Post.Site, ""); k != nil {
			e.addTo(k, s, t, w, sigs)
		}
	}
	if e.targets && w > 0 {
		var buf [4]string
		for _, ref := range appendTargetRefs(buf[:0], s) {
			if k := e.targetKey(ref); k != nil {
				e.addTo(k, s, t, w, sigs)
			}
		}
	}
	return e.result()
}

// targetKey returns the key of the target with ref, creating it (nil when
// max_keys is reached).
func (e *Engine) targetKey(ref string) *keyState {
	if k, ok := e.byRef[ref]; ok {
		return k
	}
	k := e.key(kindTarget, "", e.labels.Label(ref))
	if k != nil && k.ref == "" {
		// Cloned: ref may point into a decoder's buffer.
		k.ref = strings.Clone(ref)
		e.byRef[k.ref] = k
	}
	return k
}

func (e *Engine) result() []Output {
	if len(e.outs) == 0 {
		return nil
	}
	return slices.Clone(e.outs)
}

// targetRefs returns the distinct refs of the post's targets, sorted.
func targetRefs(s *msg.Scored) []string { return appendTargetRefs(nil, s) }

// appendTargetRefs appends the distinct refs of the post's targets to refs
// (empty), sorted.
func appendTargetRefs(refs []string, s *msg.Scored) []string {
	for _, en := range s.Entities {
		if !en.Target {
			continue
		}
		ref := en.Ref
		if ref == "" {
			ref = msg.TargetRef(en.Name)
		}
		if ref != "" && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	if len(refs) > 1 {
		sort.Strings(refs)
	}
	return refs
}

func keyName(kind, site, target string) string {
	if kind == kindSite {
		return "s:" + site
	}
	return "t:" + target
}

// setKeys installs a key set and its lookup indexes.
func (e *Engine) setKeys(m map[string]*keyState) {
	e.keys = m
	e.bySite, e.byTarget, e.byRef = map[string]*keyState{}, map[string]*keyState{}, map[string]*keyState{}
	e.sorted, e.fresh, e.changed, e.gone = nil, nil, nil, nil
	for name, k := range m {
		k.name = name
		// Checkpoints from before escalations were notified may hold a
		// rank raised silently during a firing episode: take the rank the
		// episode was notified with, so that it can still escalate.
		if l := &k.Spike; l.Phase == alert.Firing && l.Labels != nil {
			l.Rank = alert.SeverityRank(l.Labels["severity"])
		}
		if k.Kind == kindSite {
			e.bySite[k.Site] = k
		} else {
			// A restored target's ref is not checkpointed: its first post
			// finds it by label and fills the ref index in.
			e.byTarget[k.Target] = k
		}
		e.fresh = append(e.fresh, k)
	}
	e.nextDue = math.MinInt64
}

// touch marks key k's checkpoint stale.
func (e *Engine) touch(k *keyState) {
	if !k.changed {
		k.changed = true
		e.changed = append(e.changed, k)
	}
}

// key returns the key's state, creating it (nil when max_keys is reached).
func (e *Engine) key(kind, site, target string) *keyState {
	idx, id := e.bySite, site
	if kind == kindTarget {
		idx, id = e.byTarget, target
	}
	if k, ok := idx[id]; ok {
		return k
	}
	if len(e.keys) >= e.cfg.MaxKeys {
		e.stats.KeysDropped++
		return nil
	}
	// Kept for the key's life: copied, as in contributor.
	site, target = strings.Clone(site), strings.Clone(target)
	name := keyName(kind, site, target)
	k := &keyState{Kind: kind, Site: site, Target: target, name: name,
		L: level.NewState(e.n, e.cfg.Baseline.Days*24)}
	e.keys[name] = k
	if kind == kindTarget {
		idx[target] = k
	} else {
		idx[site] = k
	}
	e.fresh = append(e.fresh, k)
	e.touch(k)
	return k
}

func (e *Engine) addTo(k *keyState, s *msg.Scored, t time.Time, w float64, sigs window.Bucket) {
	st := k.L
	// A second copy of a counted post is an edit, flagged or not: a
	// scraper that does not set the flag, or read the post again after
	// it lost its crawl state, sent it with new content (a copy with the
	// same content adds nothing). Posts that weigh nothing are not
	// looked up: only a threatening copy could count twice.
	if w > 0 || s.Post.Edited {
		if prev, ok := st.CountedOf(level.PostKey(s.Post.ID)); ok {
			e.editOf(k, s, prev, w, sigs)
			return
		}
	}
	e.touch(k)
	if !st.Win.Started() {
		st.Watermark = t
		st.Win.Advance(e.bucket(t))
		st.Hist.Advance(hourOf(t))
	} else if t.After(st.Watermark) {
		e.roll(k, t)
	}
	live := !s.Post.Backfill && !t.Before(st.Watermark.Add(-e.cfg.Grace))
	if !live && !s.Post.Backfill {
		e.stats.Late++
	}
	// Every post extends how far back the history reaches, even one with
	// no weight: a site read newest-first (Telegram, feeds) learns its
	// normal from backfill that is mostly quiet.
	if st.Hist.Add(hourOf(t), w) && !live {
		// History behind the watermark changed: the cached baseline of the
		// current hour is stale.
		st.EstHour = staleEstimate
	}
	if w == 0 {
		return
	}
	if st.Recent != nil {
		st.Recent.Add(e.slotOf(t), w)
	}
	b := window.Bucket{Total: w}
	if live {
		b.Live, b.Signals, b.Posts = w, sigs.Signals, 1
	}
	inWindow := st.Win.Add(e.bucket(t), b)
	if inWindow {
		st.Count(level.Counted{Key: level.PostKey(s.Post.ID), At: t, W: w, Live: live, Signals: b.Signals})
	}
	if !live || !inWindow {
		if !live && !s.Post.Backfill {
			e.lateAdded(k, s, t, w, w)
		}
		return
	}
	st.Posts++
	st.LastPost = t
	st.EmittedZero = false
	if st.Admits(w, t, e.cfg.Evidence) {
		st.AddContributor(contributor(s, t, w), e.cfg.Evidence)
	}
	e.liveAdded(k, s, t)
}

// liveAdded finishes a live post counted at t (or the rise of an edit):
// a target's sites and scores, and a spike or override that fires at
// once, with no waiting for the step.
func (e *Engine) liveAdded(k *keyState, s *msg.Scored, t time.Time) {
	st := k.L
	if k.Kind == kindTarget {
		st.AddSite(s.Post.Site, t)
		st.AddScores(s.Scores, t)
	}
	e.judge(k, st.Watermark, false)
	e.overrides(k, s, st.Watermark, nil)
}

// lateAdded applies the override rules to a post counted late, behind
// its key's window by more than grace. A rule fires at once whatever the
// baseline, and a protected person's address is no less exposed for
// having been read an hour after it was posted (a scraper back from an
// outage, a thread reached a few rounds late, a feed that lags): the
// episode starts at the key's event time, with the late post first in
// its evidence. A post later than catch_up (and than the window) is
// history, as a backlog that old is. w is the post's weight, added what
// it added to the key (an edit: the rise).
func (e *Engine) lateAdded(k *keyState, s *msg.Scored, t time.Time, w, added float64) {
	st := k.L
	if t.Before(st.Watermark.Add(-max(e.cfg.CatchUp, e.cfg.Window))) {
		return
	}
	if k.Kind == kindTarget && !t.Before(st.Watermark.Add(-e.cfg.Window)) {
		// Still in the target's window: a same-target rule can pair it
		// with the other posts there.
		st.AddSite(s.Post.Site, t)
		st.AddScores(s.Scores, t)
	}
	if len(e.cfg.Overrides) > 0 {
		e.overrides(k, s, st.Watermark, &lateMatch{at: t, w: w})
	}
	if st.Recent == nil {
		// Started from the window, which already holds the weight the
		// post added when it still falls in it: added again, the spans
		// holding it were judged one post heavier.
		e.startRecent(st)
		if !st.Win.Contains(e.bucket(t)) {
			st.Recent.Add(e.slotOf(t), added)
		}
	}
	st.RecentUntil = e.slotOf(st.Watermark) + int64(e.recentN)
	if h := hourOf(t); st.LateAdmits(h, w, t, e.cfg.Evidence) {
		// Built only for posts that enter their hour's top: redacting a
		// snippet for each post of a backlog would cost more than judging.
		st.AddLate(h, contributor(s, t, w), e.cfg.Evidence, hourOf(st.Watermark.Add(-max(e.cfg.CatchUp, e.cfg.Window)))-1)
	}
	e.judgeLate(k, s, t, w)
}

// startRecent starts keeping key state st's sub-hour totals, from its
// window's buckets (the hour before its event time); what lies before is
// known to the hourly history only.
func (e *Engine) startRecent(st *level.State) {
	st.Recent = window.NewHourly(e.recentN)
	st.Recent.Advance(e.slotOf(st.Watermark))
	w := st.Win
	for b := w.Head - int64(w.N) + 1; b <= w.Head; b++ {
		if w.Contains(b) {
			if v := w.Buckets[w.Slot(b)].Total; v != 0 {
				st.Recent.Add(e.slotOf(e.bucketTime(b)), v)
			}
		}
	}
}

// judgeLate judges the hour-long spans a late post fell in, as the
// windows ending then would have judged them had its posts come in time.
// A scraper back from an outage reads the gap all at once, in thread
// order, so all but its last grace arrive behind the windows: a campaign
// that peaked meanwhile went into the history only and never paged. The
// spans start every sub-hour slot (a campaign from 10:30 to 11:30 is one
// span, not two halves of clock hours each under the bar); each holds
// every post, live and late, and is judged against the baseline its
// window had (the hours before the hour it ends in), so a span that late
// posts lift over the spike bar pages now, once per hour, through the
// key's spike lifecycle without its pending period (a whole hour over
// the bar is more than the pending period asks). A span is judged once
// it has ended by the key's clock: at once if it has, else when the
// clock reaches its end (roll), in the hour in progress or the next,
// whose windows cannot count late posts either.
func (e *Engine) judgeLate(k *keyState, s *msg.Scored, t time.Time, w float64) {
	q := e.slotOf(t)
	first, last := q+1, q+e.subN
	if ended := e.slotOf(k.L.Watermark); last > ended {
		e.pendLate(k, max(first, ended+1), last)
		last = ended
	}
	if first > last {
		return
	}
	for h := e.endHour(first); h <= e.endHour(last); h++ {
		e.judgeHour(k, h, max(first, h*e.subN+1), min(last, (h+1)*e.subN), k.L.Watermark, s, &lateMatch{at: t, w: w})
	}
}

// pendLate adds the spans of key k ending at the starts of slots first to
// last to those judged when they end.
func (e *Engine) pendLate(k *keyState, first, last int64) {
	from, to := e.slotTime(first), e.slotTime(last)
	if k.LateTo.IsZero() || from.Before(k.LateFrom) {
		k.LateFrom = from
	}
	if to.After(k.LateTo) {
		k.LateTo = to
	}
}

// judgePending judges the spans of key k waiting to end (pendLate) that
// have ended by t, its clock.
func (e *Engine) judgePending(k *keyState, t time.Time) {
	ended := e.slotOf(t)
	first, last := e.slotOf(k.LateFrom), e.slotOf(k.LateTo)
	if first > ended {
		return
	}
	e.touch(k)
	if last <= ended {
		k.LateFrom, k.LateTo = time.Time{}, time.Time{}
	} else {
		k.LateFrom = e.slotTime(ended + 1)
		last = ended
	}
	for h := e.endHour(first); h <= e.endHour(last); h++ {
		e.judgeHour(k, h, max(first, h*e.subN+1), min(last, (h+1)*e.subN), t, nil, nil)
	}
}

func (e *Engine) slotTime(q int64) time.Time { return time.Unix(0, q*int64(e.sub)).UTC() }

// endHour is the hour a span ending at the start of slot end ends in.
func (e *Engine) endHour(end int64) int64 { return floorDiv(end-1, e.subN) }

// lateSpan returns the highest of the hour-long spans of key state st
// that end at the starts of slots first to last (in hour h) and start no
// earlier than slot oldest, and the start of that span. The span that is
// hour h itself is read from the hourly history, which holds posts
// counted before the key kept sub-hour totals too.
func (e *Engine) lateSpan(st *level.State, h, oldest, first, last int64) (float64, time.Time, bool) {
	var v float64
	ok := false
	if h*e.subN >= oldest && last == (h+1)*e.subN {
		v, ok = st.Hist.At(h)
	}
	from := (h + 1) * e.subN
	first = max(first, oldest+e.subN)
	if r := st.Recent; r != nil && first <= last {
		// One read of each slot, the spans' sums slid across them.
		var sum float64
		for i := first - e.subN; i < first; i++ {
			x, _ := r.At(i)
			sum += x
		}
		for end := first; ; end++ {
			if sum > v || !ok {
				v, from, ok = sum, end, true
			}
			if end == last {
				break
			}
			in, _ := r.At(end)
			out, _ := r.At(end - e.subN)
			sum += in - out
		}
	}
	start := time.Unix(0, (from-e.subN)*int64(e.sub)).UTC()
	return v, start, ok
}

// judgeHour judges the spans of key k ending at the starts of slots first
// to last, in hour h (see judgeLate), at event time at; s, when known, is
// the late post that brought them there, its evidence entry built only if
// a span pages.
func (e *Engine) judgeHour(k *keyState, h, first, last int64, at time.Time, s *msg.Scored, late *lateMatch) {
	st := k.L
	if st.Spikes.Has(h) {
		return
	}
	// A span reaching back past catch_up is history, as a backlog that
	// old is.
	oldest := e.slotOf(at.Add(-max(e.cfg.CatchUp, e.cfg.Window)))
	v, from, ok := e.lateSpan(st, h, oldest, first, last)
	minExcess := e.cfg.Spike.MinExcess
	if k.Kind == kindTarget {
		minExcess = e.cfg.Targets.MinExcess
	}
	if !ok || v < minExcess {
		// Below the excess a spike needs over any baseline: no estimate.
		return
	}
	// The span is an hour long, whatever the window: judged against an
	// hour's normal, not the window's (which made an ordinary hour read
	// late page with a 30 min window, and a campaign's never with 2 h).
	a := e.assessOver(k, v, e.estimate(k, h), h, 1)
	if !a.fires {
		return
	}
	st.Spikes.Set(h)
	policy := e.policy
	if k.Kind == kindTarget {
		policy = e.tgtPolicy
	}
	policy.Pending = 0
	var prev alert.Lifecycle
	if k.Spike.Phase == alert.Firing {
		prev = k.Spike
	}
	ev := k.Spike.Step(at, true, false, a.score, alert.SeverityRank(e.severity(a)), policy)
	if ev != alert.Fire && ev != alert.Escalate {
		// Already paging (a repeat is the notify stage's), or in cooldown.
		return
	}
	kk := *k
	lst := *k.L
	kk.lateHour = from
	// The span's strongest posts, live (the window's) and read late; the
	// post whose reading tipped it over the bar first.
	lst.Top = k.L.SpanTop(from, from.Add(time.Hour), e.cfg.Evidence)
	if s != nil {
		lst.Top = withFirst(lst.Top, contributor(s, late.at, late.w), e.cfg.Evidence)
		kk.lateBy = at.Sub(late.at)
	}
	kk.L = &lst
	var sig msg.Signal
	if len(lst.Top) > 0 {
		sig = alert.Dominant(lst.Top[0].Scores)
	}
	lv := &msg.Level{
		Schema: msg.SchemaLevel, Site: k.Site, Target: k.Target, Time: at,
		Level: round3(a.live), Baseline: round3(a.baseline), Score: round3(a.score),
		Name: a.names.Name(a.score, a.ready, a.fires), Contributors: lst.Top,
	}
	if ev == alert.Escalate {
		e.escalate(&kk, &k.Spike, &prev, e.severity(a), at, lv, "")
		return
	}
	name := alert.NameSiteSpike
	if k.Kind == kindTarget {
		name = alert.NameTargetSpike
	}
	e.emitAlert(&kk, &k.Spike, msg.StatusFiring, at, lv, "", &onset{name, e.severity(a), sig})
}

// lateMatch is a post read late that override rules are applied to: its
// event time and weight, for its evidence entry, built only on a match
// (redacting a snippet for each post of a backlog would cost more than
// the rules).
type lateMatch struct {
	at time.Time
	w  float64
}

// editOf applies an edit of a post key k counted as prev (a scraper
// re-emits an edited post with the same id): the post is counted once, at
// the higher of its weights, so only a rise adds, and only the rise
// (weight and each signal's). A lower edit changes nothing: readers saw
// the first version, and a threat edited away after the fact was still
// made. The rise is dated at the post's time, where the first version was
// counted, and is live only if that was and it is still within grace, as
// a late post would be.
func (e *Engine) editOf(k *keyState, s *msg.Scored, prev level.Counted, w float64, sigs window.Bucket) {
	st := k.L
	t := prev.At
	live := prev.Live && !s.Post.Backfill && !t.Before(st.Watermark.Add(-e.cfg.Grace))
	b := window.Bucket{Total: max(0, w-prev.W)}
	rises := b.Total > 0
	for i := range sigs.Signals {
		if d := sigs.Signals[i] - prev.Signals[i]; d > 0 && live {
			b.Signals[i] = d
			rises = true
		}
	}
	if !rises {
		return
	}
	e.touch(k)
	if live {
		b.Live = b.Total
	} else {
		b.Signals = [window.NumSignals]float64{}
		e.stats.Late++
	}
	if b.Total > 0 && st.Hist.Add(hourOf(t), b.Total) && !live {
		st.EstHour = staleEstimate
	}
	if st.Recent != nil && b.Total > 0 {
		// As for a new post: the spans a late post is judged in hold the
		// rise too, not only the clock hours.
		st.Recent.Add(e.slotOf(t), b.Total)
	}
	now := level.Counted{Key: prev.Key, At: t, W: max(w, prev.W), Live: prev.Live, Signals: prev.Signals}
	for i := range now.Signals {
		now.Signals[i] += b.Signals[i]
	}
	st.Recount(now)
	if !st.Win.Add(e.bucket(t), b) || !live {
		if !live && !s.Post.Backfill && w > prev.W {
			e.lateAdded(k, s, t, w, b.Total)
		}
		return
	}
	if w > prev.W {
		st.ReplaceContributor(contributor(s, t, w), e.cfg.Evidence)
	}
	e.liveAdded(k, s, t)
}

// contributor is the evidence entry for a post: ids, permalink, scores and
// a redacted snippet. Thread titles are left out: they often name victims.
func contributor(s *msg.Scored, t time.Time, w float64) msg.Contributor {
	// The strings are copied: evidence outlives the post, and a decoder
	// may hand out strings that share memory with its whole input line.
	c := msg.Contributor{PostID: strings.Clone(s.Post.ID), URL: strings.Clone(s.Post.URL),
		ThreadID: strings.Clone(s.Post.ThreadID), At: t, Weight: w}
	if len(s.Scores) > 0 {
		c.Scores = make(map[msg.Signal]float64, len(s.Scores))
		for k, v := range s.Scores {
			if v > 0 {
				c.Scores[k] = v
			}
		}
	}
	var names []string
	for _, en := range s.Entities {
		if en.Kind == msg.EntityPerson || en.Kind == msg.EntityHandle || en.Target {
			names = append(names, en.Name)
		}
	}
	best := -1.0
	for _, sp := range s.Evidence {
		if sp.Snippet != "" && sp.Weight > best {
			c.Snippet, best = sp.Snippet, sp.Weight
		}
	}
	if c.Snippet != "" {
		c.Snippet = alert.RedactNames(alert.Redact(c.Snippet), names)
		if len(c.Snippet) > 280 {
			c.Snippet = truncateUTF8(c.Snippet, 280) + "…"
		} else {
			c.Snippet = strings.Clone(c.Snippet)
		}
	}
	return c
}

func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// Advance moves every key's event time to now (the wall clock live, event
// time in replay): windows slide, silent keys decay, alerts resolve. It
// returns the levels and alerts that caused, keys in sorted order.
func (e *Engine) Advance(now time.Time) []Output {
	e.outs = e.outs[:0]
	now = now.UTC()
	if now.After(e.clock) {
		e.clock = now
	}
	b := e.bucket(now)
	if b < e.nextDue {
		return nil
	}
	e.nextDue = b + 1
	e.rolled, e.rolledMoved = now, true
	e.mergeFresh()
	evicted := false
	for _, k := range e.sorted {
		if now.After(k.L.Watermark) {
			// A quiet key's move changes nothing a restore cannot redo
			// from e.rolled alone: saving it at every step would rewrite
			// every key the engine tracks at every step.
			if !e.quietAlone(k) {
				e.touch(k)
			}
			e.roll(k, now)
		}
		if k.Kind == kindTarget && e.idle(k, now) {
			e.evict(k)
			evicted = true
		}
	}
	if evicted {
		e.sorted = slices.DeleteFunc(e.sorted, func(k *keyState) bool { return e.keys[k.name] != k })
	}
	return e.result()
}

// mergeFresh merges the keys created since the last Advance into sorted.
func (e *Engine) mergeFresh() {
	if len(e.fresh) == 0 {
		return
	}
	byName := func(a, b *keyState) int { return strings.Compare(a.name, b.name) }
	slices.SortFunc(e.fresh, byName)
	if len(e.sorted) == 0 {
		e.sorted, e.fresh = e.fresh, nil
		return
	}
	merged := make([]*keyState, 0, len(e.sorted)+len(e.fresh))
	i, j := 0, 0
	for i < len(e.sorted) && j < len(e.fresh) {
		if byName(e.sorted[i], e.fresh[j]) <= 0 {
			merged = append(merged, e.sorted[i])
			i++
		} else {
			merged = append(merged, e.fresh[j])
			j++
		}
	}
	merged = append(merged, e.sorted[i:]...)
	merged = append(merged, e.fresh[j:]...)
	e.sorted = merged
	clear(e.fresh)
	e.fresh = e.fresh[:0]
}

// evict forgets target key k.
func (e *Engine) evict(k *keyState) {
	delete(e.byTarget, k.Target)
	if k.ref != "" {
		delete(e.byRef, k.ref)
	}
	delete(e.keys, k.name)
	e.gone = append(e.gone, k.name)
	e.stats.Evicted++
}

func (e *Engine) idle(k *keyState, now time.Time) bool {
	if now.Sub(k.L.LastPost) < e.cfg.Targets.IdleTTL || !k.Spike.Idle(now) {
		return false
	}
	for _, o := range k.Over {
		if !o.Idle(now) {
			return false
		}
	}
	return true
}

// roll moves key k's event time forward to t, step by step: at each step
// boundary the full window just closed is emitted as a level and judged.
func (e *Engine) roll(k *keyState, t time.Time) {
	st := k.L
	from, to := e.bucket(st.Watermark), e.bucket(t)
	for b := from + 1; b <= to; b++ {
		tb := e.bucketTime(b)
		// Before the window ending at tb is judged: pruned after, its
		// level and alerts showed posts that had left it (a level of 0
		// posts with a top post and sites).
		st.Prune(tb.Add(-e.cfg.Window))
		e.boundary(k, tb)
		st.Win.Advance(b)
		st.Hist.Advance(hourOf(tb))
		st.Spikes.Advance(hourOf(tb))
		if b < to && e.quiet(k) {
			// Nothing in the window and nothing to resolve: skip the
			// empty steps in one go.
			st.Win.Advance(to)
			break
		}
	}
	st.Watermark = t
	st.Hist.Advance(hourOf(t))
	// Also past steps skipped as quiet: the state is then the same however
	// the time got to t, in one move or many (a restore moves quiet keys
	// in one).
	st.Spikes.Advance(hourOf(t))
	if st.Recent != nil && e.slotOf(t) > st.RecentUntil {
		st.Recent, st.RecentUntil, st.LateTop = nil, 0, nil
	}
	if !k.LateTo.IsZero() {
		e.judgePending(k, t)
	}
}

// quietAlone reports whether moving key k forward in time emits nothing
// and changes it only as a function of the time it is moved to: nothing
// in its window, its zero level emitted, no alert of any kind open or
// waiting to be forgotten.
func (e *Engine) quietAlone(k *keyState) bool {
	return len(k.Over) == 0 && k.LateTo.IsZero() && e.quiet(k)
}

func (e *Engine) quiet(k *keyState) bool {
	if k.L.Win.Sum.Total != 0 || !k.L.EmittedZero || k.Spike.Phase != alert.Inactive {
		return false
	}
	for _, o := range k.Over {
		if o.Phase != alert.Inactive {
			return false
		}
	}
	return true
}

// boundary handles the step boundary tb: the window ending at tb is
// complete.
func (e *Engine) boundary(k *keyState, tb time.Time) {
	st := k.L
	if st.Win.Sum.Total == 0 && st.EmittedZero && k.Spike.Phase == alert.Inactive && len(k.Over) == 0 {
		return
	}
	lv := e.judge(k, tb, true)
	// Override episodes end once no post has matched for resolve_after.
	// In id order, so resolutions come out in the same order every time;
	// with no episodes (nearly every key) there is nothing to sort.
	if len(k.Over) > 0 {
		for _, id := range slices.Sorted(maps.Keys(k.Over)) {
			o := k.Over[id]
			if o.Phase == alert.Inactive {
				if o.Idle(tb) {
					delete(k.Over, id)
				}
				continue
			}
			if ev := o.Step(tb, false, true, 0, 0, e.policy); ev == alert.Resolve {
				e.emitAlert(k, o, msg.StatusResolved, tb, lv, o.Labels["rule"], nil)
			}
		}
	}
	if st.Win.Sum.Total > 0 || !st.EmittedZero {
		lv.Stale = st.LastPost.Before(tb.Add(-e.step))
		e.outs = append(e.outs, Output{Level: lv})
		st.EmittedZero = st.Win.Sum.Total == 0
	}
}

// staleEstimate marks a key's cached baseline as needing a new estimate.
const staleEstimate = math.MinInt64

// assessment is a key's live level judged against its baseline.
type assessment struct {
	hour                  int64 // the hour the judged window ends in
	live, baseline, score float64
	ready, fires, clear   bool
	names                 level.Thresholds
}

// assess scores key k's live level at event time at. closing says at is a
// step boundary: the window just completed lies in the hour before it.
func (e *Engine) assess(k *keyState, at time.Time, closing bool) assessment {
	st := k.L
	h := hourOf(at)
	if closing {
		h = hourOf(at.Add(-time.Nanosecond))
	}
	if st.EstHour != h {
		st.Est = e.estimate(k, h)
		st.EstHour = h
	}
	return e.assessAt(k, st.Win.Sum.Live, st.Est, h)
}

// estimate is key k's baseline for a window ending in hour h.
func (e *Engine) estimate(k *keyState, h int64) spike.Estimate {
	spikes := k.L.Spikes
	if e.cfg.Baseline.LearnSpikes {
		spikes = nil
	}
	if k.Kind == kindTarget {
		return e.tgtDet.Estimate(k.L.Hist, spikes, h)
	}
	return e.siteDet.Estimate(k.L.Hist, spikes, h)
}

// assessAt judges a level live of key k against est, its baseline for a
// window ending in hour h.
func (e *Engine) assessAt(k *keyState, live float64, est spike.Estimate, h int64) assessment {
	return e.assessOver(k, live, est, h, e.factor)
}

// assessOver judges a level live summed over factor hours (the window's,
// or one for a late span) of key k against est, its hourly baseline for
// a level ending in hour h.
func (e *Engine) assessOver(k *keyState, live float64, est spike.Estimate, h int64, factor float64) assessment {
	a := assessment{live: live, ready: est.Ready, names: e.names}
	a.baseline, a.score = spike.Score(a.live, est, factor, e.cfg.Baseline.MinScale)
	fireScore, minExcess := e.cfg.Spike.FireScore, e.cfg.Spike.MinExcess
	if k.Kind == kindTarget {
		fireScore, minExcess = e.cfg.Targets.FireScore, e.cfg.Targets.MinExcess
		a.names.High = fireScore
		a.names.Severe = max(e.cfg.Spike.SevereScore*fireScore/e.cfg.Spike.FireScore, fireScore)
		a.names.Elevated = min(a.names.Elevated, fireScore)
	}
	a.fires = a.ready && a.score >= fireScore && a.live >= e.cfg.Spike.FireRatio*a.baseline && a.live-a.baseline >= minExcess &&
		a.live > e.peakRatio*est.DailyPeak*factor
	a.hour = h
	a.clear = !a.ready || a.score < e.cfg.Spike.ResolveScore || a.live-a.baseline < minExcess/2
	return a
}

// severity maps an assessment's named level to an alert severity.
func (e *Engine) severity(a assessment) string {
	if a.names.Name(a.score, a.ready, a.fires) == level.Severe {
		return alert.SeverityCritical
	}
	return alert.SeverityWarning
}

// levelOf builds the Level message of an assessment.
func (e *Engine) levelOf(k *keyState, at time.Time, a assessment) *msg.Level {
	st := k.L
	return &msg.Level{
		Schema: msg.SchemaLevel, Site: k.Site, Target: k.Target, Time: at,
		Level: round3(a.live), Baseline: round3(a.baseline), Score: round3(a.score),
		Name: a.names.Name(a.score, a.ready, a.fires), Signals: e.signals(&st.Win.Sum),
		Posts: int(st.Win.Sum.Posts), Contributors: st.SharedTop(),
	}
}

// judge assesses key k at event time at and steps its spike lifecycle.
// Between boundaries (a post just arrived) only a rise is acted on:
// resolution waits for a complete window. It returns the level when one
// was built (at boundaries, or for an alert), else nil.
func (e *Engine) judge(k *keyState, at time.Time, closing bool) *msg.Level {
	a := e.assess(k, at, closing)
	if a.fires {
		k.L.Spikes.Set(a.hour)
	}
	if !closing && !a.fires {
		return nil
	}
	var lv *msg.Level
	if closing {
		lv = e.levelOf(k, at, a)
	}
	policy := e.policy
	if k.Kind == kindTarget {
		policy = e.tgtPolicy
	}
	var prev alert.Lifecycle
	if k.Spike.Phase == alert.Firing && a.fires {
		prev = k.Spike // what was notified, should the episode escalate
	}
	ev := k.Spike.Step(at, a.fires, a.clear, a.score, alert.SeverityRank(e.severity(a)), policy)
	if ev == alert.None {
		return lv
	}
	if lv == nil {
		lv = e.levelOf(k, at, a)
	}
	switch ev {
	case alert.Fire:
		name := alert.NameSiteSpike
		if k.Kind == kindTarget {
			name = alert.NameTargetSpike
		}
		e.emitAlert(k, &k.Spike, msg.StatusFiring, at, lv, "", &onset{name, e.severity(a), alert.Dominant(lv.Signals)})
	case alert.Repeat:
		e.emitAlert(k, &k.Spike, msg.StatusFiring, at, lv, "", nil)
	case alert.Resolve:
		e.emitAlert(k, &k.Spike, msg.StatusResolved, at, lv, "", nil)
	case alert.Escalate:
		e.escalate(k, &k.Spike, &prev, e.severity(a), at, lv, "")
	}
	return lv
}

// escalate notifies lifecycle l, which just escalated from prev (a copy
// taken before the step), at severity: the episode fires again under its
// labels with the new severity, a new fingerprint (the severity is a
// label, and the notify stage deduplicates by fingerprint, so the same one
// would page nobody), and the lower notification is resolved at the same
// moment, marked as superseded.
func (e *Engine) escalate(k *keyState, l, prev *alert.Lifecycle, severity string, at time.Time, lv *msg.Level, rule string) {
	// The resolution first: one alert has one episode open at a time,
	// and both come out in the same batch.
	e.emitAlert(k, prev, msg.StatusResolved, at, lv, rule, nil)
	lower := e.outs[len(e.outs)-1].Alert
	l.Labels = maps.Clone(prev.Labels)
	l.Labels["severity"] = severity
	l.Fingerprint = msg.Fingerprint(l.Labels, l.StartsAt)
	e.emitAlert(k, l, msg.StatusFiring, at, lv, rule, nil)
	alert.Supersede(e.outs[len(e.outs)-1].Alert, lower)
}

func (e *Engine) signals(b *window.Bucket) map[msg.Signal]float64 {
	var m map[msg.Signal]float64
	for i, s := range msg.Signals {
		if v := b.Signals[i]; v > 1e-9 {
			if m == nil {
				m = make(map[msg.Signal]float64, len(msg.Signals))
			}
			m[s] = round3(v)
		}
	}
	return m
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// onset names a new episode's alertname, severity and signal.
type onset struct {
	name, severity string
	signal         msg.Signal
}

// emitAlert appends the notification of lifecycle l. For a new episode
// (on set) it also fixes the labels, and so the fingerprint.
func (e *Engine) emitAlert(k *keyState, l *alert.Lifecycle, status string, at time.Time, lv *msg.Level, rule string, on *onset) {
	f := &alert.Facts{
		Site: k.Site, Target: k.Target, Level: lv.Level, Baseline: lv.Baseline, Score: lv.Score,
		Name: lv.Name, Signals: lv.Signals, Posts: lv.Posts, Evidence: k.L.Top, Rule: rule,
		Window: e.cfg.Window, Replay: e.replay, LateBy: k.lateBy, LateHour: k.lateHour,
	}
	if k.Kind == kindTarget {
		f.Sites = slices.Sorted(maps.Keys(k.L.Sites))
	}
	if on != nil {
		l.Labels = alert.Labels(on.name, on.severity, on.signal, f)
		l.Fingerprint = msg.Fingerprint(l.Labels, l.StartsAt)
	}
	if l.Labels == nil {
		// A lifecycle restored from an old checkpoint without labels:
		// still a valid alert rather than a dropped one.
		l.Labels = alert.Labels(alert.NameSiteSpike, alert.SeverityWarning, "", f)
		l.Fingerprint = msg.Fingerprint(l.Labels, l.StartsAt)
	}
	e.outs = append(e.outs, Output{Alert: alert.Build(l, status, at, f)})
}

// overrides applies the override rules to a post on key k, live or
// (late) read late.
func (e *Engine) overrides(k *keyState, s *msg.Scored, at time.Time, late *lateMatch) {
	for _, r := range e.cfg.Overrides {
		var ok bool
		var target string
		switch {
		case r.SameTarget && k.Kind == kindTarget:
			// The post alone may meet the rule: a late one older than
			// the window is not among the window's scores.
			ok = scoresMet(r.Scores, func(sig msg.Signal) float64 { return k.L.MaxScores[sig].Score }) || scoresMet(r.Scores, s.Score)
		case r.SameTarget:
			continue
		case k.Kind == kindTarget:
			continue
		default:
			ok = scoresMet(r.Scores, s.Score) && kindMatch(r, s)
			target = overrideTarget(s, e.labels)
		}
		if !ok {
			continue
		}
		id := r.Name + "|" + target
		if k.Over == nil {
			k.Over = map[string]*alert.Lifecycle{}
		}
		l := k.Over[id]
		if l == nil {
			l = &alert.Lifecycle{}
			k.Over[id] = l
		}
		prev := *l
		ev := l.Step(at, true, false, 0, alert.SeverityRank(r.Severity), alert.Policy{ResolveAfter: e.policy.ResolveAfter, Cooldown: e.policy.Cooldown, RepeatInterval: e.policy.RepeatInterval})
		if ev == alert.None {
			continue
		}
		kk := *k
		if late != nil {
			lst := *k.L
			lst.Top = withFirst(k.L.Top, contributor(s, late.at, late.w), e.cfg.Evidence)
			kk.L, kk.lateBy = &lst, at.Sub(late.at)
		}
		lv := e.levelOf(&kk, at, e.assess(&kk, at, false))
		sig := dominantRule(r, s)
		if target != "" && kk.Target == "" {
			kk.Target = target
		}
		switch ev {
		case alert.Fire:
			e.emitAlert(&kk, l, msg.StatusFiring, at, lv, r.Name, &onset{alert.NameOverride, r.Severity, sig})
		case alert.Escalate:
			// Only when the rule's severity was raised in the config while
			// its episode fired.
			e.escalate(&kk, l, &prev, r.Severity, at, lv, r.Name)
		default:
			e.emitAlert(&kk, l, msg.StatusFiring, at, lv, r.Name, nil)
		}
	}
}

// withFirst returns top with c first (once) and at most n entries, in a
// new slice: top belongs to the key's state.
func withFirst(top []msg.Contributor, c msg.Contributor, n int) []msg.Contributor {
	out := make([]msg.Contributor, 0, min(len(top)+1, max(n, 1)))
	out = append(out, c)
	for _, o := range top {
		if len(out) >= max(n, 1) {
			break
		}
		if o.PostID != c.PostID {
			out = append(out, o)
		}
	}
	return out
}

func scoresMet(want map[string]float64, got func(msg.Signal) float64) bool {
	for sig, min := range want {
		if got(msg.Signal(sig)) < min {
			return false
		}
	}
	return true
}

func kindMatch(r config.OverrideRule, s *msg.Scored) bool {
	if r.EvidenceKindPrefix == "" {
		return true
	}
	for _, sp := range s.Evidence {
		if strings.HasPrefix(sp.Kind, r.EvidenceKindPrefix) && !slices.Contains(r.ExceptKinds, sp.Kind) {
			return true
		}
	}
	return false
}

// overrideTarget is the target an override episode is about: a protected
// person if the post names one, else its first target; "" for none.
func overrideTarget(s *msg.Scored, labels alert.TargetLabeler) string {
	var first string
	for _, en := range s.Entities {
		ref := en.Ref
		if ref == "" {
			ref = msg.TargetRef(en.Name)
		}
		if ref == "" {
			continue
		}
		if en.Kind == msg.EntityProtected {
			return labels.Label(ref)
		}
		if en.Target && first == "" {
			first = labels.Label(ref)
		}
	}
	return first
}

func dominantRule(r config.OverrideRule, s *msg.Scored) msg.Signal {
	for _, sig := range msg.Signals {
		if _, ok := r.Scores[string(sig)]; ok {
			return sig
		}
	}
	for _, sp := range s.Evidence {
		if strings.HasPrefix(sp.Kind, r.EvidenceKindPrefix) && sp.Signal != "" {
			return sp.Signal
		}
	}
	var best msg.Signal
	for _, sig := range msg.Signals {
		if s.Scores[sig] > s.Scores[best] {
			best = sig
		}
	}
	return best
}

// checkpoint is the engine's whole state.
type checkpoint struct {
	Version int                  `json:"version"`
	Clock   time.Time            `json:"clock,omitzero"`
	Rolled  time.Time            `json:"rolled,omitzero"`
	Keys    map[string]*keyState `json:"keys"`
}

const checkpointVersion = 1

// Snapshot returns the engine's whole state; Restore puts it back. Both
// are deterministic: the same state gives the same bytes.
func (e *Engine) Snapshot() ([]byte, error) {
	b, err := json.Marshal(checkpoint{Version: checkpointVersion, Clock: e.clock, Rolled: e.rolled, Keys: e.keys})
	if err != nil {
		return nil, fmt.Errorf("cannot encode engine state: %w", err)
	}
	return b, nil
}

// Restore replaces the engine's state with a Snapshot.
func (e *Engine) Restore(b []byte) error {
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("cannot decode engine state: %w", err)
	}
	if c.Version != checkpointVersion {
		return fmt.Errorf("engine state version %d, want %d", c.Version, checkpointVersion)
	}
	for name, k := range c.Keys {
		if err := e.checkKey(name, k); err != nil {
			return err
		}
	}
	if c.Keys == nil {
		c.Keys = map[string]*keyState{}
	}
	e.restore(c.Keys, c.Clock, c.Rolled)
	return nil
}

func (e *Engine) checkKey(name string, k *keyState) error {
	if k == nil || k.L == nil || k.L.Win == nil || k.L.Hist == nil {
		return fmt.Errorf("engine state: key %q is incomplete", name)
	}
	if h := k.LateIn - 1; k.LateIn != 0 {
		// An earlier version's hour waiting to be judged: its spans.
		e.pendLate(k, h*e.subN+1, (h+1)*e.subN)
		k.LateIn = 0
	}
	if w := k.L.Win; w.N != e.n || len(w.Buckets) != e.n || (w.Started() && w.Head != e.bucket(k.L.Watermark)) {
		// Saved with another window or step (a window's head is always
		// the bucket of its key's event time): its buckets stand for
		// other times. Refused, the stage stopped until the checkpoints
		// were deleted, baselines and all; with as many buckets of
		// another step, it counted no post again and nothing paged.
		e.rewindow(k.L)
	}
	if k.L.Spikes == nil || k.L.Spikes.N != e.cfg.Baseline.Days*24 {
		// A checkpoint from before spike hours were kept, or with another
		// history length: start marking afresh.
		k.L.Spikes = window.NewFlags(e.cfg.Baseline.Days * 24)
	}
	if k.L.Hist.Len() != e.cfg.Baseline.Days*24 {
		// A changed history length keeps what fits.
		h := window.NewHourly(e.cfg.Baseline.Days * 24)
		if k.L.Hist.Started() {
			h.Advance(k.L.Hist.Head)
			for i := k.L.Hist.Head; i > k.L.Hist.Head-int64(h.Len()); i-- {
				if v, ok := k.L.Hist.At(i); ok {
					h.Add(i, v)
				}
			}
			h.Since = max(h.Since, k.L.Hist.Since)
		}
		k.L.Hist = h
	}
	return nil
}

// rewindow puts key state st's window together again, in the engine's
// step and window, from the posts it counted (level.State.Counted). The
// hourly history, the spike hours and the alerts, in hours or in event
// time, stand as they are: an episode open at the change resolves under
// the fingerprint it paged with. The sub-hour totals of posts read late
// may be in other slots: dropped (late spans fall back to clock hours).
func (e *Engine) rewindow(st *level.State) {
	w := window.NewSliding(e.n)
	if !st.Watermark.IsZero() {
		w.Advance(e.bucket(st.Watermark))
		for _, c := range st.Counted {
			b := window.Bucket{Total: c.W}
			if c.Live {
				b.Live, b.Signals, b.Posts = c.W, c.Signals, 1
			}
			w.Add(e.bucket(c.At), b)
		}
	}
	st.Win = w
	st.Recent, st.RecentUntil, st.LateTop = nil, 0, nil
}

// Dirty returns the keys changed since the last ClearDirty, sorted.
func (e *Engine) Dirty() []string {
	names := make([]string, 0, len(e.changed)+len(e.gone))
	for _, k := range e.changed {
		names = append(names, k.name)
	}
	names = append(names, e.gone...)
	slices.Sort(names)
	return slices.Compact(names)
}

// TouchAll marks every key changed, so the next checkpoint holds the whole
// state.
func (e *Engine) TouchAll() {
	for _, k := range e.keys {
		e.touch(k)
	}
	e.rolledMoved = true
}

// ClearDirty forgets which keys changed.
func (e *Engine) ClearDirty() {
	for _, k := range e.changed {
		k.changed = false
	}
	clear(e.changed)
	e.changed = e.changed[:0]
	clear(e.gone)
	e.gone = e.gone[:0]
	e.rolledMoved = false
}

// KeyState returns one key's checkpoint, or false if the key is gone
// (evicted: its checkpoint should be deleted).
func (e *Engine) KeyState(name string) ([]byte, bool, error) {
	k, ok := e.keys[name]
	if !ok {
		return nil, false, nil
	}
	b, err := json.Marshal(k)
	if err != nil {
		return nil, false, fmt.Errorf("cannot encode state of %s: %w", name, err)
	}
	return b, true, nil
}

// RestoreKeys replaces the engine's state with per-key checkpoints and the
// clock, and moves the keys that were quiet on to rolled (Rolled when the
// checkpoint was taken; zero if unknown), where the engine had moved them
// without saving them.
func (e *Engine) RestoreKeys(keys map[string][]byte, clock, rolled time.Time) error {
	m := make(map[string]*keyState, len(keys))
	for name, b := range keys {
		var k keyState
		if err := json.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("cannot decode state of %s: %w", name, err)
		}
		if err := e.checkKey(name, &k); err != nil {
			return err
		}
		m[name] = &k
	}
	e.restore(m, clock, rolled)
	return nil
}

// restore installs keys, the clock and the time the keys were last moved
// to: without rolled, a restored engine would emit the steps the one it
// replaces had already passed (a key first seen after the last Advance
// would report a level for a step before it).
func (e *Engine) restore(m map[string]*keyState, clock, rolled time.Time) {
	e.setKeys(m)
	e.clock = clock
	if rolled.IsZero() {
		return
	}
	e.rolled = rolled.UTC()
	e.nextDue = e.bucket(e.rolled) + 1
	for _, k := range m {
		if e.rolled.After(k.L.Watermark) && e.quietAlone(k) {
			e.roll(k, e.rolled)
		}
	}
	// A quiet key's steps emit nothing; nothing is left to hand out.
	e.outs = e.outs[:0]
}

// Rolled is the time the engine last moved every key to (see RestoreKeys).
func (e *Engine) Rolled() time.Time { return e.rolled }

// hasDirty reports whether any key changed since the last ClearDirty.
func (e *Engine) hasDirty() bool { return len(e.changed) > 0 || len(e.gone) > 0 || e.rolledMoved }
