package pipeline

import (
	"context"
	"errors"
	"net"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// ErrPanicked is wrapped by the error a stage stops with when code outside
// a handler's Handle, and outside decoding and encoding one message,
// panicked: in the stage's loop, in writing, checkpointing or committing a
// batch, or in a goroutine the runner starts. That is a bug, not a bad
// message: the stage stops with an error naming where, logged with its
// stack, rather than crashing the process or going on as if nothing
// happened. The batch in hand is not committed and comes back on restart.
var ErrPanicked = errors.New("panicked")

// permanentError marks an error that retrying cannot fix.
type permanentError struct {
	reason string
	err    error
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the runner sends the message to the
// dead-letter topic with reason and commits it. A stage returns it for input
// it can never process (bad data, a rule the message breaks).
func Permanent(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{reason: reason, err: err}
}

// Class is how the runner treats an error.
type Class int

// Error classes.
const (
	// Transient errors (a broker or Redis away, a timeout) are retried with
	// backoff for as long as they last; nothing is committed meanwhile.
	Transient Class = iota
	// Unknown errors are retried a few times (runner.max_attempts), then the
	// message is dead-lettered with reason "retries_exhausted": a bug must
	// not stall a partition forever, and the message is kept.
	Unknown
	// PermanentClass errors dead-letter the message at once.
	PermanentClass
)

// Classify decides, in one place, how an error is treated, and the reason
// recorded when a message is dead-lettered.
func Classify(err error) (Class, string) {
	var pe *permanentError
	switch {
	case errors.As(err, &pe):
		return PermanentClass, pe.reason
	case errors.Is(err, msg.ErrSchema):
		return PermanentClass, "schema"
	case errors.Is(err, msg.ErrInvalid):
		return PermanentClass, "invalid"
	}
	if isTransient(err) {
		return Transient, "transient"
	}
	return Unknown, "retries_exhausted"
}

func isTransient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || store.IsTransient(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary()
	}
	var te interface{ Temporary() bool }
	if errors.As(err, &te) {
		return te.Temporary()
	}
	return false
}
