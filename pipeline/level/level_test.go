package level

import (
	"fmt"
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

// TestACountedPostIsFoundWhileItIsInTheWindow: every threatening post is
// looked up (a copy of a post is an edit); a busy key looks it up through
// an index that must follow what Prune drops and Count adds.
func TestACountedPostIsFoundWhileItIsInTheWindow(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	key := func(i int) uint64 { return PostKey(fmt.Sprint("p", i)) }
	f := func(name string, n int) {
		t.Run(name, func(t *testing.T) {
			s := NewState(12, 24)
			for i := range n {
				s.Count(Counted{Key: key(i), At: t0.Add(time.Duration(i) * time.Second), W: 1})
			}
			if _, ok := s.CountedOf(key(n)); ok {
				t.Errorf("a post never counted was found")
			}
			s.Prune(t0.Add(time.Duration(n/2) * time.Second))
			for i := range n {
				if _, ok := s.CountedOf(key(i)); ok != (i >= n/2) {
					t.Errorf("post %d of %d found %v after the first half left the window", i, n, ok)
				}
			}
			s.Count(Counted{Key: key(0), At: t0.Add(time.Hour), W: 1})
			if c, ok := s.CountedOf(key(0)); !ok || !c.At.Equal(t0.Add(time.Hour)) {
				t.Errorf("a post counted again after it left the window: found %v at %v", ok, c.At)
			}
		})
	}
	f("a quiet key walks its few posts", 10)
	f("a busy key looks its posts up in an index", 500)
	f("a key that becomes quiet drops its index", 2*countedScan+2)
}
