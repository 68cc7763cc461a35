package replay

import (
	"container/heap"
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
//     event time is a duplicate and is skipped; the first one in replay
//     order wins.
//
// Every step is a function of the input bytes alone: not of the number of
// decoding goroutines, the chunk sizes, the machine or the wall clock. So
// the engine sees the same sequence every time, and its outputs are
// byte-identical. A record later than Window in its input stays late (it is
// released as soon as it is read, behind records of greater time) and the
// engine treats it as the live stage would treat a late post.
//
// Memory: a reorder buffer holds the records of Window of event time per
// input, the dedup set the ids of DedupWindow; neither grows with the
// length of the replay.

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
type reorder struct {
	in      func() (*Record, error)
	window  time.Duration
	h       recordHeap
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
		if len(r.h) > 0 && !r.h[0].Time.After(r.maxSeen.Add(-r.window)) {
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
		heap.Push(&r.h, rec)
		r.maxHeld = max(r.maxHeld, len(r.h))
	}
	if len(r.h) == 0 {
		return nil, io.EOF
	}
	rec := heap.Pop(&r.h).(*Record)
	if rec.Time.Before(r.last) {
		r.late++
	} else {
		r.last = rec.Time
	}
	return rec, nil
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

// dedup remembers the post ids replayed within a window of event time.
type dedup struct {
	window time.Duration
	seen   map[string]time.Time
	fifo   []dedupEntry
	head   int
}

type dedupEntry struct {
	id string
	t  time.Time
}

func newDedup(window time.Duration) *dedup {
	return &dedup{window: window, seen: map[string]time.Time{}}
}

// duplicate reports whether id was replayed within the window before t,
// and remembers it otherwise.
func (d *dedup) duplicate(id string, t time.Time) bool {
	// Forget ids that fell out of the window (the fifo is in replay order,
	// which is event order up to late records: good enough to bound it).
	cut := t.Add(-d.window)
	for d.head < len(d.fifo) && d.fifo[d.head].t.Before(cut) {
		e := d.fifo[d.head]
		if st, ok := d.seen[e.id]; ok && st.Equal(e.t) {
			delete(d.seen, e.id)
		}
		d.fifo[d.head] = dedupEntry{}
		d.head++
	}
	if d.head > 4096 && d.head*2 > len(d.fifo) {
		d.fifo = append(d.fifo[:0:0], d.fifo[d.head:]...)
		d.head = 0
	}
	if st, ok := d.seen[id]; ok {
		diff := t.Sub(st)
		if diff < 0 {
			diff = -diff
		}
		if diff <= d.window {
			return true
		}
	}
	d.seen[id] = t
	d.fifo = append(d.fifo, dedupEntry{id: id, t: t})
	return false
}

// size is the number of ids remembered.
func (d *dedup) size() int { return len(d.seen) }
