// Package level is one key's threat level: a site's, or a target's across
// sites. A State holds the key's sliding window (the live level), its
// hourly history (what the baseline is computed from) and the posts that
// contribute most to the current window (the evidence an operator sees).
//
// The level is the sum, over the window, of the weights of threatening
// posts (a post's weight is its highest signal score at or above the
// configured minimum), so it rises with both the volume and the severity
// of threatening posts. Pure: no I/O, no clock.
package level

import (
	"slices"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/spike"
	"github.com/threatwatch/threatwatch/pipeline/window"
)

// Named threat levels, from a key's score against its own baseline.
const (
	// Learning: not enough history yet to say what is normal.
	Learning = "learning"
	// Normal: within the key's usual variation.
	Normal = "normal"
	// Elevated: above usual variation; shown on the dashboard, never paged.
	Elevated = "elevated"
	// High: a spike that pages (severity warning).
	High = "high"
	// Severe: a spike far outside anything normal (severity critical).
	Severe = "severe"
)

// Thresholds map a score to a named level.
type Thresholds struct {
	Elevated, High, Severe float64
}

// Name names a score. fires says the page conditions beyond the score
// (ratio, minimum excess) hold; without them a level is at most elevated.
func (t Thresholds) Name(score float64, ready, fires bool) string {
	switch {
	case !ready:
		return Learning
	case fires && score >= t.Severe:
		return Severe
	case fires && score >= t.High:
		return High
	case score >= t.Elevated:
		return Elevated
	}
	return Normal
}

// State is one key's level state. Exported fields are its checkpoint.
type State struct {
	Win  *window.Sliding `json:"win"`
	Hist *window.Hourly  `json:"hist"`
	// Spikes marks the hours in which the key's spike condition held: the
	// detector leaves them out of what it learns as normal.
	Spikes *window.Flags `json:"spikes,omitempty"`
	// Watermark is the key's event-time clock: the latest event time seen
	// or advanced to.
	Watermark time.Time `json:"wm"`
	// LastPost is the event time of the last post counted.
	LastPost time.Time `json:"last_post,omitzero"`
	// Top are the strongest posts in the window, strongest first.
	Top []msg.Contributor `json:"top,omitempty"`
	// Recent holds the key's totals per sub-hour slot (the engine sets
	// the width) while posts are being read late, so that a late campaign
	// is judged over every hour-long span, not only over clock hours that
	// may split it in two; nil otherwise, which costs a key nothing.
	// RecentUntil is the slot after which it is dropped.
	Recent      *window.Hourly `json:"recent,omitempty"`
	RecentUntil int64          `json:"recent_until,omitempty"`
	// LateTop holds, per clock hour, the strongest posts read late into
	// it while Recent is kept: the evidence of a late span that pages
	// (late posts never enter Top, the window's).
	LateTop []HourTop `json:"late_top,omitempty"`
	// Est is the detector's estimate for hour EstHour.
	Est     spike.Estimate `json:"est"`
	EstHour int64          `json:"est_hour"`
	// Sites a target's posts in the window came from (targets only).
	Sites map[string]time.Time `json:"sites,omitempty"`
	// MaxScores is, per signal, the highest score of a post in the window
	// with its time (targets: for same-target override rules).
	MaxScores map[msg.Signal]ScoreAt `json:"max_scores,omitempty"`
	// LowerScores holds, per signal, the posts after the highest that
	// take its place as older ones leave the window: each later and lower
	// than the one before. Without them a strongest post leaving the
	// window took its signal along, although a later post meeting a rule
	// was still in it.
	LowerScores map[msg.Signal][]ScoreAt `json:"lower_scores,omitempty"`
	// Counted is what each threatening post in the window added to it,
	// with the PostKey of its id, so that an edit of the post (a scraper
	// re-emits it with the same id) replaces its contribution instead of
	// adding a second one. A slice in arrival order: every threatening
	// post is appended, and looked up (a copy of a post is an edit, with
	// or without the edited flag) through index once the window is busy.
	Counted []Counted `json:"counted,omitempty"`
	// LastEmitted is the bucket of the last Level emitted, and Emitted the
	// level it carried, so a silent key stops emitting once at zero.
	LastEmitted int64   `json:"last_emitted"`
	EmittedZero bool    `json:"emitted_zero,omitempty"`
	Evicted     bool    `json:"-"`
	Posts       int64   `json:"posts"`
	Peak        float64 `json:"-"`

	// oldest is no later than the oldest time in Top, Sites and
	// MaxScores when oldestKnown: Prune then skips a state with nothing to
	// drop without walking its maps (it runs for every key at every step).
	// Not checkpointed: a restored state walks once and learns it.
	oldest      time.Time
	oldestKnown bool
	// topShared says Top's array was handed out by SharedTop: the next
	// change copies it first (copy on write), so a level per step costs no
	// copy of the evidence while it does not change.
	topShared bool
	// index counts the entries of Counted per key once it holds more than
	// countedScan, so that looking up a post that was never counted (the
	// common case: every threatening post is looked up) costs a map probe,
	// not a walk of the window. Not checkpointed: built on first use.
	index map[uint64]int32
}

