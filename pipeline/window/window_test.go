package window

import "testing"

func TestSliding(t *testing.T) {
	s := NewSliding(3)
	add := func(idx int64, w float64) bool { return s.Add(idx, Bucket{Total: w, Live: w, Posts: 1}) }
	add(10, 1)
	add(11, 2)
	add(12, 3)
	if s.Sum.Live != 6 || s.Sum.Posts != 3 {
		t.Fatalf("sum %+v, want 6 over 3 posts", s.Sum)
	}
	if !add(11, 1) || s.Sum.Live != 7 {
		t.Fatalf("a late post inside the window must count: %+v", s.Sum)
	}
	if add(9, 5) {
		t.Fatal("a post older than the window was accepted")
	}
	s.Advance(13) // bucket 10 leaves
	if s.Sum.Live != 6 {
		t.Fatalf("after one step: %v, want 6", s.Sum.Live)
	}
	s.Advance(100) // a long silence empties the window
	if s.Sum != (Bucket{}) || s.Head != 100 {
		t.Fatalf("after silence: %+v head %d", s.Sum, s.Head)
	}
	s.Advance(50) // time never runs back
	if s.Head != 100 {
		t.Fatal("the head moved backwards")
	}
	n := NewSliding(4)
	n.Add(-3, Bucket{Live: 1}) // negative indices (before 1970) work too
	n.Add(-1, Bucket{Live: 1})
	if n.Sum.Live != 2 || !n.Contains(-4) || n.Contains(-5) {
		t.Fatalf("negative indices: %+v", n.Sum)
	}
}

func TestHourly(t *testing.T) {
	h := NewHourly(24)
	if _, ok := h.At(5); ok || h.Observed(5) != 0 {
		t.Fatal("an empty ring knows an hour")
	}
	h.Add(100, 2)
	h.Add(103, 4)
	if v, ok := h.At(101); !ok || v != 0 {
		t.Fatalf("an hour without posts is a known zero: %v %v", v, ok)
	}
	if _, ok := h.At(99); ok {
		t.Fatal("an hour before the first observation is known")
	}
	// A backfill reaching back makes the hours between known.
	h.Add(95, 1)
	if v, ok := h.At(97); !ok || v != 0 || h.Observed(103) != 9 {
		t.Fatalf("after backfill: %v %v observed %d", v, ok, h.Observed(103))
	}
	h.Add(130, 1) // hours 95..106 leave the ring
	if _, ok := h.At(103); ok {
		t.Fatal("an hour out of the ring is still known")
	}
	if h.Add(100, 1) {
		t.Fatal("an hour out of the ring was accepted")
	}
	if h.Observed(130) != 24 {
		t.Fatalf("observed %d, want the ring's 24", h.Observed(130))
	}
}
