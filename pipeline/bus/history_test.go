package bus

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestReadRangeReadsByTimestampUpToAnOffset(t *testing.T) {
	b, ctx := openEmbedded(t, 1, "hist")
	// Ten messages stamped an hour apart.
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	w := b.Writer("hist", WriterOptions{})
	for i := 0; i < 10; i++ {
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte(fmt.Sprint(i)), Time: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	for _, c := range []struct {
		name          string
		from          time.Time
		first, before int64
		want          string
	}{
		{"from a time up to an offset", t0.Add(3*time.Hour - time.Minute), 0, 7, "3456"},
		{"from before the first message", t0.Add(-time.Hour), 0, 3, "012"},
		{"nothing at or after from below the offset", t0.Add(8 * time.Hour), 0, 5, ""},
		{"from after every message", t0.Add(24 * time.Hour), 0, 10, ""},
		{"offset 0 has no history", t0, 0, 0, ""},
		{"from an offset, any time", time.Time{}, 6, 9, "678"},
		{"the later of a time and an offset", t0.Add(2 * time.Hour), 4, 6, "45"},
		{"the later of an offset and a time", t0.Add(5 * time.Hour), 4, 7, "56"},
		{"an empty range", time.Time{}, 5, 5, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ""
			var lastOff int64 = -1
			n, err := b.ReadRange(ctx, "hist", 0, c.from, c.first, c.before, func(v []byte, off int64, at time.Time) error {
				if off <= lastOff {
					t.Errorf("offset %d after %d", off, lastOff)
				}
				if want := t0.Add(time.Duration(off) * time.Hour); !at.Equal(want) {
					t.Errorf("offset %d stamped %v, want %v", off, at, want)
				}
				lastOff = off
				got += string(v)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want || n != int64(len(c.want)) {
				t.Errorf("read %q (%d), want %q", got, n, c.want)
			}
		})
	}
	// An error from fn stops the read and comes back.
	stop := fmt.Errorf("stop")
	if _, err := b.ReadRange(ctx, "hist", 0, t0, 0, 10, func([]byte, int64, time.Time) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: got %v", err)
	}
}
