package kafkatest

import (
	"context"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/bus"
)

// MemTopic is a one-partition topic held in memory, for tests of code that
// reads a topic back (a rebuild, a restore) without a broker. It answers
// ReadRange, Offsets and Committed as *bus.Bus does.
type MemTopic struct {
	Values [][]byte
	// Times are the messages' Kafka timestamps.
	Times []time.Time
	// CommittedOffset is what Committed reports for partition 0.
	CommittedOffset int64
}

// Add appends a message stamped at.
func (m *MemTopic) Add(value []byte, at time.Time) {
	m.Values, m.Times = append(m.Values, value), append(m.Times, at)
}

// Offsets reports partition 0, from 0 to the number of messages.
func (m *MemTopic) Offsets(context.Context, string) ([]int, map[int]bus.PartitionOffsets, error) {
	return []int{0}, map[int]bus.PartitionOffsets{0: {First: 0, End: int64(len(m.Values))}}, nil
}

// Committed reports CommittedOffset for partition 0.
func (m *MemTopic) Committed(context.Context, string, string) (map[int]int64, error) {
	return map[int]int64{0: m.CommittedOffset}, nil
}

// ReadRange calls fn with the messages in [first, before) stamped at or
// after from.
func (m *MemTopic) ReadRange(_ context.Context, _ string, _ int, from time.Time, first, before int64, fn func([]byte, int64, time.Time) error) (int64, error) {
	var n int64
	for off := max(first, 0); off < before && off < int64(len(m.Values)); off++ {
		if m.Times[off].Before(from) {
			continue
		}
		if err := fn(m.Values[off], off, m.Times[off]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
