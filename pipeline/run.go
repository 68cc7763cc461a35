// Package pipeline runs ThreatWatch's stages. Every stage that consumes a
// topic runs under the one Runner here:
//
//	FetchMessage → decode → Handle → write outputs → CommitMessages
//
// Delivery is at least once. A message is committed only after its outputs
// are acknowledged by the brokers; a crash at any point re-delivers what was
// not committed, so every stage deduplicates by message id. Transient errors
// back off and retry without committing. A message that can never be
// processed goes to the dead-letter topic with headers naming the stage,
// reason, source topic, partition and offset, and is then committed: the
// stream goes on and nothing is lost. A dead letter written again with a
// redelivered batch carries the same id (tw-dead-letter-id) as the first.
package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Output is one message a stage emits, and the topic it goes to.
type Output struct {
	Topic string
	Msg   msg.Message
	// Arrival is when the post the message carries entered the pipeline:
	// a stage that passes a post on (scored, re-keyed) sets it to its
	// input's Meta.Time, so a stage downstream that reads it late, after
	// this one caught up with a backlog, can tell the post came long ago.
	// Zero, for what a stage decides (levels, alerts): stamped when
	// written.
	Arrival time.Time
}

// Meta says where an input message came from.
type Meta struct {
	Topic     string
	Partition int
	Offset    int64
	// Time is the message's Kafka timestamp: for a post passed on from
	// stage to stage (Output.Arrival), when it entered the pipeline,
	// however late a stage got to it.
	Time time.Time
}

