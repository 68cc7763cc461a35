package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Watermarker is implemented by handlers whose clock must wait for the
// stages upstream: the runner reads the watermarks those stages write
// beside the data of the input topic and hands the handler, per input
// partition, the lowest time through which every stage upstream has
// passed its posts on. It is called between Handle calls, in partition
// order, never concurrently with Handle or Tick.
type Watermarker interface {
	// Watermark is called for each watermark read, at its place in the
	// input (meta), with the partition's lowest time through. An error is
	// retried as a checkpoint's is, until it succeeds or the stage stops.
	Watermark(ctx context.Context, meta Meta, through time.Time) error
}

// watermarkExpiry is how many watermark intervals an upstream partition
// may go unreported, while others are reported, before it stops holding
// the partition back: it was reassigned to a writer that speaks for it
// no more (its topic was recreated with fewer partitions). When every one
// goes unreported, the stage upstream is down, and all of them hold.
const watermarkExpiry = 30

// upstream holds the latest watermark of each upstream partition, per
// input partition. Only the stage's loop touches it; the lock is for
// tests and for safety against a later change.
type upstream struct {
	mu  sync.Mutex
	in  map[int]map[string]wmEntry // input partition -> "topic/partition"
	any bool                       // a watermark was ever read
}

type wmEntry struct {
	through, seen time.Time
}

// take records w, read on input partition, and returns the partition's
// new lowest time.
func (u *upstream) take(partition int, w *msg.Watermark, now time.Time, every time.Duration) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.in == nil {
		u.in = map[int]map[string]wmEntry{}
	}
	m := u.in[partition]
	if m == nil {
		m = map[string]wmEntry{}
		u.in[partition] = m
	}
	for p, t := range w.Through {
		m[w.Topic+"/"+strconv.Itoa(p)] = wmEntry{through: t, seen: now}
	}
	u.any = true
	return u.lowest(partition, every)
}

// lowest is partition's lowest time over the upstream partitions still
// reported. u.mu is held.
func (u *upstream) lowest(partition int, every time.Duration) (time.Time, bool) {
	m := u.in[partition]
	var newest time.Time
	for _, e := range m {
		if e.seen.After(newest) {
			newest = e.seen
		}
	}
	var low time.Time
	for k, e := range m {
		if newest.Sub(e.seen) > watermarkExpiry*every {
			delete(m, k)
			continue
		}
		if low.IsZero() || e.through.Before(low) {
			low = e.through
		}
	}
	return low, !low.IsZero()
}

// takeWatermark applies a watermark read at km. It fails only when ctx
// ends.
func (r *runner[T, P]) takeWatermark(ctx context.Context, km kafka.Message, w *msg.Watermark) error {
	low, ok := r.up.take(km.Partition, w, time.Now(), r.watermarkEvery())
	h, isW := any(r.s.Handler).(Watermarker)
	if !ok || !isW {
		return nil
	}
	meta := Meta{Topic: km.Topic, Partition: km.Partition, Offset: km.Offset, Time: km.Time}
	return r.retry(ctx, "watermark", func() error { return h.Watermark(ctx, meta, low) })
}

func (r *runner[T, P]) watermarkEvery() time.Duration {
	if e := r.d.Config.WatermarkEvery; e > 0 {
		return e
	}
	return 10 * time.Second
}

// emitWatermarks writes the stage's watermark to its WatermarkTo topic
// every runner.watermark_every until ctx ends.
func (r *runner[T, P]) emitWatermarks(ctx context.Context) {
	every := r.d.Config.WatermarkEvery
	if r.s.WatermarkTo == "" || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	var out outPartitions
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.emitWatermark(ctx, every, &out)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.d.Metrics.Errors.WithLabelValues(r.s.Name, "watermark").Inc()
			// Once per outage: the metric counts every failure.
			level := slog.LevelWarn
			if failing {
				level = slog.LevelDebug
			}
			r.log.Log(ctx, level, "cannot write the stage's watermark; the stage after it holds its clock until one is written", "err", err)
			failing = true
		case failing:
			r.log.Info("the stage's watermark is written again")
			failing = false
		}
	}
}

