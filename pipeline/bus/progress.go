package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Progress is how far a consumer group has got through one partition.
type Progress struct {
	// Committed is the group's committed offset (the partition's first
	// offset when it never committed or its offset has expired); End is
	// the offset the next message will get.
	Committed, End int64
	// Oldest is the Kafka timestamp of the message at Committed, the first
	// the group has not handled; zero when the group is caught up, and
	// when that message could not be read (OldestErr says why).
	Oldest    time.Time
	OldestErr error
}

// CaughtUp says the group has handled every message of the partition.
func (p Progress) CaughtUp() bool { return p.Committed >= p.End }

// GroupProgress returns a stage's consumer group's progress through every
// partition of topic. For a partition it is behind on, it reads the first
// message it has not handled, for the time that message was written: a
// partition whose message cannot be read has a zero Oldest and an
// OldestErr, not an error for all.
func (b *Bus) GroupProgress(ctx context.Context, group, topic string) (map[int]Progress, error) {
	cl, release := b.Client()
	defer release()
	parts, offs, err := b.offsets(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	done, err := b.committed(ctx, cl, group, topic, parts)
	if err != nil {
		return nil, err
	}
	out := make(map[int]Progress, len(parts))
	for _, p := range parts {
		c, ok := done[p]
		if !ok || c < offs[p].First {
			c = offs[p].First
		}
		pr := Progress{Committed: c, End: offs[p].End}
		if !pr.CaughtUp() {
			pr.Oldest, pr.OldestErr = b.timeAt(ctx, cl, topic, p, c)
		}
		out[p] = pr
	}
	return out, nil
}

// timeAt returns the timestamp of the message at offset (or, if it was
// deleted meanwhile, of the first one after it).
func (b *Bus) timeAt(ctx context.Context, cl *kafka.Client, topic string, partition int, offset int64) (time.Time, error) {
	res, err := cl.Fetch(ctx, &kafka.FetchRequest{
		Topic: topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: 64 << 10, MaxWait: 500 * time.Millisecond,
	})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read %s/%d at %d: %w", topic, partition, offset, b.Explain(err))
	}
	for res.Records != nil {
		r, err := res.Records.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Not there (yet): a fetch answers with nothing rather
				// than wait past MaxWait.
				return time.Time{}, fmt.Errorf("cannot read %s/%d at %d: no message there", topic, partition, offset)
			}
			return time.Time{}, fmt.Errorf("cannot read %s/%d at %d: %w", topic, partition, offset, err)
		}
		// A fetch answers with whole record batches, which may begin
		// before the offset asked for.
		if r.Offset >= offset {
			return r.Time, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %s/%d at %d: no message there", topic, partition, offset)
}

// PartitionHeader is the Kafka header that sends a message to the partition
// it names (a decimal number) instead of the one its key hashes to: a
// watermark must reach every partition of a topic.
const PartitionHeader = "tw-partition"

// headerBalancer sends a message with a PartitionHeader to that partition
// and every other one as Murmur2 (the Java client's default) does.
type headerBalancer struct{ kafka.Murmur2Balancer }

func (h *headerBalancer) Balance(m kafka.Message, partitions ...int) int {
	for _, hd := range m.Headers {
		if hd.Key != PartitionHeader {
			continue
		}
		if p, err := strconv.Atoi(string(hd.Value)); err == nil {
			for _, q := range partitions {
				if q == p {
					return p
				}
			}
		}
		break
	}
	return h.Murmur2Balancer.Balance(m, partitions...)
}

// Control returns the kind of a control message (msg.ControlWatermark),
// and false for a data message.
func Control(m kafka.Message) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == msg.ControlHeader {
			return string(h.Value), true
		}
	}
	return "", false
}

// ControlMessage returns a control message of kind for partition of topic.
func ControlMessage(topic string, partition int, kind string, value []byte) kafka.Message {
	return kafka.Message{
		Topic: topic, Value: value,
		Headers: []kafka.Header{
			{Key: msg.ControlHeader, Value: []byte(kind)},
			{Key: PartitionHeader, Value: []byte(strconv.Itoa(partition))},
		},
	}
}