// Handler is a stage's logic for one input message of type P.
//
// Handle is called once per message, in partition order, never
// concurrently. It returns the messages to write (nil or empty: the input
// is filtered out and only committed). Its error decides what happens:
// wrapped with Permanent, or wrapping msg.ErrInvalid/ErrSchema, the input is
// dead-lettered and committed; a transient error (network, timeout, Redis or
// Kafka away) makes the runner back off and call Handle again with the same
// message; any other error is retried runner.max_attempts times and then
// dead-lettered. A panic dead-letters the message too (reason "panic").
// Handle must be idempotent: after a crash it sees messages
// again whose outputs were already written.
type Handler[P any] interface {
	Handle(ctx context.Context, in P, meta Meta) ([]Output, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc[P any] func(ctx context.Context, in P, meta Meta) ([]Output, error)

// Handle calls f.
func (f HandlerFunc[P]) Handle(ctx context.Context, in P, meta Meta) ([]Output, error) {
	return f(ctx, in, meta)
}

// Assignee is implemented by handlers that keep state per input partition
// and want to hold it for every partition the stage was assigned, not only
// those that deliver a message: kafka-go's group reader gives no
// assignment callbacks, so after a restart a partition that receives
// nothing (a site gone dark) would never be loaded, its windows would not
// move and its alerts would never resolve. Before each tick the runner
// asks the group's coordinator which partitions it holds, and hands the
// handler those it has no state for, with the offset the group will
// resume each from (its committed offset).
type Assignee interface {
	// Missing returns which of partitions the handler holds no state for.
	Missing(partitions []int) []int
	// Resume loads the state of partition of topic, to go on at offset.
	Resume(ctx context.Context, topic string, partition int, offset int64) error
}

// Ticker is implemented by handlers that emit on wall-clock time as well as
// on input (a quiet site's level must decay). Tick is called between
// batches, never concurrently with Handle. A panic in Tick stops the stage
// with an error wrapping ErrPanicked.
type Ticker interface {
	Tick(ctx context.Context, now time.Time) ([]Output, error)
}

// Checkpointer is implemented by handlers that keep state: Checkpoint is
// called after a batch's outputs are written and before its offsets are
// committed, with the last processed offset per partition, so state and
// offsets move together. An error is treated like a write error: retried,
// and nothing committed until it succeeds. A panic stops the stage with an
// error wrapping ErrPanicked.
type Checkpointer interface {
	Checkpoint(ctx context.Context, offsets map[int]int64) error
}

// Stage declares one consuming stage: its name (also its consumer group),
// its input topic and its handler.
type Stage[T any, P msg.Constraint[T]] struct {
	Name    string
	Input   string
	Handler Handler[P]
	// Dedup skips inputs whose id was processed before (needs a Store).
	Dedup bool
	// TickEvery calls the handler's Tick this often (0: never).
	TickEvery time.Duration
	// StartAt is kafka.FirstOffset (default) or kafka.LastOffset for a group
	// with no committed offset yet.
	StartAt int64
	// WatermarkTo is the topic the stage passes posts on to, where the
	// runner writes its watermark every runner.watermark_every (see
	// msg.Watermark); "" for a stage whose outputs no stage's clock waits
	// for.
	WatermarkTo string
}

// Deps are what a runner needs from its process.
type Deps struct {
	Bus     *bus.Bus
	Store   *store.Store // optional unless a stage dedups
	Metrics *Metrics
	Log     *slog.Logger
	Config  config.Runner
	Topics  config.Topics
	// GroupLagEvery is how often the stage's group lag is read from the
	// broker (0: every 30 s).
	GroupLagEvery time.Duration
}

// Run consumes the stage's input until ctx is cancelled, then finishes the
// batch in hand (bounded by runner.shutdown_timeout), commits it and
// returns nil. It returns an error only when it cannot go on: one wrapping
// ErrPanicked when code outside any one message panicked (a bug).
func Run[T any, P msg.Constraint[T]](ctx context.Context, d Deps, s Stage[T, P]) error {
	r := &runner[T, P]{d: d, s: s, log: d.Log.With("stage", s.Name, "topic", s.Input), wmReq: make(chan wmRequest)}
	if s.Dedup {
		if d.Store == nil {
			return fmt.Errorf("stage %s: dedup needs a store", s.Name)
		}
		r.dedup = store.NewDedup(d.Store, s.Name, d.Config.DedupTTL)
	}
	if d.Metrics == nil {
		r.d.Metrics = NewMetrics(nil)
	}
	return r.run(ctx)
}

type runner[T any, P msg.Constraint[T]] struct {
	d     Deps
	s     Stage[T, P]
	log   *slog.Logger
	dedup *store.Dedup
	w     *kafka.Writer
	// member tags this runner's group membership, for Assignee handlers.
	member string
	// up holds the watermarks read from the input; wmReq carries the
	// watermark to write to the stage's loop, to be bounded by them.
	up    upstream
	wmReq chan wmRequest
}

// maxFetchPause bounds the pause after a failed fetch (see run).
const maxFetchPause = 2 * time.Second

type fetched struct {
	m   kafka.Message
	err error
}

func (r *runner[T, P]) run(ctx context.Context) (err error) {
	ro := bus.ReaderOptions{StartAt: r.s.StartAt}
	if _, ok := any(r.s.Handler).(Assignee); ok {
		r.member = rand.Text()
		ro.Member = r.member
	}
	reader := r.d.Bus.GroupReader(r.s.Name, []string{r.s.Input}, ro)
	r.w = r.d.Bus.MultiWriter(bus.WriterOptions{})
	defer func() {
		if err := reader.Close(); err != nil {
			r.log.Warn("cannot close reader", "err", err)
		}
		if err := r.w.Close(); err != nil {
			r.log.Warn("cannot close writer", "err", err)
		}
	}()
	// A panic in the loop itself (batching, a handler's Tick, Watermark or
	// Resume, a batch's preparation outside its messages) stops the stage
	// (see panic.go). The cleanup registered after this runs first, while
	// panicking; the reader and writer are closed after it.
	defer func() {
		if v := recover(); v != nil {
			err = r.panicked("loop", v)
		}
	}()

	// The fetch loop stops with ctx; work already fetched is finished with
	// work, which outlives ctx by the shutdown timeout.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(r.d.Config.ShutdownTimeout, cancelWork)
	})
	defer stop()

	// fetchCtx also ends when run returns early (an error), so the fetch
	// loop never blocks on a channel nobody reads.
	fetchCtx, cancelFetch := context.WithCancel(ctx)
	in := make(chan fetched, r.d.Config.BatchSize)
	// A goroutine beside the loop that panics stops the stage through
	// stopped (one slot each: the send never blocks). One that panics
	// while the loop is leaving is found once they have all returned.
	stopped := make(chan error, 3)
	defer func() {
		select {
		case perr := <-stopped:
			if err == nil {
				err = perr
			}
		default:
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if perr := r.fetchLoop(fetchCtx, reader, in); perr != nil {
			stopped <- perr
		}
	}()
	defer wg.Wait()
	defer cancelFetch()

	beside := func(where string, f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.guard(where, func() error { f(fetchCtx); return nil }); err != nil {
				stopped <- err
			}
		}()
	}
	beside("group_lag", r.watchGroupLag)
	beside("watermark", r.emitWatermarks)

	var tick <-chan time.Time
	if _, ok := any(r.s.Handler).(Ticker); ok && r.s.TickEvery > 0 {
		tk := time.NewTicker(r.s.TickEvery)
		defer tk.Stop()
		tick = tk.C
	}
	lagTick := time.NewTicker(2 * time.Second)
	defer lagTick.Stop()

	linger := r.d.Config.BatchLinger
	c := r.newCommitter(work, reader)
	defer func() {
		cerr := c.close()
		switch {
		case cerr == nil:
		case errors.Is(cerr, ErrPanicked):
			if err == nil {
				err = cerr
			}
		case work.Err() == nil:
			r.log.Error("last batch not committed; it will be redelivered", "err", cerr)
		}
	}()
	for {
		// A fresh slice each time: the committer may still hold the last one.
		batch := make([]kafka.Message, 0, r.d.Config.BatchSize)
		select {
		case f, ok := <-in:
			if !ok {
				return nil
			}
			if f.err != nil {
				return r.fetchFailed(f.err)
			}
			batch = append(batch, f.m)
		case err := <-stopped:
			return err
		case err := <-c.failed():
			// The committer stopped between batches: a panic, or the
			// shutdown timeout cutting its last batch short.
			if work.Err() != nil && !errors.Is(err, ErrPanicked) {
				r.log.Warn("shutdown timeout reached with a batch in hand; it will be redelivered")
				return nil
			}
			return err
		case now := <-tick:
			if err := r.tick(work, now); err != nil {
				return err
			}
			continue
		case <-lagTick.C:
			r.d.Metrics.Lag.WithLabelValues(r.s.Name).Set(float64(reader.Stats().Lag))
			continue
		case req := <-r.wmReq:
			r.bound(req)
			continue
		}
		// Fill the batch: what is already buffered, then a short linger.
		timer := time.NewTimer(linger)
		var fetchErr error
	fill:
		for len(batch) < cap(batch) {
			select {
			case f, ok := <-in:
				if !ok {
					break fill
				}
				if f.err != nil {
					// The fetch loop has stopped for good: finish what was
					// fetched before it, then stop with its error. Dropped,
					// the stage would return nil and stop consuming unseen.
					fetchErr = f.err
					break fill
				}
				batch = append(batch, f.m)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		pd, err := r.prepare(work, batch)
		if err == nil && !pd.partial {
			err = c.submit(pd)
		}
		if err != nil || pd.partial {
			if work.Err() != nil && !errors.Is(err, ErrPanicked) {
				r.log.Warn("shutdown timeout reached with a batch in hand; it will be redelivered", "messages", len(batch))
				return nil
			}
			return err
		}
		if fetchErr != nil {
			return r.fetchFailed(fetchErr)
		}
	}
}

// fetchFailed is the error the stage stops with when the fetch loop
// stopped with err.
func (r *runner[T, P]) fetchFailed(err error) error {
	if errors.Is(err, ErrPanicked) {
		return err
	}
	return fmt.Errorf("stage %s: cannot fetch: %w", r.s.Name, r.d.Bus.Explain(err))
}

// fetcher is what the fetch loop needs of the group reader.
type fetcher interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
}

// fetchLoop fetches messages into in until ctx ends or fetching fails for
// good, then closes in. A panic is handed over in in, after what was
// fetched before it, or returned when the loop is no longer reading.
func (r *runner[T, P]) fetchLoop(ctx context.Context, f fetcher, in chan<- fetched) (lost error) {
	defer close(in)
	// Handed over before in is closed: closed alone, it would read as the
	// end of a shutdown, and the stage would return nil.
	defer func() {
		if v := recover(); v != nil {
			err := r.panicked("fetch", v)
			select {
			case in <- fetched{err: err}:
			case <-ctx.Done():
				lost = err
			}
		}
	}()
	delay, attempt, lastErr := r.d.Config.RetryMin, 0, time.Time{}
	for {
		m, err := f.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, io.EOF) || bus.NeedsOperator(err) {
				// Closed under us, or refused in a way only an operator
				// can change: stop with the error, do not wait forever.
				select {
				case in <- fetched{err: err}:
				case <-ctx.Done():
				}
				return
			}
			// kafka-go's group reader reports a broker or coordinator it
			// cannot reach after its own attempts, and then goes on trying
			// to rejoin: a broker outage is waited out, not a reason to
			// stop the stage (and with it the process). The reader heals
			// in the background, so the pause here is short: a long one
			// would only delay reading what it has fetched since.
			if time.Since(lastErr) > time.Minute { // a new outage
				attempt, delay = 0, r.d.Config.RetryMin
			}
			attempt++
			lastErr = time.Now()
			r.d.Metrics.Retried.WithLabelValues(r.s.Name, "fetch").Inc()
			r.log.Warn("cannot fetch; retrying", "attempt", attempt, "retry_in", delay, "err", r.d.Bus.Explain(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, r.d.Config.RetryMax, maxFetchPause)
			continue
		}
		select {
		case in <- fetched{m: m}:
		case <-ctx.Done():
			// Not handed over: it will be redelivered, as it is not committed.
			return
		}
	}
}

