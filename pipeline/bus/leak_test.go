package bus

import (
	"runtime"
	"testing"
	"time"
)

// The console checks the feed and Kubernetes probes readiness every few
// seconds for as long as the process runs, so each admin call must leave no
// connection or goroutine behind. kafka-go's transport keeps both (and asks
// the broker for metadata every couple of seconds) until it is closed: seen
// in a 4-minute soak of `threatwatch run` as +80 goroutines a minute.
func TestAdminCallsLeaveNothingRunning(t *testing.T) {
	b, ctx := openEmbedded(t, 3, "in")
	w := b.Writer("in", WriterOptions{})
	if err := w.WriteMessages(ctx, kafkaMsg("k", "v")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	calls := func() {
		if err := b.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.GroupLag(ctx, "stage", "in"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Committed(ctx, "stage", "in"); err != nil {
			t.Fatal(err)
		}
		if err := b.EnsureTopics(ctx, "in"); err != nil {
			t.Fatal(err)
		}
	}
	calls() // the embedded broker's goroutines for its clients start
	time.Sleep(300 * time.Millisecond)
	before := runtime.NumGoroutine()
	const rounds = 20
	for range rounds {
		calls()
	}
	// Each round opens five transports; a leak leaves at least one
	// goroutine for each.
	if after := settledGoroutines(before); after > before+rounds/2 {
		t.Errorf("goroutines: %d before %d rounds of admin calls, %d after", before, rounds, after)
	}
}

// settledGoroutines waits up to 5 s for the goroutine count to fall to
// floor (closed connections end their goroutines asynchronously) and
// returns the lowest count seen.
func settledGoroutines(floor int) int {
	low := runtime.NumGoroutine()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && low > floor; {
		time.Sleep(50 * time.Millisecond)
		low = min(low, runtime.NumGoroutine())
	}
	return low
}
