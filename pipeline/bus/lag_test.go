package bus

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestGroupLagCountsWhatTheGroupHasNotCommitted(t *testing.T) {
	b, ctx := openEmbedded(t, 2, "in")
	// Before anything is written: nothing to do.
	if lag, _, err := b.GroupLag(ctx, "stage", "in"); err != nil || lag != 0 {
		t.Fatalf("empty topic: lag %d, %v", lag, err)
	}
	w := b.Writer("in", WriterOptions{})
	for i := 0; i < 5; i++ {
		if err := w.WriteMessages(ctx, kafkaMsg(string(rune('a'+i)), "v")); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	// A group that never ran has everything ahead of it.
	lag, committed0, err := b.GroupLag(ctx, "stage", "in")
	if err != nil || lag != 5 {
		t.Fatalf("no group yet: lag %d, %v; want 5", lag, err)
	}
	r := b.GroupReader("stage", []string{"in"}, ReaderOptions{})
	defer r.Close()
	var got []kafka.Message
	for len(got) < 2 {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if err := r.CommitMessages(ctx, got...); err != nil {
		t.Fatal(err)
	}
	lag, committed, err := b.GroupLag(ctx, "stage", "in")
	if err != nil || lag != 3 || committed != committed0+2 {
		t.Fatalf("after committing 2 of 5: lag %d, committed %d (was %d), %v; want 3 and 2 more", lag, committed, committed0, err)
	}
	// Committed names the partitions committed on, with the next offset.
	offs, err := b.Committed(ctx, "stage", "in")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for p, o := range offs {
		if o <= 0 || (p != got[0].Partition && p != got[1].Partition) {
			t.Errorf("committed offset %d on partition %d", o, p)
		}
		sum += o
	}
	if sum != 2 {
		t.Errorf("committed offsets %v, want 2 messages' worth", offs)
	}
	if none, err := b.Committed(ctx, "never-ran", "in"); err != nil || len(none) != 0 {
		t.Errorf("a group that never ran: %v, %v", none, err)
	}
}