// committer finishes prepared batches in order. For a stateless stage it
// runs one batch behind in its own goroutine, so writing and committing
// batch N overlaps handling batch N+1; a stage with state (a Checkpointer
// or Ticker) finishes each batch before the next is handled, so its
// Checkpoint never runs concurrently with Handle.
type committer struct {
	in   chan pending
	errc chan error
	sync func(pending) error
}

func (r *runner[T, P]) newCommitter(ctx context.Context, reader *kafka.Reader) *committer {
	finish := func(pd pending) error {
		return r.guard("write", func() error { return r.finish(ctx, reader, pd) })
	}
	_, stateful := any(r.s.Handler).(Checkpointer)
	if _, ticks := any(r.s.Handler).(Ticker); ticks {
		stateful = true
	}
	if stateful {
		return &committer{sync: finish}
	}
	c := &committer{in: make(chan pending, 1), errc: make(chan error, 1)}
	go func() {
		defer close(c.errc)
		for pd := range c.in {
			if err := finish(pd); err != nil {
				c.errc <- err
				for range c.in { // drain: nothing after a failed batch may commit
				}
				return
			}
		}
	}()
	return c
}

func (c *committer) submit(pd pending) error {
	if c.sync != nil {
		return c.sync(pd)
	}
	select {
	case c.in <- pd:
		return nil
	case err := <-c.errc:
		return err
	}
}

