// Package replay runs historical streams of posts through the real
// aggregation and alert code, deterministically and without paging anyone.
//
// Inputs are JSON-lines files (plain, gzip or zstd) or a slice of a Kafka
// topic chosen by time. Raw posts are scored by the classifiers first;
// posts that already carry scores are only re-aggregated, unless the
// caller asks to re-score them. Every record is placed in event time by the
// ordering rule in order.go, duplicates are dropped, and the engine's clock
// is advanced on event time only: the wall clock never enters a replay, so
// the same input and configuration always give byte-identical alerts and
// levels, whatever the parallelism.
//
// Several lanes can run over one pass of the input (a what-if comparison of
// two configurations); each has its own engine, scorer and sinks. Alerts a
// replay produces carry Replay=true, and replay never touches a notifier.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Options tune a replay. The zero value of each field has a sensible
// default; none of them changes the outputs except From, To, Warmup, Step,
// Tail, Window, DedupWindow and Rescore.
type Options struct {
	// From and To bound the replay in event time, [From, To); zero: open.
	From, To time.Time
	// Warmup, with From, applies the posts of this stretch before From to
	// the engines first and drops what they emit before From: live, a key
	// had its history when From came, and without it a replay starts with
	// empty baselines and cannot page until each key has learnt again
	// (aggregate.baseline.learning). config.Aggregate.RebuildSpan is the
	// history the engine uses. 0: none.
	Warmup time.Duration
	// Step is the engine's clock step: Advance is called at every multiple
	// of Step of event time (the aggregate step). 0: never.
	Step time.Duration
	// Tail keeps the clock running this long after the last post (or up
	// to To when set), so a site that went dark is seen decaying.
	Tail time.Duration
	// Window is the reorder window per input (the aggregate grace period).
	Window time.Duration
	// DedupWindow is how far apart in event time two copies of a post id
	// are still recognised as duplicates: the live stages' runner.dedup_ttl
	// (FromConfig). Default: that of the default configuration (7 days).
	DedupWindow time.Duration
	// Rescore scores posts that already carry scores again.
	Rescore bool
	// Workers is the number of decoding and scoring goroutines. Default:
	// GOMAXPROCS. It does not change the outputs.
	Workers int
	// ChunkLines is the number of lines decoded as one unit. Default 512.
	// It does not change the outputs.
	ChunkLines int
	// BatchSize is the number of records scored as one unit. Default 64.
	// It does not change the outputs.
	BatchSize int
	// OnBadLine is told about every input line that was skipped (with its
	// file and line number, or partition and offset), in input order.
	OnBadLine func(*msg.LineError)
	// Progress, when set, is kept up to date for a progress display.
	Progress *Progress
}

func (o *Options) setDefaults() {
	if o.DedupWindow <= 0 {
		o.DedupWindow = config.Default().Runner.DedupTTL
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ChunkLines <= 0 {
		o.ChunkLines = 512
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
}

// Sink receives a lane's outputs in the order the engine emits them.
type Sink interface {
	Level(l *msg.Level) error
	Alert(a *msg.Alert) error
}

// Lane is one configuration replayed: an engine, the scorer for raw posts
// (may be nil when every input carries scores and Rescore is off), and
// where its outputs go.
type Lane struct {
	Name   string
	Engine Engine
	Scorer Scorer
	Sinks  []Sink
	// Levels and Alerts count what the lane emitted.
	Levels, Alerts int64
}

// Stats says what a replay read and did.
type Stats struct {
	// Records is the number of posts replayed (after dedup and range).
	Records int64
	// Scored is the number of posts the classifiers scored.
	Scored int64
	// BadLines were skipped and reported through OnBadLine.
	BadLines int64
	// Duplicates were skipped as copies of a post already replayed.
	Duplicates int64
	// OutOfRange were outside [From, To) and not in the warm-up.
	OutOfRange int64
	// Warmup were the posts before From applied as history (Options.Warmup);
	// they are not in Records.
	Warmup int64
	// Late were later than the reorder window in their input: the engine
	// saw them behind newer posts, as the live stage would have.
	Late int64
	// ScoreErrors were posts the classifiers refused (reported as bad lines).
	ScoreErrors int64
	// First and Last are the event times of the first and last post replayed.
	First, Last time.Time
	// HistoryFirst is the event time of the earliest post the engines saw,
	// the warm-up's included: where their baselines started
	// (BaselineNotes).
	HistoryFirst time.Time
	// End is the engine's clock at the end (Last, or To, plus Tail).
	End time.Time
	// MaxReorderHeld is the most records any reorder buffer held at once.
	MaxReorderHeld int
	// DedupHeld is the number of post ids remembered at the end.
	DedupHeld int
	// Elapsed is the wall time the replay took (for the rate shown; never
	// written into any output).
	Elapsed time.Duration
}

// PerSecond is the replay rate.
func (s Stats) PerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Records) / s.Elapsed.Seconds()
}

