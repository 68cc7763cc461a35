package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A panic is recovered everywhere the runner runs code, in one of two
// ways.
//
// Where it runs for one message (the handler's Handle, decoding the
// message, encoding what Handle made of it), the panic is the message's
// to carry: the message is set aside as a permanent error (reason
// "panic") and the batch goes on. Unrecovered, it would kill the process,
// which would read the same uncommitted message again on restart and die
// again, and the stage would stop for good behind one poison message.
//
// Anywhere else (the stage's loop, writing, checkpointing and committing a
// batch, the fetch loop, the group-lag watcher, the watermark writer) it
// is a bug with no message to blame: the stage stops with an error
// wrapping ErrPanicked, so the process exits non-zero saying where,
// rather than crashing with a trace or going on without the goroutine.
//
// Either way it is logged with its stack and counted in
// threatwatch_stage_panics_total{where}. The stack names code, not data,
// and so does a runtime error; any other panic value may quote a message
// (a post's text), and the error goes to a dead letter's headers and the
// log: it gets the value's type only, and where it was raised.

// describePanic says what was raised without quoting data.
func describePanic(v any) string {
	if re, ok := v.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("a %T", v)
}

// panicSite names the function, file and line that raised the panic being
// recovered: the first frame past the last runtime.gopanic outside the
// runtime (which raises index and nil errors on the code's behalf). It is
// called, directly or not, from the deferred function.
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(f.Function, "runtime."):
			fn := f.Function[strings.LastIndexByte(f.Function, '/')+1:]
			return fmt.Sprintf("%s (%s:%d)", fn, filepath.Base(f.File), f.Line)
		}
		if !more {
			return "an unknown place"
		}
	}
}

// panicked logs and counts v, a panic recovered in where outside any one
// message, and returns the error the stage stops with.
func (r *runner[T, P]) panicked(where string, v any) error {
	what, at := describePanic(v), panicSite()
	r.d.Metrics.Panics.WithLabelValues(r.s.Name, where).Inc()
	r.log.Error("panic: the stage stops; this is a bug", "where", where, "panic", what, "at", at, "stack", string(debug.Stack()))
	return fmt.Errorf("stage %s: %w in %s: %s at %s", r.s.Name, ErrPanicked, where, what, at)
}

// messagePanicked logs and counts v, a panic recovered in where while
// working on the message at km, and returns the permanent error that sets
// the message aside. doing says what panicked, for the dead letter.
func (r *runner[T, P]) messagePanicked(where, doing string, km kafka.Message, v any) error {
	what, at := describePanic(v), panicSite()
	r.d.Metrics.Panics.WithLabelValues(r.s.Name, where).Inc()
	r.log.Error("panic: the message is dead-lettered", "where", where, "partition", km.Partition, "offset", km.Offset,
		"panic", what, "at", at, "stack", string(debug.Stack()))
	return Permanent("panic", fmt.Errorf("%s panicked: %s at %s", doing, what, at))
}

// call is one call of the handler.
func (r *runner[T, P]) call(ctx context.Context, p P, meta Meta) (res []Output, err error) {
	defer func() {
		if v := recover(); v != nil {
			km := kafka.Message{Topic: meta.Topic, Partition: meta.Partition, Offset: meta.Offset}
			res, err = nil, r.messagePanicked("handle", "handler", km, v)
		}
	}()
	return r.s.Handler.Handle(ctx, p, meta)
}

// decode decodes the message at km.
func (r *runner[T, P]) decode(km kafka.Message) (p P, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, r.messagePanicked("decode", "decoding", km, v)
		}
	}()
	return codec.Decode[T, P](km.Value)
}

// decodeControl decodes the control message of kind at km.
func (r *runner[T, P]) decodeControl(kind string, km kafka.Message) (w *msg.Watermark, err error) {
	defer func() {
		if v := recover(); v != nil {
			w, err = nil, r.messagePanicked("decode", "decoding a control message", km, v)
		}
	}()
	return decodeControl(kind, km.Value)
}

// encodeFor encodes o, an output of the message at km.
func (r *runner[T, P]) encodeFor(km kafka.Message, o Output) (out kafka.Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = kafka.Message{}, r.messagePanicked("encode", "encoding", km, v)
		}
	}()
	return r.encode(o)
}

// isPanic reports whether err sets a message aside for a panic.
func isPanic(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe) && pe.reason == "panic"
}

// guard runs f, a part of the stage outside any one message, and returns
// a panic in it as the error the stage stops with.
func (r *runner[T, P]) guard(where string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = r.panicked(where, v)
		}
	}()
	return f()
}
