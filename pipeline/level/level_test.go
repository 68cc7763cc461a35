package level

import (
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestTheHighestScoreInTheWindowFollowsTheWindow(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	m := func(d time.Duration) time.Time { return t0.Add(d * time.Minute) }
	s := NewState(12, 24)
	for _, p := range []struct {
		at    time.Duration
		score float64
	}{{0, 1}, {50, 0.95}, {55, 0.6}, {20, 0.97}, {30, 0.9}, {50, 0.8}} {
		s.AddScores(map[msg.Signal]float64{msg.SignalDoxxing: p.score}, m(p.at))
	}
	f := func(since time.Duration, want float64, wantAt time.Duration) {
		t.Helper()
		s.Prune(m(since))
		got, ok := s.MaxScores[msg.SignalDoxxing]
		switch {
		case want == 0 && ok:
			t.Errorf("since %d min: highest %v at %v, want none", since, got.Score, got.At)
		case want != 0 && (got.Score != want || !got.At.Equal(m(wantAt))):
			t.Errorf("since %d min: highest %v at %v, want %v at %d min", since, got.Score, got.At, want, wantAt)
		}
	}
	f(0, 1, 0)
	f(5, 0.97, 20)
	f(25, 0.95, 50)
	f(51, 0.6, 55)
	f(56, 0, 0)
	if len(s.LowerScores) != 0 {
		t.Errorf("lower scores left after the window emptied: %v", s.LowerScores)
	}
}
