package notify

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Retry is the retry stage around a sink: the one place where failed
// deliveries are retried.
type Retry struct {
	// Attempts is the most calls of one delivery (at least 1).
	Attempts int
	// Initial and Max bound the exponential backoff (with jitter). A
	// Retry-After longer than Max is cut to Max: the stage's tick will
	// try again later anyway.
	Initial, Max time.Duration
	// sleep waits d or until ctx ends (tests replace it).
	sleep func(ctx context.Context, d time.Duration) error
}

// NewRetry returns the retry stage configured by c.
func NewRetry(c config.NotifyRetry) Retry {
	return Retry{Attempts: c.Attempts, Initial: c.Initial, Max: c.Max}
}

// Backoff is the wait before try n+1 after n failures (n >= 1), with up to
// 20% jitter so receivers recovering from an outage are not hit in step.
func (r Retry) Backoff(n int) time.Duration {
	d := r.Initial
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	if d > 0 {
		d -= time.Duration(rand.Int64N(int64(d)/5 + 1))
	}
	return d
}

// Send calls s until it succeeds, fails for good, or the attempts are
// spent. It returns how many calls were made and the last outcome.
func (r Retry) Send(ctx context.Context, s Sink, alerts ...*msg.Alert) (attempts int, retry bool, err error) {
	return r.Do(ctx, s.Notify, alerts...)
}

// Do is Send for any call with Notify's contract (Acknowledge).
func (r Retry) Do(ctx context.Context, call func(context.Context, ...*msg.Alert) (bool, error), alerts ...*msg.Alert) (attempts int, retry bool, err error) {
	sleep := r.sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	n := max(r.Attempts, 1)
	for attempts = 1; ; attempts++ {
		retry, err = call(ctx, alerts...)
		if err == nil || !retry || attempts >= n || ctx.Err() != nil {
			return attempts, retry, err
		}
		wait := r.Backoff(attempts)
		if ra, ok := RetryAfter(err); ok && ra > wait {
			wait = min(ra, max(r.Max, wait))
		}
		if sleep(ctx, wait) != nil {
			return attempts, true, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