// emitWatermark writes one watermark: per input partition, the time through
// which the stage's group has passed every post on. That is now for a
// partition it has handled to the end, and the time the first message it
// has not handled was written for one it is behind on; in a stage that
// reads watermarks itself, never later than the stage upstream's. It reads
// the group's committed offsets, not this runner's, so it speaks for the
// whole group: a member that is stuck holds its partitions back in every
// member's watermark.
func (r *runner[T, P]) emitWatermark(ctx context.Context, every time.Duration, out *outPartitions) error {
	ctx, cancel := context.WithTimeout(ctx, every)
	defer cancel()
	prog, err := r.d.Bus.GroupProgress(ctx, r.s.Name, r.s.Input)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	through := make(map[int]time.Time, len(prog))
	for p, pr := range prog {
		switch {
		case pr.CaughtUp():
			through[p] = now
		case !pr.Oldest.IsZero():
			through[p] = pr.Oldest.UTC()
		default:
			r.log.Debug("cannot tell how far the stage is through a partition; left out of its watermark", "partition", p, "err", pr.OldestErr)
		}
	}
	var mine map[int]bool
	if r.member != "" {
		parts, found, err := r.d.Bus.Assignment(ctx, r.s.Name, r.s.Input, r.member)
		if err != nil {
			return err
		}
		if !found {
			return nil // rebalancing: speak for nothing this time
		}
		mine = make(map[int]bool, len(parts))
		for _, p := range parts {
			mine[p] = true
		}
	}
	// What the stage read from upstream belongs to its own loop, which
	// lowers the watermark to it; a loop that is stuck (a write retried
	// forever) answers nothing, and no watermark is written.
	req := wmRequest{through: through, mine: mine, done: make(chan struct{})}
	select {
	case r.wmReq <- req:
	case <-ctx.Done():
		return fmt.Errorf("the stage's loop did not take the watermark within %v (busy or stuck)", every)
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		return fmt.Errorf("the stage's loop did not bound the watermark within %v (busy or stuck)", every)
	}
	if len(through) == 0 {
		return nil
	}
	parts, err := out.get(ctx, r.d.Bus, r.s.WatermarkTo)
	if err != nil {
		return err
	}
	b, err := msg.EncodeWatermark(&msg.Watermark{Stage: r.s.Name, Topic: r.s.Input, Through: through, Written: now})
	if err != nil {
		return fmt.Errorf("cannot encode a watermark: %w", err)
	}
	ms := make([]kafka.Message, len(parts))
	for i, p := range parts {
		ms[i] = bus.ControlMessage(r.s.WatermarkTo, p, msg.ControlWatermark, b)
	}
	wctx, wcancel := context.WithTimeout(ctx, r.d.Config.WriteTimeout)
	defer wcancel()
	if err := r.w.WriteMessages(wctx, ms...); err != nil {
		return fmt.Errorf("cannot write a watermark to %s: %w", r.s.WatermarkTo, r.d.Bus.Explain(err))
	}
	low := now
	for _, t := range through {
		if t.Before(low) {
			low = t
		}
	}
	r.d.Metrics.Watermark.WithLabelValues(r.s.Name).Set(now.Sub(low).Seconds())
	r.d.Metrics.WatermarkAge.WithLabelValues(r.s.Name).Set(float64(now.UnixNano()) / 1e9)
	return nil
}

// outPartitions caches the partitions of the topic watermarks go to: they
// change only when an operator adds some, and asking at every interval
// would open a connection to the cluster for nothing.
type outPartitions struct {
	parts []int
	at    time.Time
}

// outPartitionsTTL is how long the cached partitions are used.
const outPartitionsTTL = 5 * time.Minute

func (o *outPartitions) get(ctx context.Context, b *bus.Bus, topic string) ([]int, error) {
	if len(o.parts) > 0 && time.Since(o.at) < outPartitionsTTL {
		return o.parts, nil
	}
	parts, err := b.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	o.parts, o.at = parts, time.Now()
	return parts, nil
}

// wmRequest asks the stage's loop to bound a watermark (see bound).
type wmRequest struct {
	through map[int]time.Time
	mine    map[int]bool // the partitions assigned to this runner; nil: all
	done    chan struct{}
}

// UpstreamWatermarker is implemented by a Watermarker that keeps the
// watermarks it was handed with its state: after a restart, before any
// watermark is read again, the runner bounds the one it passes on by it.
type UpstreamWatermarker interface {
	Upstream(partition int) (time.Time, bool)
}

// bound lowers req.through, in the stage's loop, to what the stage read
// from upstream, for a stage whose input carries watermarks. Such a stage
// speaks only for the partitions assigned to it and whose upstream
// watermark it knows: of the others it knows nothing the stage upstream
// said. A stage whose input never carried any speaks for its own progress.
func (r *runner[T, P]) bound(req wmRequest) {
	kept, _ := any(r.s.Handler).(UpstreamWatermarker)
	r.up.mu.Lock()
	defer r.up.mu.Unlock()
	every := r.watermarkEvery()
	for p, t := range req.through {
		if req.mine != nil && !req.mine[p] {
			delete(req.through, p)
			continue
		}
		low, ok := r.up.lowest(p, every)
		if kept != nil {
			if k, kok := kept.Upstream(p); kok {
				low, ok = k, true
			}
		}
		switch {
		case ok:
			if low.Before(t) {
				req.through[p] = low
			}
		case r.up.any:
			delete(req.through, p)
		}
	}
	// Not deferred: a panic half way (a handler's Upstream) stops the
	// stage, and the writer, seeing done, would write partitions not yet
	// lowered to upstream's. Left open, it times out and writes nothing.
	close(req.done)
}

// decodeControl decodes a control message of kind.
func decodeControl(kind string, b []byte) (*msg.Watermark, error) {
	if kind != msg.ControlWatermark {
		return nil, fmt.Errorf("%w: control message of unknown kind %q", msg.ErrSchema, kind)
	}
	return msg.DecodeWatermark(b)
}
