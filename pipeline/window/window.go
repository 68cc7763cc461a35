// Package window holds the event-time windows levels are computed over:
// a sliding window of fixed-width buckets (Kafka Streams' hopping window
// with a hop of one bucket) for the live level, and an hourly ring of
// tumbling-window totals for the baseline history. Both are pure values:
// no I/O, no clock, no goroutines, no allocation after construction, and
// every field is exported so a key's state can be checkpointed as is.
//
// Time is given as bucket (or hour) indices: t.UnixNano() / width. Callers
// pick the width once; a ring never sees a time.Time.
package window

import "math"

// NumSignals is how many per-signal sums a bucket keeps. The aggregator
// maps msg.Signals onto these slots; a build with more signals than slots
// fails at construction, not silently.
const NumSignals = 4

// Bucket is the weight that fell into one step of event time.
type Bucket struct {
	// Total is every counted post's weight, live or not.
	Total float64 `json:"t,omitempty"`
	// Live is the weight of posts that may page: neither backfill nor
	// late. Detection looks at Live; history at Total.
	Live float64 `json:"l,omitempty"`
	// Signals is the weight per signal slot (live posts only).
	Signals [NumSignals]float64 `json:"s,omitempty"`
	// Posts counts live posts.
	Posts int32 `json:"n,omitempty"`
}

func (b *Bucket) add(o *Bucket) {
	b.Total += o.Total
	b.Live += o.Live
	for i := range b.Signals {
		b.Signals[i] += o.Signals[i]
	}
	b.Posts += o.Posts
}

// Sliding is a sliding window of N buckets; the newest is Head. The window
// at event time t (in bucket Head) covers buckets Head-N+1..Head.
type Sliding struct {
	N       int      `json:"n"`
	Head    int64    `json:"head"`
	Buckets []Bucket `json:"b"`
	// Sum is the sum of Buckets, kept so a level reads in O(1).
	Sum Bucket `json:"sum"`
}

// NewSliding returns a window of n buckets (n >= 1) starting empty.
func NewSliding(n int) *Sliding {
	if n < 1 {
		n = 1
	}
	return &Sliding{N: n, Head: math.MinInt64, Buckets: make([]Bucket, n)}
}

// Started reports whether the window has seen any time at all.
func (s *Sliding) Started() bool { return s.Head != math.MinInt64 }

// Advance moves the head to bucket idx, emptying the buckets that enter
// the window. Moving backwards does nothing: event time only grows.
func (s *Sliding) Advance(idx int64) {
	if !s.Started() {
		s.Head = idx
		return
	}
	if idx <= s.Head {
		return
	}
	if idx-s.Head >= int64(s.N) {
		clear(s.Buckets)
		s.Sum = Bucket{}
		s.Head = idx
		return
	}
	for i := s.Head + 1; i <= idx; i++ {
		s.Buckets[s.slot(i)] = Bucket{}
	}
	s.Head = idx
	// Recomputed rather than subtracted, so rounding never leaves a
	// silent window at -1e-15.
	s.Sum = Bucket{}
	for i := range s.Buckets {
		s.Sum.add(&s.Buckets[i])
	}
}

// Add adds b to bucket idx, advancing first if idx is ahead of the head.
// It reports false, changing nothing, when idx has already left the window.
func (s *Sliding) Add(idx int64, b Bucket) bool {
	s.Advance(idx)
	if idx <= s.Head-int64(s.N) {
		return false
	}
	s.Buckets[s.slot(idx)].add(&b)
	s.Sum.add(&b)
	return true
}

// Contains reports whether bucket idx is inside the window.
func (s *Sliding) Contains(idx int64) bool {
	return s.Started() && idx <= s.Head && idx > s.Head-int64(s.N)
}

// Slot is the index in Buckets of bucket idx.
func (s *Sliding) Slot(idx int64) int { return s.slot(idx) }

func (s *Sliding) slot(i int64) int {
	m := i % int64(s.N)
	if m < 0 {
		m += int64(s.N)
	}
	return int(m)
}

// Hourly is a ring of hourly totals: the history a baseline is computed
// from. Hours before Since were never observed and are not zeros.
type Hourly struct {
	Head   int64     `json:"head"`
	Since  int64     `json:"since"`
	Values []float32 `json:"v"`
}

