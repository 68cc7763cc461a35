package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// refusedForGood says the broker refused a message for what it is (too
// large for the topic's max.message.bytes, a record it will not take),
// not for the state of the cluster: writing it again cannot succeed.
// Refusals only an operator can lift (authorization) are waited out.
func refusedForGood(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		// kafka-go's per-message errors, which it does not unwrap.
		n := 0
		for _, e := range we {
			if e == nil {
				continue
			}
			if !refusedForGood(e) {
				return false
			}
			n++
		}
		return n > 0
	}
	for _, e := range []kafka.Error{kafka.MessageSizeTooLarge, kafka.RecordListTooLarge, kafka.InvalidRecord, kafka.InvalidTimestamp} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// partialWrite is a write of several messages that can succeed in part:
// each attempt writes only what is not written yet. A refusal can be the
// batch's rather than the message's (a topic whose max.message.bytes is
// below the writer's batch size), so once there is one, what is left is
// written one message at a time, and only a message refused alone is
// given up: retried, it would hold the writer there for good.
type partialWrite struct {
	outs    []kafka.Message
	pending []int         // indexes of outs not written yet
	refused map[int]error // refused alone, by index: given up
	solo    bool
}

func newPartialWrite(outs []kafka.Message) *partialWrite {
	w := &partialWrite{outs: outs, pending: make([]int, len(outs))}
	for i := range w.pending {
		w.pending[i] = i
	}
	return w
}

// attempt writes what is pending with write and returns the error to
// retry on: nil once everything is written or given up.
func (w *partialWrite) attempt(write func(ms ...kafka.Message) error) error {
	if !w.solo {
		ms := make([]kafka.Message, len(w.pending))
		for j, i := range w.pending {
			ms[j] = w.outs[i]
		}
		err := write(ms...)
		if err == nil {
			w.pending = nil
			return nil
		}
		var we kafka.WriteErrors
		if errors.As(err, &we) && len(we) == len(ms) {
			var left []int
			for j, e := range we {
				if e != nil {
					left = append(left, w.pending[j])
					w.solo = w.solo || refusedForGood(e)
				}
			}
			w.pending = left
		} else {
			w.solo = refusedForGood(err)
		}
		if !w.solo {
			return err
		}
	}
	var left []int
	var last error
	for _, i := range w.pending {
		err := write(w.outs[i])
		switch {
		case err == nil:
		case refusedForGood(err):
			if w.refused == nil {
				w.refused = map[int]error{}
			}
			w.refused[i] = err
		default:
			left, last = append(left, i), err
		}
	}
	w.pending = left
	return last
}

// write writes outs, retrying what fails until it is written or ctx ends,
// and returns (by index) those the broker refused for good (partialWrite).
func (r *runner[T, P]) write(ctx context.Context, outs []kafka.Message) (map[int]error, error) {
	if len(outs) == 0 {
		return nil, nil
	}
	w := newPartialWrite(outs)
	once := func(ms ...kafka.Message) error {
		wctx, cancel := context.WithTimeout(ctx, r.d.Config.WriteTimeout)
		defer cancel()
		return r.w.WriteMessages(wctx, ms...)
	}
	if err := r.retry(ctx, "write", func() error { return w.attempt(once) }); err != nil {
		return nil, err
	}
	for i, o := range outs {
		if _, ok := w.refused[i]; !ok {
			r.d.Metrics.Out.WithLabelValues(r.s.Name, o.Topic).Inc()
		}
	}
	return w.refused, nil
}

// setAsideRefused dead-letters the inputs whose outputs the broker refused
// for good, as it does an input whose output is over the client's limit:
// the input is kept, with the broker's reason, and the stream goes on. An
// input set aside is not marked as processed, so its redrive is handled.
// A refused dead letter is written again without its copy of the
// original (see writeDeadLetters).
func (r *runner[T, P]) setAsideRefused(ctx context.Context, pd *pending, refused map[int]error) error {
	var dls []kafka.Message
	drop := map[string]bool{}
	seen := map[int]bool{}
	for i, e := range refused {
		src := pd.src[i]
		if src < 0 {
			dls = append(dls, r.withoutCopy(pd.outs[i], e))
			continue
		}
		if seen[src] {
			continue
		}
		seen[src] = true
		cause := Permanent("refused", fmt.Errorf("the broker refuses its output to %s (%d bytes): %w", pd.outs[i].Topic, len(pd.outs[i].Value), e))
		dls = append(dls, r.deadLetter(pd.done[src], cause))
		pd.dead = append(pd.dead, "refused")
		if src < len(pd.idOf) && pd.idOf[src] != "" {
			drop[pd.idOf[src]] = true
		}
	}
	if len(drop) > 0 {
		ids := pd.ids[:0:0]
		for _, id := range pd.ids {
			if !drop[id] {
				ids = append(ids, id)
			}
		}
		pd.ids = ids
	}
	again, err := r.write(ctx, dls)
	if err != nil {
		return err
	}
	var last []kafka.Message
	for i, e := range again {
		if slim := r.withoutCopy(dls[i], e); len(slim.Value) < len(dls[i].Value) {
			last = append(last, slim)
			continue
		}
		r.lostDeadLetter(dls[i], e)
	}
	lost, err := r.write(ctx, last)
	if err != nil {
		return err
	}
	for i, e := range lost {
		r.lostDeadLetter(last[i], e)
	}
	return nil
}

// withoutCopy returns dead letter out, which the broker refused (err),
// without its copy of the original: the broker takes the dead letter of a
// large input once its base64 copy is gone, and the original stays on its
// topic, where the dead letter says it is. Committed with its input lost,
// the dead letter would leave nothing pointing at it. A dead letter with
// no copy left (or none to read) comes back as it was.
func (r *runner[T, P]) withoutCopy(out kafka.Message, err error) kafka.Message {
	dl, derr := msg.Decode[msg.DeadLetter](out.Value)
	if derr != nil || len(dl.Value) == 0 {
		return out
	}
	r.log.Warn("dead letter refused by the broker; writing it without its copy of the original",
		"partition", dl.Partition, "offset", dl.Offset, "bytes", len(out.Value), "err", err)
	dl.Error = fmt.Sprintf("%s (the original, %d bytes, could not be copied here: read it at %s/%d/%d)", dl.Error, len(dl.Value), dl.Topic, dl.Partition, dl.Offset)
	dl.Value = nil
	b, eerr := msg.Encode(dl)
	if eerr != nil {
		return out
	}
	slim := out
	slim.Value = b
	return slim
}

// lostDeadLetter logs and counts a dead letter the broker refuses even
// without its copy: there is nowhere else to put it.
func (r *runner[T, P]) lostDeadLetter(out kafka.Message, err error) {
	r.d.Metrics.Errors.WithLabelValues(r.s.Name, "permanent").Inc()
	r.log.Error("dead letter lost: the broker refuses it", "topic", out.Topic, "bytes", len(out.Value), "err", err)
}
