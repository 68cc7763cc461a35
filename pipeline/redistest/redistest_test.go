package redistest_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// Restart is how tests make "Redis restarted without persistence": what
// was written before is gone, on the real server and on the in-process
// fallback alike. The fallback used to keep its data across Restart, so
// on a machine without redis-server the same test checked a Redis that
// lost nothing.
func TestRestartLosesWhatWasWritten(t *testing.T) {
	if os.Getenv(redistest.EnvURL) != "" {
		t.Skip("cannot restart an external Redis")
	}
	for _, tc := range []struct {
		name string
		path string // PATH while starting: empty hides redis-server
	}{
		{"redis-server", os.Getenv("PATH")},
		{"the in-process fallback", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path != "" {
				redistest.NeedOwnServer(t, "restarts")
			}
			t.Setenv("CI", "")
			t.Setenv("PATH", tc.path)
			srv := redistest.Start(t)
			s := redistest.Connect(t, srv)
			ctx := context.Background()
			if err := s.Set(ctx, s.Key("k"), "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			srv.Restart(t)
			if v, err := s.Get(ctx, s.Key("k")).Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("after Restart the key holds %q (%v), want it gone", v, err)
			}
			if err := s.Set(ctx, s.Key("k"), "v2", 0).Err(); err != nil {
				t.Fatalf("the restarted server does not answer: %v", err)
			}
		})
	}
}