// failed is where a committer that runs behind reports that it stopped
// (nil, never ready, for one that does not).
func (c *committer) failed() <-chan error { return c.errc }

// close waits for the batch in flight.
func (c *committer) close() error {
	if c.sync != nil {
		return nil
	}
	close(c.in)
	return <-c.errc
}

// pending is a prepared batch: its outputs, and the messages whose offsets
// may be committed once the outputs are written.
type pending struct {
	outs []kafka.Message
	// src is, per output, the batch index of the input it came from (-1:
	// a dead letter), so an input whose output the broker refuses for
	// good is set aside in its place.
	src  []int
	done []kafka.Message
	ids  []string
	// idOf is the dedup id of each input, by batch index ("": none).
	idOf []string
	// dead holds the reason of each input set aside, counted in
	// dead_letters_total once the batch is committed (see finish).
	dead    []string
	start   time.Time
	partial bool // shutdown cut the batch short: nothing to write or commit
}

// prepare decodes and handles one batch. It writes nothing.
func (r *runner[T, P]) prepare(ctx context.Context, batch []kafka.Message) (pending, error) {
	pd := pending{start: time.Now()}
	m := r.d.Metrics
	m.In.WithLabelValues(r.s.Name).Add(float64(len(batch)))

	// Decode everything first: bad messages are known before any work.
	decoded := make([]P, len(batch))
	var control map[int]*msg.Watermark // by batch index
	for i, km := range batch {
		if kind, ok := bus.Control(km); ok {
			w, err := r.decodeControl(kind, km)
			if err != nil {
				if !isPanic(err) {
					err = Permanent("control", err)
				}
				pd.setAside(r.deadLetter(km, err), err)
				continue
			}
			if control == nil {
				control = map[int]*msg.Watermark{}
			}
			control[i] = w
			continue
		}
		p, err := r.decode(km)
		if err != nil {
			pd.setAside(r.deadLetter(km, err), err)
			continue
		}
		decoded[i] = p
	}
	skip := make([]bool, len(batch))
	var idx []int // the batch index of each of pd.ids
	if r.dedup != nil {
		pd.idOf = make([]string, len(batch))
		for i, p := range decoded {
			if p != nil {
				pd.ids = append(pd.ids, p.DedupID())
				pd.idOf[i] = pd.ids[len(pd.ids)-1]
				idx = append(idx, i)
			}
		}
		var seen []bool
		if err := r.retry(ctx, "dedup", func() error {
			var err error
			seen, err = r.dedup.Seen(ctx, pd.ids)
			return err
		}); err != nil {
			return pd, err
		}
		inBatch := make(map[string]bool, len(pd.ids))
		for j, s := range seen {
			if s || inBatch[pd.ids[j]] {
				skip[idx[j]] = true
				m.Deduped.WithLabelValues(r.s.Name).Inc()
			}
			inBatch[pd.ids[j]] = true
		}
	}

	processed := len(batch)
	var dead map[int]bool // dead-lettered by the handler, by batch index
	for i, p := range decoded {
		if w := control[i]; w != nil {
			if err := r.takeWatermark(ctx, batch[i], w); err != nil {
				// Shutting down mid-retry: finish what was done before this one.
				processed = i
				pd.partial = true
				break
			}
			continue
		}
		if p == nil || skip[i] {
			continue
		}
		km := batch[i]
		meta := Meta{Topic: km.Topic, Partition: km.Partition, Offset: km.Offset, Time: km.Time}
		res, err := r.handle(ctx, p, meta)
		if err != nil {
			if ctx.Err() != nil {
				// Shutting down mid-retry: finish what was done before this one.
				processed = i
				pd.partial = true
				break
			}
			pd.setAside(r.deadLetter(km, err), err)
			dead = setIndex(dead, i)
			continue
		}
		mark := len(pd.outs)
		for _, o := range res {
			om, err := r.encodeFor(km, o)
			var aside error
			switch {
			case isPanic(err):
				aside = err
			case err != nil:
				// What this input made (a NaN score, a time past year
				// 9999) fails the same way on every attempt: stopping the
				// stage would stop it again after every restart.
				aside = Permanent("encode", fmt.Errorf("its output to %s cannot be written: %w", o.Topic, err))
			case bus.TooLarge(om):
				// kafka-go would refuse it on every attempt and the stage
				// would stop here for good: set the input aside instead.
				aside = Permanent("too_large", fmt.Errorf("its output to %s is %d bytes, over the %d-byte message limit", o.Topic, len(om.Value), bus.MaxMessageBytes))
			}
			if aside != nil {
				pd.outs, pd.src = pd.outs[:mark], pd.src[:mark]
				pd.setAside(r.deadLetter(km, aside), aside)
				dead = setIndex(dead, i)
				break
			}
			ts, ok := bus.Timestamp(o.Arrival)
			if !ok {
				// Kept, the output would carry a wrong date (kafka-go wraps
				// it); stamped when written, it counts as live traffic,
				// which it is as far as this stage can tell.
				m.Errors.WithLabelValues(r.s.Name, "timestamp").Inc()
				r.log.Warn("output stamped when written: its arrival time is out of the range kafka-go can write as a Kafka timestamp",
					"partition", km.Partition, "offset", km.Offset, "timestamp", o.Arrival.UTC())
			}
			om.Time = ts
			pd.add(om, i)
		}
	}
	if pd.partial {
		// Nothing of a batch cut short is written or committed: all of it
		// comes back, and what was written now (kafka-go may send a batch
		// under a cancelled context, and then a commit may fail) would be
		// written again then, the dead letters of its undecodable inputs
		// among it.
		return pending{start: pd.start, partial: true}, nil
	}
	pd.done = batch[:processed]
	if len(dead) > 0 && len(pd.ids) > 0 {
		// A dead letter is not done: marked, its redrive once the cause is
		// fixed would be skipped as a repeat for dedup_ttl.
		// Its copies in the batch, skipped as repeats, are not done either.
		deadIDs := map[string]bool{}
		for j, id := range pd.ids {
			if dead[idx[j]] {
				deadIDs[id] = true
			}
		}
		ids := pd.ids[:0:0]
		for _, id := range pd.ids {
			if !deadIDs[id] {
				ids = append(ids, id)
			}
		}
		pd.ids = ids
	}
	return pd, nil
}

