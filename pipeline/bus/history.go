package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ReadRange calls fn, in offset order, with each message of one partition
// whose offset is in [first, before) and that entered the topic at or
// after from (its Kafka timestamp; zero: any time). It returns how many
// messages it passed to fn. Offsets the topic no longer holds (retention)
// are passed over.
//
// It is for a stage restoring the state of a partition it is about to
// consume from before: the message at before exists, so the read always
// ends without waiting for new messages, even where the log has gaps in
// its offsets. Nothing is committed: no consumer group is used.
func (b *Bus) ReadRange(ctx context.Context, topic string, partition int, from time.Time, first, before int64, fn func(value []byte, offset int64, at time.Time) error) (int64, error) {
	if before <= 0 || first >= before {
		return 0, nil
	}
	_, offs, err := b.Offsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	first = max(first, offs[partition].First)
	r := b.PartitionReader(topic, partition)
	defer r.Close()
	if !from.IsZero() {
		if err := r.SetOffsetAt(ctx, from); err != nil {
			return 0, fmt.Errorf("cannot seek %s/%d to %s: %w", topic, partition, from.UTC().Format(time.RFC3339), b.Explain(err))
		}
		if off := r.Offset(); off < 0 || off >= before {
			// Nothing stamped at or after from lies below before.
			return 0, nil
		} else if off > first {
			first = off
		}
	}
	if first >= before {
		return 0, nil
	}
	if err := r.SetOffset(first); err != nil {
		return 0, fmt.Errorf("cannot seek %s/%d to offset %d: %w", topic, partition, first, err)
	}
	var n int64
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("cannot read %s/%d: %w", topic, partition, b.Explain(err))
		}
		if m.Offset >= before {
			return n, nil
		}
		if _, ok := Control(m); !ok { // a stage's watermark is not data
			if err := fn(m.Value, m.Offset, m.Time); err != nil {
				return n, err
			}
			n++
		}
		if m.Offset == before-1 {
			return n, nil
		}
	}
}