// NewHourly returns a ring of n hours, empty.
func NewHourly(n int) *Hourly {
	if n < 1 {
		n = 1
	}
	return &Hourly{Head: math.MinInt64, Since: math.MinInt64, Values: make([]float32, n)}
}

// Len is the ring's capacity in hours.
func (h *Hourly) Len() int { return len(h.Values) }

// Started reports whether any hour was observed.
func (h *Hourly) Started() bool { return h.Head != math.MinInt64 }

// Advance moves the newest hour to idx, zeroing hours that enter the ring
// (an hour with no posts is a known zero).
func (h *Hourly) Advance(idx int64) {
	if !h.Started() {
		h.Head, h.Since = idx, idx
		return
	}
	if idx <= h.Head {
		return
	}
	n := int64(len(h.Values))
	if idx-h.Head >= n {
		clear(h.Values)
	} else {
		for i := h.Head + 1; i <= idx; i++ {
			h.Values[h.slot(i)] = 0
		}
	}
	h.Head = idx
}

// Add adds w to hour idx. Hours ahead advance the ring; hours already out
// of it, or before it started, are dropped (false).
func (h *Hourly) Add(idx int64, w float64) bool {
	if !h.Started() {
		h.Advance(idx)
	}
	if idx > h.Head {
		h.Advance(idx)
	}
	if idx <= h.Head-int64(len(h.Values)) {
		return false
	}
	if idx < h.Since {
		// Older than anything seen (a backfill reaching back): the hours
		// between become known zeros.
		h.Since = max(idx, h.Head-int64(len(h.Values))+1)
	}
	h.Values[h.slot(idx)] += float32(w)
	return true
}

// At returns hour idx's total and whether it is known (observed and still
// in the ring).
func (h *Hourly) At(idx int64) (float64, bool) {
	if !h.Started() || idx > h.Head || idx < h.Since || idx <= h.Head-int64(len(h.Values)) {
		return 0, false
	}
	return float64(h.Values[h.slot(idx)]), true
}

// Observed is how many hours of history are known up to and including hour
// idx (capped by the ring).
func (h *Hourly) Observed(idx int64) int64 {
	if !h.Started() || idx < h.Since {
		return 0
	}
	return min(idx-h.Since+1, int64(len(h.Values)))
}

func (h *Hourly) slot(i int64) int {
	m := i % int64(len(h.Values))
	if m < 0 {
		m += int64(len(h.Values))
	}
	return int(m)
}

// Flags is a ring of one bit per hour, for hours the caller marks (the
// aggregator marks the hours in which a key's spike condition held, so the
// detector can leave them out of what it learns as normal). An hour that
// left the ring, or was never marked, reads false.
type Flags struct {
	Head int64    `json:"head"`
	N    int      `json:"n"`
	Bits []uint64 `json:"bits"`
}

// NewFlags returns a ring of n hours, all clear.
func NewFlags(n int) *Flags {
	if n < 1 {
		n = 1
	}
	return &Flags{Head: math.MinInt64, N: n, Bits: make([]uint64, (n+63)/64)}
}

// Advance moves the newest hour to idx, clearing hours that enter the ring.
func (f *Flags) Advance(idx int64) {
	if f.Head == math.MinInt64 || idx-f.Head >= int64(f.N) {
		clear(f.Bits)
		f.Head = idx
		return
	}
	for i := f.Head + 1; i <= idx; i++ {
		s := f.slot(i)
		f.Bits[s/64] &^= 1 << (s % 64)
	}
	f.Head = max(f.Head, idx)
}

// Set marks hour idx (advancing the ring when idx is ahead; an hour already
// out of the ring is ignored).
func (f *Flags) Set(idx int64) {
	if f.Head == math.MinInt64 || idx > f.Head {
		f.Advance(idx)
	}
	if idx <= f.Head-int64(f.N) {
		return
	}
	s := f.slot(idx)
	f.Bits[s/64] |= 1 << (s % 64)
}

// Has reports whether hour idx is marked.
func (f *Flags) Has(idx int64) bool {
	if f == nil || f.Head == math.MinInt64 || idx > f.Head || idx <= f.Head-int64(f.N) {
		return false
	}
	s := f.slot(idx)
	return f.Bits[s/64]&(1<<(s%64)) != 0
}

func (f *Flags) slot(i int64) int {
	m := i % int64(f.N)
	if m < 0 {
		m += int64(f.N)
	}
	return int(m)
}