// countedScan is how many entries of Counted are walked rather than
// indexed: a quiet key's few cost less to walk than a map costs to keep.
const countedScan = 32

// SharedTop returns Top for a message that keeps it. The state never
// changes the returned slice afterwards.
func (s *State) SharedTop() []msg.Contributor {
	if len(s.Top) == 0 {
		return nil
	}
	s.topShared = true
	return slices.Clip(s.Top)
}

// ownTop copies Top before a change if it was handed out.
func (s *State) ownTop() {
	if s.topShared {
		s.Top = slices.Clone(s.Top)
		s.topShared = false
	}
}

// Counted is one post's contribution to a key: its event time, weight and
// weight per signal slot as they were added to the window and history.
type Counted struct {
	Key     uint64                     `json:"k"`
	At      time.Time                  `json:"at"`
	W       float64                    `json:"w"`
	Live    bool                       `json:"live,omitempty"`
	Signals [window.NumSignals]float64 `json:"s"`
}

// PostKey is the key of a post id in State.Counted: a 64-bit FNV-1a hash,
// so remembering a post costs no copy of its id.
func PostKey(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// Count remembers the contribution c of a post counted for the first
// time (c.Key names the post).
func (s *State) Count(c Counted) {
	s.Counted = append(s.Counted, c)
	if s.index != nil {
		s.index[c.Key]++
	}
	s.seen(c.At)
}

// Recount puts c in place of what the same post added before (an edit).
func (s *State) Recount(c Counted) {
	if i := s.countedIndex(c.Key); i >= 0 {
		s.Counted[i] = c
		s.seen(c.At)
		return
	}
	s.Count(c)
}

// CountedOf returns what the post of key added to the window, if it is
// remembered.
func (s *State) CountedOf(key uint64) (Counted, bool) {
	if i := s.countedIndex(key); i >= 0 {
		return s.Counted[i], true
	}
	return Counted{}, false
}

// countedIndex looks from the newest back: an edit comes soon after its
// post more often than not.
func (s *State) countedIndex(key uint64) int {
	if len(s.Counted) > countedScan {
		if s.index == nil {
			s.index = make(map[uint64]int32, len(s.Counted))
			for _, c := range s.Counted {
				s.index[c.Key]++
			}
		}
		if s.index[key] == 0 {
			return -1
		}
	}
	for i := len(s.Counted) - 1; i >= 0; i-- {
		if s.Counted[i].Key == key {
			return i
		}
	}
	return -1
}

// ReplaceContributor puts c in place of the entry of the same post in the
// top k, if there is one (an edit of the post changed its weight).
func (s *State) ReplaceContributor(c msg.Contributor, k int) {
	if i := slices.IndexFunc(s.Top, func(o msg.Contributor) bool { return o.PostID == c.PostID }); i >= 0 {
		s.ownTop()
		s.Top = slices.Delete(s.Top, i, i+1)
	}
	if s.Admits(c.Weight, c.At, k) {
		s.AddContributor(c, k)
	}
}

// ScoreAt is a score and when it was seen.
type ScoreAt struct {
	Score float64   `json:"s"`
	At    time.Time `json:"at"`
}

// NewState returns an empty state for a window of n buckets and hist hours.
func NewState(n, hours int) *State {
	return &State{Win: window.NewSliding(n), Hist: window.NewHourly(hours), Spikes: window.NewFlags(hours), EstHour: -1 << 62, LastEmitted: -1 << 62}
}

// HourTop is the strongest posts read late into one clock hour.
type HourTop struct {
	Hour int64             `json:"h"`
	Top  []msg.Contributor `json:"top"`
}

// LateAdmits reports whether a post of weight w at t, read late into
// hour h, would enter that hour's late top k, so the caller builds its
// evidence entry only then.
func (s *State) LateAdmits(h int64, w float64, t time.Time, k int) bool {
	if k <= 0 {
		return false
	}
	for i := range s.LateTop {
		if s.LateTop[i].Hour == h {
			top := s.LateTop[i].Top
			if len(top) < k {
				return true
			}
			last := top[len(top)-1]
			return w > last.Weight || (w == last.Weight && !t.Before(last.At))
		}
	}
	return true
}

// AddLate keeps c among the k strongest posts read late into hour h, and
// forgets the hours before oldest.
func (s *State) AddLate(h int64, c msg.Contributor, k int, oldest int64) {
	s.LateTop = slices.DeleteFunc(s.LateTop, func(x HourTop) bool { return x.Hour < oldest })
	i := slices.IndexFunc(s.LateTop, func(x HourTop) bool { return x.Hour == h })
	if i < 0 {
		s.LateTop = append(s.LateTop, HourTop{Hour: h})
		i = len(s.LateTop) - 1
	}
	top := s.LateTop[i].Top
	for _, o := range top {
		if o.PostID == c.PostID {
			return
		}
	}
	j, _ := slices.BinarySearchFunc(top, c, stronger)
	if j >= k {
		return
	}
	top = slices.Insert(top, j, c)
	if len(top) > k {
		top = top[:k]
	}
	s.LateTop[i].Top = top
}

// SpanTop returns the k strongest posts from from to to (exclusive) among
// the window's and those read late, strongest first.
func (s *State) SpanTop(from, to time.Time, k int) []msg.Contributor {
	var out []msg.Contributor
	add := func(c msg.Contributor) {
		if c.At.Before(from) || !c.At.Before(to) {
			return
		}
		for _, o := range out {
			if o.PostID == c.PostID {
				return
			}
		}
		out = append(out, c)
	}
	for _, c := range s.Top {
		add(c)
	}
	for _, ht := range s.LateTop {
		for _, c := range ht.Top {
			add(c)
		}
	}
	slices.SortFunc(out, stronger)
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// Admits reports whether a post of weight w at t would enter the top k,
// so the caller builds its evidence entry only then.
func (s *State) Admits(w float64, t time.Time, k int) bool {
	if k <= 0 {
		return false
	}
	if len(s.Top) < k {
		return true
	}
	last := s.Top[len(s.Top)-1]
	return w > last.Weight || (w == last.Weight && !t.Before(last.At))
}

// AddContributor keeps c among the k strongest posts in the window.
func (s *State) AddContributor(c msg.Contributor, k int) {
	if k <= 0 {
		return
	}
	for _, o := range s.Top {
		if o.PostID == c.PostID {
			return
		}
	}
	i, _ := slices.BinarySearchFunc(s.Top, c, stronger)
	if i >= k {
		return
	}
	s.seen(c.At)
	s.ownTop()
	s.Top = slices.Insert(s.Top, i, c)
	if len(s.Top) > k {
		s.Top = s.Top[:k]
	}
}

// stronger orders contributors strongest first, then newest, then by id,
// so the order never depends on arrival.
func stronger(a, b msg.Contributor) int {
	switch {
	case a.Weight > b.Weight:
		return -1
	case a.Weight < b.Weight:
		return 1
	case a.At.After(b.At):
		return -1
	case a.At.Before(b.At):
		return 1
	}
	switch {
	case a.PostID < b.PostID:
		return -1
	case a.PostID > b.PostID:
		return 1
	}
	return 0
}

// AddSite notes that a post of the key came from site at t (targets).
func (s *State) AddSite(site string, t time.Time) {
	if s.Sites == nil {
		s.Sites = map[string]time.Time{}
	}
	if site != "" {
		s.seen(t)
		s.Sites[site] = t
	}
}

// AddScores keeps, per signal, the highest score of a post in the window
// and its time, and the later, lower ones that follow it (targets). The
// first call makes the map; later ones only update it.
func (s *State) AddScores(scores map[msg.Signal]float64, t time.Time) {
	if s.MaxScores == nil {
		s.MaxScores = make(map[msg.Signal]ScoreAt, len(scores))
	}
	for sig, v := range scores {
		cur, ok := s.MaxScores[sig]
		if !ok {
			s.seen(t)
			s.MaxScores[sig] = ScoreAt{Score: v, At: t}
			continue
		}
		lower := s.LowerScores[sig]
		if len(lower) == 0 && v >= cur.Score && !t.Before(cur.At) {
			// The common case: a new highest, nothing below it.
			s.seen(t)
			s.MaxScores[sig] = ScoreAt{Score: v, At: t}
			continue
		}
		steps := make([]ScoreAt, 0, 1+len(lower)+1)
		steps = append(append(steps, cur), lower...)
		steps, changed := addStep(steps, ScoreAt{Score: v, At: t})
		if !changed {
			continue
		}
		s.seen(t)
		s.setSteps(sig, steps)
	}
}

// maxLowerScores bounds the scores kept below a signal's highest. Scores
// in random order leave about ln(n) of n posts; only a long run of ever lower
// scores comes near it, and then the newest, lowest are dropped.
const maxLowerScores = 32

// addStep adds c to steps (time ascending, score descending: no entry is
// both earlier and lower than another) and reports whether it changed
// them: c is left out when an entry at least as high is no earlier, and
// the entries it outdoes (no higher, no later) are removed.
func addStep(steps []ScoreAt, c ScoreAt) ([]ScoreAt, bool) {
	for _, o := range steps {
		if o.Score >= c.Score && !o.At.Before(c.At) {
			return steps, false
		}
	}
	steps = slices.DeleteFunc(steps, func(o ScoreAt) bool { return o.Score <= c.Score && !o.At.After(c.At) })
	i, _ := slices.BinarySearchFunc(steps, c, func(a, b ScoreAt) int { return a.At.Compare(b.At) })
	steps = slices.Insert(steps, i, c)
	if len(steps) > 1+maxLowerScores {
		steps = steps[:1+maxLowerScores]
	}
	return steps, true
}

// setSteps stores a signal's steps: the first is the highest.
func (s *State) setSteps(sig msg.Signal, steps []ScoreAt) {
	if len(steps) == 0 {
		delete(s.MaxScores, sig)
		delete(s.LowerScores, sig)
		return
	}
	s.MaxScores[sig] = steps[0]
	if len(steps) == 1 {
		delete(s.LowerScores, sig)
		return
	}
	if s.LowerScores == nil {
		s.LowerScores = map[msg.Signal][]ScoreAt{}
	}
	s.LowerScores[sig] = steps[1:]
}

// seen lowers the oldest-entry bound to t.
func (s *State) seen(t time.Time) {
	if s.oldestKnown && t.Before(s.oldest) {
		s.oldest = t
	}
}

// Prune drops contributors, sites, max scores and counted posts older than
// since.
func (s *State) Prune(since time.Time) {
	if s.oldestKnown && !s.oldest.Before(since) {
		return
	}
	old := func(c msg.Contributor) bool { return c.At.Before(since) }
	if slices.ContainsFunc(s.Top, old) {
		s.ownTop()
		s.Top = slices.DeleteFunc(s.Top, old)
	}
	oldest := maxTime
	for _, c := range s.Top {
		oldest = minTime(oldest, c.At)
	}
	for site, t := range s.Sites {
		if t.Before(since) {
			delete(s.Sites, site)
		} else {
			oldest = minTime(oldest, t)
		}
	}
	kept := s.Counted[:0]
	for _, c := range s.Counted {
		if !c.At.Before(since) {
			kept = append(kept, c)
			oldest = minTime(oldest, c.At)
		} else if s.index != nil {
			if s.index[c.Key]--; s.index[c.Key] <= 0 {
				delete(s.index, c.Key)
			}
		}
	}
	clear(s.Counted[len(kept):])
	s.Counted = kept
	if len(s.Counted) == 0 {
		s.Counted = nil
	}
	if len(s.Counted) <= countedScan {
		s.index = nil
	}
	for sig, v := range s.MaxScores {
		if !v.At.Before(since) {
			oldest = minTime(oldest, v.At)
			continue
		}
		// The highest left the window: the next lower one still in it
		// takes its place (they are in time order).
		lower := s.LowerScores[sig]
		i := 0
		for i < len(lower) && lower[i].At.Before(since) {
			i++
		}
		s.setSteps(sig, lower[i:])
		if i < len(lower) {
			oldest = minTime(oldest, lower[i].At)
		}
	}
	s.oldest, s.oldestKnown = oldest, true
}

// maxTime is later than any event time.
var maxTime = time.Unix(1<<62, 0)

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
