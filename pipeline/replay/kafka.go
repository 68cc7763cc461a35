package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/bus"
)

// TopicRange chooses the slice of a topic to replay.
type TopicRange struct {
	// From and To bound the replay in event time, [From, To). Zero From:
	// from the start of the topic; zero To: up to the end as it was when
	// the replay started.
	From, To time.Time
	// Slack widens the window read by Kafka timestamp (the time a message
	// entered the topic) on both sides: a post published at 23:59 may have
	// been scraped and written minutes later. Posts outside [From, To) in
	// event time are read but not replayed. Zero is no slack (the read
	// range is [From, To) by timestamp); the commands default to
	// DefaultSlack.
	Slack time.Duration
}

// DefaultSlack is the slack the replay and export commands read with when
// none is given: a live stream writes a post minutes after it was
// published.
const DefaultSlack = time.Hour

// Topic opens every partition of a topic for a replay or an export. Each
// partition starts at the first offset whose Kafka timestamp is at or after
// From minus Slack (kafka-go's SetOffsetAt) and ends at the end offset the
// partition had when Topic was called, or at the first message stamped at
// or after To plus Slack. Nothing is committed: no consumer group is used.
func Topic(ctx context.Context, b *bus.Bus, topic string, tr TopicRange) (*Source, error) {
	if tr.Slack < 0 {
		return nil, fmt.Errorf("slack %v is negative", tr.Slack)
	}
	parts, offs, err := b.Offsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	s := &Source{unit: "messages"}
	for _, p := range parts {
		ps := &partitionSource{name: fmt.Sprintf("%s/%d", topic, p), start: offs[p].First, end: offs[p].End}
		if !tr.To.IsZero() {
			ps.stopAt = tr.To.Add(tr.Slack)
		}
		if ps.end > ps.start {
			r := b.PartitionReader(topic, p)
			ps.r = r
			if !tr.From.IsZero() {
				if err := r.SetOffsetAt(ctx, tr.From.Add(-tr.Slack)); err != nil {
					s.inputs = append(s.inputs, ps)
					s.Close()
					return nil, fmt.Errorf("cannot seek %s to %s: %w", ps.name, tr.From.Add(-tr.Slack).Format(time.RFC3339), b.Explain(err))
				}
				switch off := r.Offset(); {
				case off < 0 || off > ps.end: // no message at or after that time
					ps.start = ps.end
				case off > ps.start:
					ps.start = off
				}
			} else if err := r.SetOffset(ps.start); err != nil {
				s.inputs = append(s.inputs, ps)
				s.Close()
				return nil, fmt.Errorf("cannot seek %s: %w", ps.name, err)
			}
		}
		ps.next = ps.start
		s.inputs = append(s.inputs, ps)
	}
	return s, nil
}

// partitionSource reads one partition between two offsets.
type partitionSource struct {
	name       string
	r          *kafka.Reader
	start, end int64
	next       int64
	stopAt     time.Time
	read       atomic.Int64
}

func (p *partitionSource) Name() string { return p.name }

func (p *partitionSource) Progress() (done, total int64) {
	return p.read.Load(), p.end - p.start
}

func (p *partitionSource) Close() error {
	if p.r == nil {
		return nil
	}
	err := p.r.Close()
	p.r = nil
	return err
}

// Fill reads up to n messages. A read that fails is an error for the whole
// source: a partition cannot skip ahead without losing messages silently.
func (p *partitionSource) Fill(ctx context.Context, c *chunk, n int) error {
	for len(c.lines) < n {
		if p.r == nil || p.next >= p.end {
			return io.EOF
		}
		m, err := p.r.ReadMessage(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		p.read.Store(m.Offset - p.start + 1)
		if _, ok := bus.Control(m); ok {
			// A stage's watermark, not data; stamped when it was written,
			// so it says nothing of where the range ends either.
			p.next = m.Offset + 1
			continue
		}
		if !p.stopAt.IsZero() && !m.Time.Before(p.stopAt) {
			p.next = p.end
			return io.EOF
		}
		c.add(m.Value, m.Offset)
		p.next = m.Offset + 1
	}
	return nil
}
