package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Output is one message the engine emits: exactly one of Level and Alert.
type Output struct {
	Level *msg.Level
	Alert *msg.Alert
}

// Engine is the aggregation and alert code a replay drives: the same code
// the live aggregate stage runs (pipeline/aggregate), seen through the two
// calls replay needs.
//
// Add is called once per post, in replay order; Advance moves the engine's
// clock to an event time (never backwards) so that quiet keys decay and
// alerts resolve. Neither may do I/O or read the wall clock: the outputs
// must be a function of the calls alone. The slices returned are owned by
// the caller.
type Engine interface {
	Add(s *msg.Scored) []Output
	Advance(now time.Time) []Output
}

// Scorer scores raw posts: the classifiers. Score must be safe for
// concurrent use; replay calls it from several goroutines and puts the
// results back in input order.
type Scorer interface {
	Score(ctx context.Context, p *msg.Post) (*msg.Scored, error)
}

// LazyScorer builds a scorer on first use, so a replay of scored posts never
// pays for loading the classifiers' models. A build failure stops the
// replay (it is not a problem of one post).
func LazyScorer(build func() (Scorer, error)) Scorer {
	return &lazyScorer{build: build}
}

type lazyScorer struct {
	once  sync.Once
	build func() (Scorer, error)
	s     Scorer
	err   error
}

// ErrScorer wraps a failure to build the classifiers.
var ErrScorer = errors.New("cannot start the classifiers")

func (l *lazyScorer) Score(ctx context.Context, p *msg.Post) (*msg.Scored, error) {
	l.once.Do(func() {
		l.s, l.err = l.build()
		if l.err != nil {
			l.err = fmt.Errorf("%w: %w", ErrScorer, l.err)
		}
	})
	if l.err != nil {
		return nil, l.err
	}
	return l.s.Score(ctx, p)
}
