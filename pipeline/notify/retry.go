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
	// wait, when set, replaces Wait in Do: the stage decides through it
	// with the receiver's run of rate limits and shares what it decided.
	wait func(err error, attempts int) time.Duration
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

// Wait is how long to wait after the n-th failed call in a row (n >= 1)
// that returned err, and whether the receiver asked for it: a Retry-After
// (at least the backoff, at most Max), or a 429 without one, which asks
// all the same without saying for how long and gets the backoff. It is the
// one place this is decided: the retry loop sleeps it, and the stage holds
// every notify instance back for it when the receiver asked.
func (r Retry) Wait(err error, n int) (wait time.Duration, asked bool) {
	wait = r.Backoff(n)
	if ra, ok := RetryAfter(err); ok {
		if ra > wait {
			wait = min(ra, max(r.Max, wait))
		}
		return wait, true
	}
	return wait, RateLimited(err)
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
		if err == nil || !retry || ctx.Err() != nil {
			return attempts, retry, err
		}
		// Decided after the last attempt too: the stage shares a rate
		// limit's wait whether or not this loop sleeps it.
		var wait time.Duration
		if r.wait != nil {
			wait = r.wait(err, attempts)
		} else {
			wait, _ = r.Wait(err, attempts)
		}
		if attempts >= n {
			return attempts, retry, err
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
