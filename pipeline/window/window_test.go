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

func TestFlags(t *testing.T) {
	f := NewFlags(100) // two words: bits past the first word must work too
	if f.Has(5) {
		t.Fatal("an empty ring has a mark")
	}
	f.Set(1000)
	f.Set(1070) // slot 70: the second word
	if !f.Has(1000) || !f.Has(1070) || f.Has(1001) || f.Head != 1070 {
		t.Fatalf("marks lost or invented: head %d", f.Head)
	}
	f.Set(900) // already out of the ring
	if f.Has(900) {
		t.Fatal("an hour out of the ring was marked")
	}
	f.Advance(1099) // 1000 is the oldest hour still in the ring
	if !f.Has(1000) {
		t.Fatal("a mark still in the ring was dropped")
	}
	f.Advance(1100) // 1000 leaves; its slot is reused by 1100, cleared
	if f.Has(1000) || f.Has(1100) || !f.Has(1070) {
		t.Fatalf("advance: has(1000)=%v has(1100)=%v has(1070)=%v", f.Has(1000), f.Has(1100), f.Has(1070))
	}
	f.Advance(5000) // a long gap clears everything
	if f.Has(1070) || f.Head != 5000 {
		t.Fatal("a long gap kept old marks")
	}
	var none *Flags
	if none.Has(1) {
		t.Fatal("a nil ring has a mark")
	}
}