func (pd *pending) add(m kafka.Message, src int) {
	pd.outs = append(pd.outs, m)
	pd.src = append(pd.src, src)
}

// setAside adds out, the dead letter of an input set aside for cause.
func (pd *pending) setAside(out kafka.Message, cause error) {
	pd.add(out, -1)
	_, reason := Classify(cause)
	pd.dead = append(pd.dead, reason)
}

func setIndex(m map[int]bool, i int) map[int]bool {
	if m == nil {
		m = map[int]bool{}
	}
	m[i] = true
	return m
}

// finish writes a prepared batch's outputs, checkpoints, and commits. It
// returns an error only when work is cancelled or a commit cannot be made.
func (r *runner[T, P]) finish(ctx context.Context, reader *kafka.Reader, pd pending) error {
	refused, err := r.write(ctx, pd.outs)
	if err != nil {
		return err
	}
	if len(refused) > 0 {
		if err := r.setAsideRefused(ctx, &pd, refused); err != nil {
			return err
		}
	}
	if len(pd.done) == 0 {
		return ctx.Err()
	}
	if cp, ok := any(r.s.Handler).(Checkpointer); ok {
		offsets := map[int]int64{}
		for _, km := range pd.done {
			offsets[km.Partition] = km.Offset
		}
		if err := r.retry(ctx, "checkpoint", func() error { return cp.Checkpoint(ctx, offsets) }); err != nil {
			return err
		}
	}
	if r.dedup != nil && len(pd.ids) > 0 {
		if err := r.retry(ctx, "dedup", func() error { return r.dedup.Mark(ctx, pd.ids) }); err != nil {
			return err
		}
	}
	if err := r.retry(ctx, "commit", func() error { return reader.CommitMessages(ctx, pd.done...) }); err != nil {
		return fmt.Errorf("stage %s: cannot commit: %w", r.s.Name, err)
	}
	// Counted once committed, not when set aside or written: a batch the
	// shutdown cuts short, or whose commit it prevents, comes back, and
	// its inputs would be counted again then. An offset is committed
	// once (a redelivery starts after the last commit), so each input set
	// aside counts once, in this process or in the one that reads it next.
	for _, reason := range pd.dead {
		r.d.Metrics.DeadLettered.WithLabelValues(r.s.Name, reason).Inc()
	}
	r.d.Metrics.BatchSeconds.WithLabelValues(r.s.Name).Observe(time.Since(pd.start).Seconds())
	return nil
}

