package pipeline

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A partition's upstream watermark is the lowest of those its writers
// last reported; one that stopped being reported while others go on (its
// writer's topic recreated smaller, its partition gone) stops holding the
// partition after watermarkExpiry intervals, but when none is reported
// (the stage upstream is down) all of them hold.
func TestUpstreamLowestOfTheReported(t *testing.T) {
	const every = 10 * time.Second
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	wm := func(parts map[int]time.Time) *msg.Watermark {
		return &msg.Watermark{Stage: "classify", Topic: "posts", Through: parts}
	}
	for _, c := range []struct {
		name  string
		steps []map[int]time.Time // reported one interval apart
		want  time.Time
	}{
		{"the lowest partition holds", []map[int]time.Time{{0: t0.Add(time.Minute), 1: t0}}, t0},
		{"a later report replaces an earlier one", []map[int]time.Time{{0: t0, 1: t0}, {0: t0.Add(time.Hour), 1: t0.Add(2 * time.Hour)}}, t0.Add(time.Hour)},
		{"a report may go back (a new owner behind)", []map[int]time.Time{{0: t0.Add(time.Hour)}, {0: t0}}, t0},
		{"a partition unreported for long stops holding", append([]map[int]time.Time{{0: t0, 1: t0}}, repeat(map[int]time.Time{1: t0.Add(time.Hour)}, watermarkExpiry+1)...), t0.Add(time.Hour)},
		{"one unreported for less still holds", append([]map[int]time.Time{{0: t0, 1: t0}}, repeat(map[int]time.Time{1: t0.Add(time.Hour)}, watermarkExpiry-1)...), t0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var u upstream
			var got time.Time
			var ok bool
			for i, s := range c.steps {
				got, ok = u.take(3, wm(s), t0.Add(time.Duration(i)*every), every)
			}
			if !ok || !got.Equal(c.want) {
				t.Errorf("lowest = %v (%v), want %v", got, ok, c.want)
			}
		})
	}
	t.Run("nothing reported at all holds everything", func(t *testing.T) {
		var u upstream
		u.take(3, wm(map[int]time.Time{0: t0, 1: t0.Add(time.Hour)}), t0, every)
		// Much later, nothing new: lowest is asked with no new report.
		u.mu.Lock()
		got, ok := u.lowest(3, every)
		u.mu.Unlock()
		if !ok || !got.Equal(t0) {
			t.Errorf("lowest = %v (%v), want %v", got, ok, t0)
		}
	})
}

func repeat(m map[int]time.Time, n int) []map[int]time.Time {
	out := make([]map[int]time.Time, n)
	for i := range out {
		out[i] = m
	}
	return out
}
