package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// Redis stops answering (a hung server, a network that drops packets):
// a call whose context has a deadline ends at that deadline. go-redis
// ignored context deadlines on the connection unless told otherwise, so
// such a call waited for its 3 s read timeout at least (10 s with its
// retries): a lease renewal bounded to end before its lease lapsed ended
// after it, and the holder learnt too late that another process may have
// taken the lease.
func TestACallToAHungRedisEndsAtItsContextDeadline(t *testing.T) {
	redistest.NeedOwnServer(t, "pauses")
	srv := redistest.Start(t)
	s := redistest.Connect(t, srv)
	srv.Pause(t)
	defer srv.Resume(t)
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"a read", func(ctx context.Context) error { return s.Get(ctx, s.Key("k")).Err() }},
		{"a lease", func(ctx context.Context) error {
			_, err := s.AcquireLease(ctx, s.Key("lease"), "A", time.Minute)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Far below go-redis's 3 s read timeout, far above a loaded
			// machine's scheduling delays.
			const budget = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			if took := time.Since(start); took > budget+time.Second {
				t.Fatalf("the call took %v with a %v deadline (err %v)", took, budget, err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want the context's deadline", err)
			}
		})
	}
}