// handle calls the handler, retrying per the error's class.
func (r *runner[T, P]) handle(ctx context.Context, p P, meta Meta) ([]Output, error) {
	delay := r.d.Config.RetryMin
	for attempt := 1; ; attempt++ {
		res, err := r.call(ctx, p, meta)
		if err == nil {
			return res, nil
		}
		class, _ := Classify(err)
		r.d.Metrics.Errors.WithLabelValues(r.s.Name, className(class)).Inc()
		if class == PermanentClass || (class == Unknown && attempt >= r.maxAttempts()) {
			return nil, err
		}
		r.d.Metrics.Retried.WithLabelValues(r.s.Name, "handle").Inc()
		r.log.Warn("handler failed; retrying", "partition", meta.Partition, "offset", meta.Offset, "attempt", attempt, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, r.d.Config.RetryMax)
	}
}

func (r *runner[T, P]) maxAttempts() int {
	if r.d.Config.MaxAttempts > 0 {
		return r.d.Config.MaxAttempts
	}
	return 5
}

func className(c Class) string {
	switch c {
	case Transient:
		return "transient"
	case PermanentClass:
		return "permanent"
	}
	return "unknown"
}

// retry runs f until it succeeds or ctx ends. Only for operations on our
// own infrastructure (write, commit, checkpoint), which must succeed before
// anything is committed.
func (r *runner[T, P]) retry(ctx context.Context, what string, f func() error) error {
	delay := r.d.Config.RetryMin
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.d.Metrics.Retried.WithLabelValues(r.s.Name, what).Inc()
		if what == "write" || what == "commit" {
			// Only these talk to Kafka: a Redis dial error in a checkpoint
			// must not send the operator to the brokers.
			err = r.d.Bus.Explain(err)
		}
		r.log.Warn("cannot "+what+"; retrying", "attempt", attempt, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, r.d.Config.RetryMax)
	}
}

