package replay

import (
	"container/heap"
	"hash/maphash"
	"io"
	"time"
)

// The ordering rule of a replay (docs/replay.md explains it for users):
//
//  1. Each input (a file, a Kafka partition) is read in its own order and
//     passed through a reorder buffer that holds records until the input
//     has moved Window past them in event time, and releases them sorted by
//     (event time, post id, input, line or offset). An input that is sorted,
//     or out of order by less than Window, comes out sorted.
//  2. The inputs are merged k-way on that same key.
//  3. A record whose post id was already replayed within DedupWindow of
//     event time (of its last copy) is a duplicate and is skipped; the
//     first one in replay order wins.
//
// Every step is a function of the input bytes alone: not of the number of
// decoding goroutines, the chunk sizes, the machine or the wall clock. So
// the engine sees the same sequence every time, and its outputs are
// byte-identical. A record later than Window in its input stays late (it is
// released as soon as it is read, behind records of greater time) and the
// engine treats it as the live stage would treat a late post.
//
// Memory: a reorder buffer holds the records of Window of event time per
// input, the dedup set the ids of DedupWindow (the live dedup_ttl, a week
// by default); neither grows with the length of the replay.

// recordHeap is a min-heap of records in replay order.
type recordHeap []*Record

func (h recordHeap) Len() int           { return len(h) }
func (h recordHeap) Less(i, j int) bool { return h[i].less(h[j]) }
func (h recordHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recordHeap) Push(x any)        { *h = append(*h, x.(*Record)) }
func (h *recordHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// reorder sorts one input within a window of event time.
//
// Records that arrive in order (nearly all, in a sorted input) wait in a
// FIFO, which is sorted by construction; only those that arrive behind
// the FIFO's newest go into the heap. The next record out is the lesser of
// the two heads: the same sequence a single heap gives, since less is a
// total order, without a heap push and pop per record.
type reorder struct {
	in      func() (*Record, error)
	window  time.Duration
	h       recordHeap
	fifo    []*Record
	head    int // fifo[head:] are waiting
	maxSeen time.Time
	last    time.Time // time of the last record released
	eof     bool
	late    int64 // records released behind an already released later one
	maxHeld int
}

func newReorder(in func() (*Record, error), window time.Duration) *reorder {
	return &reorder{in: in, window: window}
}

// next returns the next record in replay order, or io.EOF.
func (r *reorder) next() (*Record, error) {
	for !r.eof {
		if m := r.min(); m != nil && !m.Time.After(r.maxSeen.Add(-r.window)) {
			break
		}
		rec, err := r.in()
		if err == io.EOF {
			r.eof = true
			break
		}
		if err != nil {
			return nil, err
		}
		if rec.Time.After(r.maxSeen) {
			r.maxSeen = rec.Time
		}
		if n := len(r.fifo); n == r.head || r.fifo[n-1].less(rec) {
			r.fifo = append(r.fifo, rec)
		} else {
			heap.Push(&r.h, rec)
		}
		r.maxHeld = max(r.maxHeld, len(r.h)+len(r.fifo)-r.head)
	}
	rec := r.pop()
	if rec == nil {
		return nil, io.EOF
	}
	if rec.Time.Before(r.last) {
		r.late++
	} else {
		r.last = rec.Time
	}
	return rec, nil
}

// min is the next record in order, nil when none is held.
func (r *reorder) min() *Record {
	var m *Record
	if r.head < len(r.fifo) {
		m = r.fifo[r.head]
	}
	if len(r.h) > 0 && (m == nil || r.h[0].less(m)) {
		m = r.h[0]
	}
	return m
}

// pop removes and returns min.
func (r *reorder) pop() *Record {
	m := r.min()
	switch {
	case m == nil:
		return nil
	case len(r.h) > 0 && m == r.h[0]:
		heap.Pop(&r.h)
	default:
		r.fifo[r.head] = nil
		r.head++
		if r.head == len(r.fifo) {
			r.fifo, r.head = r.fifo[:0], 0
		} else if r.head >= 4096 && r.head*2 >= len(r.fifo) {
			// Slide the waiting records down so the FIFO does not grow.
			n := copy(r.fifo, r.fifo[r.head:])
			clear(r.fifo[n:])
			r.fifo, r.head = r.fifo[:n], 0
		}
	}
	return m
}

// merger merges inputs on the replay order.
type merger struct {
	ins   []*reorder
	heads []*Record
	h     mergeHeap
	init  bool
}

type mergeHeap struct {
	idx   []int
	heads []*Record
}

func (m mergeHeap) Len() int           { return len(m.idx) }
func (m mergeHeap) Less(i, j int) bool { return m.heads[m.idx[i]].less(m.heads[m.idx[j]]) }
func (m mergeHeap) Swap(i, j int)      { m.idx[i], m.idx[j] = m.idx[j], m.idx[i] }
func (m *mergeHeap) Push(x any)        { m.idx = append(m.idx, x.(int)) }
func (m *mergeHeap) Pop() any {
	n := len(m.idx)
	x := m.idx[n-1]
	m.idx = m.idx[:n-1]
	return x
}

func newMerger(ins []*reorder) *merger {
	m := &merger{ins: ins, heads: make([]*Record, len(ins))}
	m.h.heads = m.heads
	return m
}

func (m *merger) next() (*Record, error) {
	if len(m.ins) == 1 {
		return m.ins[0].next()
	}
	if !m.init {
		m.init = true
		for i, in := range m.ins {
			rec, err := in.next()
			if err == io.EOF {
				continue
			}
			if err != nil {
				return nil, err
			}
			m.heads[i] = rec
			m.h.idx = append(m.h.idx, i)
		}
		heap.Init(&m.h)
	}
	if m.h.Len() == 0 {
		return nil, io.EOF
	}
	i := m.h.idx[0]
	rec := m.heads[i]
	nxt, err := m.ins[i].next()
	switch {
	case err == io.EOF:
		m.heads[i] = nil
		heap.Pop(&m.h)
	case err != nil:
		return nil, err
	default:
		m.heads[i] = nxt
		heap.Fix(&m.h, 0)
	}
	return rec, nil
}

// late sums the late records of every input.
func (m *merger) late() int64 {
	var n int64
	for _, in := range m.ins {
		n += in.late
	}
	return n
}

// dedup remembers the post ids replayed within a window of event time: the
// live stages' runner.dedup_ttl, so that a post sent again days later
// counts once in a replay as it did live.
//
// It keeps a 128-bit hash of each id rather than the id: an open-addressing
// table of fixed-size entries costs no allocation per post and pins no
// decoded line. Two ids collide with probability about 2^-128 per pair, so
// a replay of the 10^6 ids a week's window holds, over 10^8 posts, drops a
// post that is not a duplicate with probability under 10^-23.
//
// Memory is bounded by the most ids one window of event time held, not by
// the length of the replay: ids expire in the order they were replayed
// (event order, up to late posts, which wait behind the posts replayed
// before them for at most one more window), and neither the table nor the
// ring shrinks. An entry is 24 bytes; the table is kept between 3/8 and 3/4
// full and the ring (an entry per id, and per later copy of one) at least
// half full at its peak, so an id costs 56 to 112 bytes: 101 MB measured
// for the 1.2 million ids of a week at two posts a second.
type dedup struct {
	window int64 // nanoseconds
	seed   [2]maphash.Seed
	slots  []dedupEntry // linear probing; len a power of two
	n      int          // entries in slots
	fifo   dedupRing    // replay order, for expiry
}

// dedupRing is a FIFO of entries in a ring buffer: its capacity stays
// within twice the entries it holds, where a slice compacted now and then
// held up to four times as many.
type dedupRing struct {
	buf     []dedupEntry // len a power of two, or 0
	head, n int
}

func (r *dedupRing) push(e dedupEntry) {
	if r.n == len(r.buf) {
		buf := make([]dedupEntry, max(1024, 2*len(r.buf)))
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = e
	r.n++
}

// front returns the oldest entry; ok is false when the ring is empty.
func (r *dedupRing) front() (e dedupEntry, ok bool) {
	if r.n == 0 {
		return dedupEntry{}, false
	}
	return r.buf[r.head], true
}

func (r *dedupRing) pop() {
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
}

type dedupEntry struct {
	h [2]uint64 // h[0] == 0: an empty slot
	t int64     // event time, Unix nanoseconds
}

func newDedup(window time.Duration) *dedup {
	return &dedup{window: int64(window), seed: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, slots: make([]dedupEntry, 1024)}
}

func (d *dedup) hash(id string) [2]uint64 {
	h := [2]uint64{maphash.String(d.seed[0], id), maphash.String(d.seed[1], id)}
	if h[0] == 0 {
		h[0] = 1 // 0 marks an empty slot
	}
	return h
}

// find returns the slot of h, or of the empty slot where it would go.
func (d *dedup) find(h [2]uint64) int {
	mask := len(d.slots) - 1
	for i := int(h[0]) & mask; ; i = (i + 1) & mask {
		if d.slots[i].h[0] == 0 || d.slots[i].h == h {
			return i
		}
	}
}

// remove empties slot i, moving later entries of its probe run back so
// that every entry stays reachable from its home slot.
func (d *dedup) remove(i int) {
	mask := len(d.slots) - 1
	d.slots[i] = dedupEntry{}
	d.n--
	for j := (i + 1) & mask; d.slots[j].h[0] != 0; j = (j + 1) & mask {
		home := int(d.slots[j].h[0]) & mask
		// Move j back to i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			d.slots[i], d.slots[j] = d.slots[j], dedupEntry{}
			i = j
		}
	}
}

func (d *dedup) grow() {
	old := d.slots
	d.slots, d.n = make([]dedupEntry, 2*len(old)), 0
	for _, e := range old {
		if e.h[0] != 0 {
			d.slots[d.find(e.h)] = e
			d.n++
		}
	}
}

// duplicate reports whether id was replayed within the window of t, and
// remembers it for a window from t either way: live, every copy of a post
// marks its id again for runner.dedup_ttl, so a post sent again and again
// is forgotten a window after its last copy, not its first.
func (d *dedup) duplicate(id string, at time.Time) bool {
	t := at.UnixNano()
	// Forget ids that fell out of the window (the fifo is in replay order,
	// which is event order up to late records: good enough to bound it).
	cut := t - d.window
	for e, ok := d.fifo.front(); ok && e.t < cut; e, ok = d.fifo.front() {
		// An entry refreshed by a later copy stays until that copy's turn.
		if i := d.find(e.h); d.slots[i].h[0] != 0 && d.slots[i].t == e.t {
			d.remove(i)
		}
		d.fifo.pop()
	}
	h := d.hash(id)
	i := d.find(h)
	if d.slots[i].h[0] != 0 {
		prev := d.slots[i].t
		if diff := t - prev; diff <= d.window && -diff <= d.window {
			if t > prev {
				d.slots[i].t = t
				d.fifo.push(dedupEntry{h: h, t: t})
			}
			return true
		}
		d.slots[i].t = t
	} else {
		if 4*(d.n+1) > 3*len(d.slots) {
			d.grow()
			i = d.find(h)
		}
		d.slots[i] = dedupEntry{h: h, t: t}
		d.n++
	}
	d.fifo.push(dedupEntry{h: h, t: t})
	return false
}

// size is the number of ids remembered.
func (d *dedup) size() int { return d.n }
