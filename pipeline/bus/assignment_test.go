package bus

import (
	"slices"
	"testing"
	"time"
)

// Two readers of one group, each tagged, find the partitions the
// coordinator gave each: together all of them, and none twice.
func TestAssignmentNamesEachReadersPartitions(t *testing.T) {
	b, ctx := openEmbedded(t, 4, "in")
	w := b.Writer("in", WriterOptions{})
	for i := 0; i < 40; i++ {
		if err := w.WriteMessages(ctx, kafkaMsg(itoa(i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if _, found, err := b.Assignment(ctx, "stage", "in", "a"); err != nil || found {
		t.Fatalf("before anyone joined: found %v, %v", found, err)
	}
	ra := b.GroupReader("stage", []string{"in"}, ReaderOptions{Member: "a"})
	defer ra.Close()
	rb := b.GroupReader("stage", []string{"in"}, ReaderOptions{Member: "b"})
	defer rb.Close()
	// Reading makes them join; each gets some messages once both are in.
	go func() {
		for {
			if _, err := ra.FetchMessage(ctx); err != nil {
				return
			}
		}
	}()
	go func() {
		for {
			if _, err := rb.FetchMessage(ctx); err != nil {
				return
			}
		}
	}()
	var a, bp []int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("assignments a=%v b=%v, want the four partitions split between them", a, bp)
		}
		var fa, fb bool
		var err error
		if a, fa, err = b.Assignment(ctx, "stage", "in", "a"); err != nil {
			t.Fatal(err)
		}
		if bp, fb, err = b.Assignment(ctx, "stage", "in", "b"); err != nil {
			t.Fatal(err)
		}
		all := append(slices.Clone(a), bp...)
		slices.Sort(all)
		if fa && fb && len(a) > 0 && len(bp) > 0 && slices.Equal(all, []int{0, 1, 2, 3}) {
			break
		}
	}
	if _, found, err := b.Assignment(ctx, "stage", "in", "c"); err != nil || found {
		t.Fatalf("an unknown tag: found %v, %v", found, err)
	}
}