// watchGroupLag keeps threatwatch_stage_group_lag_messages: how far the
// stage's consumer group is behind its input, read from the broker (end
// offsets less committed ones) beside the stage's own loop. The reader's
// own figure (consumer_lag_messages) is only updated between batches and
// freezes when a batch is stuck retrying a write, a checkpoint or a
// dedup mark (Redis full or away), just when it matters.
func (r *runner[T, P]) watchGroupLag(ctx context.Context) {
	every := r.d.GroupLagEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	for {
		lag, _, err := r.d.Bus.GroupLag(ctx, r.s.Name, r.s.Input)
		if err == nil {
			r.d.Metrics.GroupLag.WithLabelValues(r.s.Name).Set(float64(lag))
		} else if ctx.Err() == nil {
			r.log.Debug("cannot read the group's lag", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// assign hands an Assignee handler the partitions the coordinator gave
// this runner that it holds no state for. What fails is tried again at
// the next tick: until then those partitions load at their first message,
// as they always could.
func (r *runner[T, P]) assign(ctx context.Context) {
	a, ok := any(r.s.Handler).(Assignee)
	if !ok || r.member == "" {
		return
	}
	// The tick waits for these lookups: a broker that does not answer must
	// not hold the stage's loop for a dial timeout at every tick. Loading
	// (a rebuild may read a week of the topic) takes the time it needs.
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	parts, found, err := r.d.Bus.Assignment(actx, r.s.Name, r.s.Input, r.member)
	if err != nil || !found {
		if err != nil {
			r.log.Debug("cannot read the group's assignment", "err", err)
		}
		return
	}
	missing := a.Missing(parts)
	if len(missing) == 0 {
		return
	}
	committed, err := r.d.Bus.Committed(actx, r.s.Name, r.s.Input)
	if err != nil {
		r.log.Debug("cannot read the group's committed offsets", "err", err)
		return
	}
	for _, p := range missing {
		off, ok := committed[p]
		if !ok {
			continue // never consumed: no state to resume
		}
		if err := a.Resume(ctx, r.s.Input, p, off); err != nil && ctx.Err() == nil {
			r.log.Warn("cannot load the state of an assigned partition; trying again at the next tick", "partition", p, "err", err)
		}
	}
}

func (r *runner[T, P]) tick(ctx context.Context, now time.Time) error {
	t := any(r.s.Handler).(Ticker)
	r.assign(ctx)
	var res []Output
	err := r.retry(ctx, "tick", func() error {
		var err error
		res, err = t.Tick(ctx, now)
		return err
	})
	if err != nil {
		return nil // shutting down
	}
	outs := make([]kafka.Message, 0, len(res))
	for _, o := range res {
		km, err := r.encode(o)
		if err != nil {
			// Stopping the stage would stop it again at every tick.
			r.d.Metrics.Errors.WithLabelValues(r.s.Name, "permanent").Inc()
			r.log.Error("tick output dropped: it cannot be encoded", "topic", o.Topic, "err", err)
			continue
		}
		if bus.TooLarge(km) {
			r.d.Metrics.Errors.WithLabelValues(r.s.Name, "permanent").Inc()
			r.log.Error("tick output dropped: over the message limit", "topic", o.Topic, "bytes", len(km.Value), "limit", bus.MaxMessageBytes)
			continue
		}
		outs = append(outs, km)
	}
	refused, err := r.write(ctx, outs)
	if err != nil && ctx.Err() == nil {
		return err
	}
	for i, e := range refused {
		r.d.Metrics.Errors.WithLabelValues(r.s.Name, "permanent").Inc()
		r.log.Error("tick output dropped: the broker refuses it", "topic", outs[i].Topic, "bytes", len(outs[i].Value), "err", e)
	}
	return nil
}

func (r *runner[T, P]) encode(o Output) (kafka.Message, error) {
	b, err := codec.Encode(o.Msg)
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{Topic: o.Topic, Key: []byte(o.Msg.Key()), Value: b}, nil
}

func (r *runner[T, P]) deadLetter(km kafka.Message, cause error) kafka.Message {
	_, reason := Classify(cause)
	r.log.Error("message set aside on the dead-letter topic", "partition", km.Partition, "offset", km.Offset, "reason", reason, "err", cause)
	dl := &msg.DeadLetter{
		Schema: msg.SchemaDeadLetter, Stage: r.s.Name, Reason: reason, Error: cause.Error(),
		Topic: km.Topic, Partition: km.Partition, Offset: km.Offset,
		OrigKey: km.Key, Value: km.Value, At: time.Now().UTC(),
		Time: km.Time.UTC(), Headers: deadLetterHeaders(km.Headers),
	}
	b, err := msg.Encode(dl)
	if err != nil && !dl.Time.IsZero() {
		// JSON holds no time past year 9999, and another client's producer
		// may stamp one (a broken clock): better a dead letter without the
		// timestamp than none.
		dl.Time = time.Time{}
		b, err = msg.Encode(dl)
	}
	if err != nil {
		b = km.Value
	}
	out := DeadLetterMessage(r.d.Topics.Name(r.d.Topics.DeadLetter), km, b, r.s.Name, reason, cause)
	if bus.TooLarge(out) {
		// The original, base64 in the dead letter, would not fit: it stays
		// where it is, and the dead letter says where.
		dl.Value = nil
		dl.Error = fmt.Sprintf("%s (the original, %d bytes, is too large to copy here: read it at %s/%d/%d)", dl.Error, len(km.Value), km.Topic, km.Partition, km.Offset)
		if b, err := msg.Encode(dl); err == nil {
			out.Value = b
		}
	}
	return out
}

// deadLetterHeaders copies a message's Kafka headers into its dead letter,
// so a redrive writes the message back as it was: a control message is
// told from data by its header alone.
func deadLetterHeaders(hs []kafka.Header) []msg.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]msg.Header, len(hs))
	for i, h := range hs {
		out[i] = msg.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// DeadLetterMessage builds the dead-letter record for km: value is the
// encoded msg.DeadLetter, and headers repeat where it came from so tools
// that only read headers (kcat) see it too. tw-dead-letter-id
// (msg.DeadLetterID) is the same for every copy of it: a reader drops
// those it has seen.
func DeadLetterMessage(topic string, km kafka.Message, value []byte, stage, reason string, cause error) kafka.Message {
	return kafka.Message{
		Topic: topic,
		Key:   km.Key,
		Value: value,
		Headers: []kafka.Header{
			{Key: "tw-dead-letter-id", Value: []byte(msg.DeadLetterID(stage, km.Topic, km.Partition, km.Offset))},
			{Key: "tw-stage", Value: []byte(stage)},
			{Key: "tw-reason", Value: []byte(reason)},
			{Key: "tw-source-topic", Value: []byte(km.Topic)},
			{Key: "tw-source-partition", Value: []byte(strconv.Itoa(km.Partition))},
			{Key: "tw-source-offset", Value: []byte(strconv.FormatInt(km.Offset, 10))},
			{Key: "tw-error", Value: []byte(truncate(cause.Error(), 1024))},
		},
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ErrStopped is returned by a producer used after Close.
var ErrStopped = errors.New("producer is closed")