// ErrNoScorer reports raw posts in a replay that has no classifiers.
var ErrNoScorer = errors.New("raw posts need the classifiers, and none were given")

// batch is a run of records handed to the scoring workers.
type batch struct {
	recs []*Record
	// scored[i][k] is record i scored by lane k (nil: use the record's own).
	scored [][]*msg.Scored
	bad    []*msg.LineError
	done   chan struct{}
}

// scoredFor is record i's scored post for lane k: the lane's own scoring
// of a raw post, else the record's.
func (b *batch) scoredFor(i, k int) (*msg.Scored, error) {
	s := b.recs[i].Scored
	if b.scored != nil && b.scored[i][k] != nil {
		s = b.scored[i][k]
	}
	if s == nil {
		return nil, ErrNoScorer
	}
	return s, nil
}

// Run replays src through lanes and closes src. It returns when the input
// is exhausted, ctx ends, or a sink fails.
func Run(ctx context.Context, src *Source, o Options, lanes ...*Lane) (Stats, error) {
	o.setDefaults()
	start := time.Now()
	defer src.Close()
	if len(lanes) == 0 {
		return Stats{}, errors.New("replay needs at least one lane")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var st Stats
	var badLines atomic.Int64
	onBad := func(le *msg.LineError) {
		badLines.Add(1)
		if o.OnBadLine != nil {
			o.OnBadLine(le)
		}
	}
	if o.Progress != nil {
		o.Progress.begin(src)
	}

	pool := newDecoderPool(o.Workers)
	streams := make([]*stream, len(src.inputs))
	reorders := make([]*reorder, len(src.inputs))
	prefetch := max(1, 4*o.Workers/max(1, len(src.inputs)))
	for i, in := range src.inputs {
		streams[i] = startStream(ctx, in, i, pool, streamOptions{chunkLines: o.ChunkLines, prefetch: prefetch, keepRaw: src.keepRaw, onBad: onBad})
		reorders[i] = newReorder(streams[i].next, o.Window)
	}
	defer func() {
		cancel()
		for _, s := range streams {
			_ = s.close()
		}
		pool.close()
	}()
	m := newMerger(reorders)
	dd := newDedup(o.DedupWindow)

	// Scorers shared between lanes score once.
	scorerOf := make([]int, len(lanes))
	var scorers []Scorer
	for k, l := range lanes {
		scorerOf[k] = -1
		if l.Scorer == nil {
			continue
		}
		for j, s := range scorers {
			if s == l.Scorer {
				scorerOf[k] = j
			}
		}
		if scorerOf[k] < 0 {
			scorers = append(scorers, l.Scorer)
			scorerOf[k] = len(scorers) - 1
		}
	}

	// Stage 1 (one goroutine): merge, range, dedup, batch.
	ordered := make(chan *batch, 2*o.Workers+2)
	work := make(chan *batch, 2*o.Workers+2)
	var readErr error
	var stage1 sync.WaitGroup
	stage1.Add(1)
	go func() {
		defer stage1.Done()
		defer close(ordered)
		defer close(work)
		b := &batch{done: make(chan struct{})}
		flush := func() bool {
			if len(b.recs) == 0 {
				return true
			}
			select {
			case ordered <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- b:
			case <-ctx.Done():
				return false
			}
			b = &batch{done: make(chan struct{})}
			return true
		}
		for {
			rec, err := m.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				readErr = err
				break
			}
			if (!o.From.IsZero() && rec.Time.Before(o.From.Add(-max(o.Warmup, 0)))) || (!o.To.IsZero() && !rec.Time.Before(o.To)) {
				st.OutOfRange++
				continue
			}
			if dd.duplicate(rec.dedupID, rec.Time) {
				st.Duplicates++
				continue
			}
			b.recs = append(b.recs, rec)
			if len(b.recs) >= o.BatchSize && !flush() {
				return
			}
		}
		flush()
		st.Late = m.late()
		for _, r := range reorders {
			st.MaxReorderHeld = max(st.MaxReorderHeld, r.maxHeld)
		}
		st.DedupHeld = dd.size()
	}()

	// Stage 2 (Workers goroutines): score what needs scoring.
	var scoredN, scoreErrs atomic.Int64
	var fatalOnce sync.Once
	var fatal error
	var stage2 sync.WaitGroup
	for range o.Workers {
		stage2.Add(1)
		go func() {
			defer stage2.Done()
			for b := range work {
				if err := scoreBatch(ctx, b, src, lanes, scorers, scorerOf, o.Rescore, &scoredN, &scoreErrs); err != nil {
					fatalOnce.Do(func() { fatal = err })
					cancel()
				}
				close(b.done)
			}
		}()
	}

	// Stage 3 (this goroutine): drive the engines in replay order.
	// Stage 4 (a goroutine per lane): hand the outputs to the sinks, in
	// order, so encoding and writing run beside the engine.
	d := &driver{lanes: lanes, step: o.Step}
	if o.Warmup > 0 {
		d.from = o.From
	}
	for _, l := range lanes {
		d.ds = append(d.ds, startDispatch(l))
	}
	defer d.stop()
	var sinkErr error
	for b := range ordered {
		<-b.done
		if ctx.Err() != nil {
			break
		}
		if err := d.flush(); err != nil {
			sinkErr = err
			break
		}
		for _, le := range b.bad {
			onBad(le)
		}
		for i, rec := range b.recs {
			if b.scored != nil && b.scored[i] == nil {
				continue // refused by the classifiers; reported above
			}
			d.advanceTo(rec.Time)
			if st.HistoryFirst.IsZero() || rec.Time.Before(st.HistoryFirst) {
				st.HistoryFirst = rec.Time
			}
			warm := !d.from.IsZero() && rec.Time.Before(d.from)
			if warm {
				// History for the engines only: not replayed, not observed.
				for k, l := range lanes {
					s, err := b.scoredFor(i, k)
					if err != nil {
						sinkErr = fmt.Errorf("lane %s: %s:%d: %w", l.Name, src.nameOf(rec.src), rec.seq, err)
						break
					}
					d.emit(k, l.Engine.Add(s))
				}
				if sinkErr != nil {
					break
				}
				st.Warmup++
				continue
			}
			if st.First.IsZero() {
				st.First = rec.Time
			}
			if rec.Time.After(st.Last) {
				st.Last = rec.Time
			}
			for k, l := range lanes {
				s, err := b.scoredFor(i, k)
				if err != nil {
					sinkErr = fmt.Errorf("lane %s: %s:%d: %w", l.Name, src.nameOf(rec.src), rec.seq, err)
					break
				}
				d.ds[k].post(s)
				d.emit(k, l.Engine.Add(s))
			}
			if sinkErr != nil {
				break
			}
			st.Records++
			if o.Progress != nil {
				o.Progress.records.Add(1)
				o.Progress.eventTime.Store(rec.Time.Unix())
			}
		}
		if sinkErr != nil {
			break
		}
	}
	cancel2 := sinkErr != nil || ctx.Err() != nil
	if cancel2 {
		cancel()
		for b := range ordered {
			_ = b
		}
	}
	stage1.Wait()
	stage2.Wait()
	st.Scored = scoredN.Load()
	st.ScoreErrors = scoreErrs.Load()
	st.BadLines = badLines.Load()
	if fatal != nil {
		return st, fatal
	}
	if sinkErr != nil {
		return st, sinkErr
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if readErr != nil {
		return st, readErr
	}
	// Keep the clock running to the end of the range.
	end := st.Last
	if !o.To.IsZero() && o.To.After(end) {
		end = o.To
	}
	if !end.IsZero() {
		end = end.Add(o.Tail)
	}
	d.advanceTo(end)
	if err := d.stop(); err != nil {
		return st, err
	}
	st.End = end
	st.Elapsed = time.Since(start)
	if o.Progress != nil {
		o.Progress.finish()
	}
	return st, nil
}

// scoreBatch scores the records of b that need it, for each scorer once.
func scoreBatch(ctx context.Context, b *batch, src *Source, lanes []*Lane, scorers []Scorer, scorerOf []int, rescore bool,
	scoredN, scoreErrs *atomic.Int64) error {
	for i, rec := range b.recs {
		if rec.Scored != nil && !rescore {
			continue
		}
		if b.scored == nil {
			b.scored = make([][]*msg.Scored, len(b.recs))
			for j := range b.scored {
				b.scored[j] = make([]*msg.Scored, len(lanes))
			}
		}
		post := rec.Post
		if post == nil {
			post = &rec.Scored.Post
		}
		results := make([]*msg.Scored, len(scorers))
		failed := false
		for j, sc := range scorers {
			s, err := sc.Score(ctx, post)
			if errors.Is(err, ErrScorer) || (err != nil && ctx.Err() != nil) {
				return err
			}
			if err != nil {
				scoreErrs.Add(1)
				b.bad = append(b.bad, &msg.LineError{Name: src.nameOf(rec.src), Line: int(rec.seq), Err: fmt.Errorf("cannot score post: %w", err)})
				failed = true
				break
			}
			scoredN.Add(1)
			results[j] = s
		}
		if failed {
			b.scored[i] = nil
			continue
		}
		for k := range lanes {
			if scorerOf[k] >= 0 {
				b.scored[i][k] = results[scorerOf[k]]
			}
		}
	}
	return nil
}

// driver feeds the engines and moves their clock on event time.
type driver struct {
	lanes []*Lane
	ds    []*dispatch
	step  time.Duration
	clock time.Time
	// from, when set (a warm-up), drops what the engines emit before it.
	from time.Time
}

// advanceTo calls Advance at every step boundary after the clock up to t.
// The first post sets the clock; a late post never moves it back. What the
// engines emit waits in the lanes' pending lists for the next flush (once
// a batch): handing it over per post cost a channel send and a new list
// per post when a sink observes posts (the report's collector).
func (d *driver) advanceTo(t time.Time) {
	if d.step <= 0 || t.IsZero() {
		return
	}
	b := t.Truncate(d.step)
	if d.clock.IsZero() {
		d.clock = b
		return
	}
	for d.clock.Before(b) {
		d.clock = d.clock.Add(d.step)
		for k, l := range d.lanes {
			d.emit(k, l.Engine.Advance(d.clock))
		}
	}
}

func (d *driver) emit(k int, outs []Output) {
	l, ds := d.lanes[k], d.ds[k]
	for _, o := range outs {
		switch {
		case o.Alert != nil && o.Alert.EventTime.Before(d.from), o.Level != nil && o.Level.Time.Before(d.from):
			// Decided during the warm-up: before the replayed range.
		case o.Alert != nil:
			o.Alert.Replay = true
			l.Alerts++
			ds.pending = append(ds.pending, item{alert: o.Alert})
		case o.Level != nil:
			l.Levels++
			ds.pending = append(ds.pending, item{level: o.Level})
		}
	}
}

// flush hands what the lanes emitted so far to their sinks and reports a
// sink that failed.
func (d *driver) flush() error {
	for _, ds := range d.ds {
		if err := ds.flush(); err != nil {
			return err
		}
	}
	return nil
}

// stop flushes, waits for the sinks and returns the first sink error.
func (d *driver) stop() error {
	var first error
	for _, ds := range d.ds {
		if err := ds.stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// item is one output (or observed post) on its way to a lane's sinks.
type item struct {
	level *msg.Level
	alert *msg.Alert
	post  *msg.Scored
}

// dispatch calls a lane's sinks on its own goroutine, in emission order.
// The engine never touches an output again once it returned it, so handing
// it to another goroutine is safe.
type dispatch struct {
	lane      *Lane
	observers []PostObserver
	pending   []item
	ch        chan []item
	done      chan struct{}
	failed    atomic.Bool
	err       error
	stopped   bool
}

func startDispatch(l *Lane) *dispatch {
	ds := &dispatch{lane: l, ch: make(chan []item, 8), done: make(chan struct{})}
	for _, s := range l.Sinks {
		if po, ok := s.(PostObserver); ok {
			ds.observers = append(ds.observers, po)
		}
	}
	go ds.run()
	return ds
}

func (ds *dispatch) post(s *msg.Scored) {
	if len(ds.observers) > 0 {
		ds.pending = append(ds.pending, item{post: s})
	}
}

func (ds *dispatch) run() {
	defer close(ds.done)
	for items := range ds.ch {
		if ds.err != nil {
			continue // drain
		}
		for _, it := range items {
			if err := ds.deliver(it); err != nil {
				ds.err = err
				ds.failed.Store(true)
				break
			}
		}
	}
}

func (ds *dispatch) deliver(it item) error {
	switch {
	case it.post != nil:
		for _, po := range ds.observers {
			po.Post(it.post)
		}
	case it.alert != nil:
		for _, s := range ds.lane.Sinks {
			if err := s.Alert(it.alert); err != nil {
				return err
			}
		}
	case it.level != nil:
		for _, s := range ds.lane.Sinks {
			if err := s.Level(it.level); err != nil {
				return err
			}
		}
	}
	return nil
}

func (ds *dispatch) flush() error {
	if ds.failed.Load() {
		return ds.stop()
	}
	if len(ds.pending) > 0 && !ds.stopped {
		ds.ch <- ds.pending
		ds.pending = make([]item, 0, cap(ds.pending))
	}
	return nil
}

func (ds *dispatch) stop() error {
	if !ds.stopped {
		if len(ds.pending) > 0 && !ds.failed.Load() {
			ds.ch <- ds.pending
			ds.pending = nil
		}
		ds.stopped = true
		close(ds.ch)
		<-ds.done
	}
	return ds.err
}
