package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TopicReader reads topics back from their start or from a time, without a
// consumer group. *bus.Bus implements it.
type TopicReader interface {
	Offsets(ctx context.Context, topic string) ([]int, map[int]bus.PartitionOffsets, error)
	ReadRange(ctx context.Context, topic string, partition int, from time.Time, first, before int64, fn func(value []byte, offset int64, at time.Time) error) (int64, error)
}

// restoredKey marks a read model that holds what the topics held when it
// was last restored, or that has been following them since it started
// empty. Redis losing its data loses the mark with it.
func (m *ReadModel) restoredKey() string { return m.k("restored") }

// keepReadModel restores the read model from the topics whenever it finds
// it lost: at start, and at every check while it runs (Redis restarted
// empty, or failed over to a replica that had not caught up). The serve
// stages only consume what comes after their committed offsets, so
// without this the console would show no firing alert until each one next
// changed, and no history. A restore that fails (Kafka or Redis away) is
// tried again at the next check.
func (s *Server) keepReadModel(ctx context.Context, src TopicReader, topics config.Topics, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		err := s.restoreIfLost(ctx, src, topics)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			// Once: while Kafka is away the feed says so already.
			s.log.Warn("cannot restore the console's read model from the topics; trying again at every feed check", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Server) restoreIfLost(ctx context.Context, src TopicReader, topics config.Topics) error {
	n, err := s.model.s.Exists(ctx, s.model.restoredKey()).Result()
	if err != nil || n == 1 {
		return err
	}
	started := s.now()
	s.log.Warn("the console's read model is not in Redis; restoring it from the alerts and levels topics")
	// Every write of the read model is idempotent and ordered by event
	// time, so the live stages may apply the same messages meanwhile.
	// Alerts first: which are firing matters most, and that topic is
	// small, so all of it is read; levels from the raw series' retention.
	alerts, err := s.restoreTopic(ctx, src, topics.Name(topics.Alerts), time.Time{}, func(ctx context.Context, b []byte) error {
		a, err := codec.Decode[msg.Alert, *msg.Alert](b)
		if err != nil {
			return nil // the serve stage dead-letters it
		}
		_, err = s.model.ApplyAlert(ctx, a)
		return err
	})
	if err != nil {
		return err
	}
	levels, err := s.restoreTopic(ctx, src, topics.Name(topics.Levels), started.Add(-s.model.RawRetention), func(ctx context.Context, b []byte) error {
		l, err := codec.Decode[msg.Level, *msg.Level](b)
		if err != nil {
			return nil
		}
		if _, err := s.model.ApplyLevel(ctx, l); err != nil && !errors.Is(err, msg.ErrInvalid) {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.model.cache.invalidate()
	if err := s.model.s.Set(ctx, s.model.restoredKey(), started.UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return fmt.Errorf("cannot mark the read model restored: %w", err)
	}
	s.metrics.applied.WithLabelValues("alert", "restored").Add(float64(alerts))
	s.metrics.applied.WithLabelValues("level", "restored").Add(float64(levels))
	s.log.Warn("the console's read model is restored", "alerts", alerts, "levels", levels, "took", s.now().Sub(started).Round(time.Millisecond))
	return nil
}

// restoreWorkers apply messages at once: each costs a few Redis round
// trips, which a single writer waits out one after the other.
const restoreWorkers = 8

// restoreTopic applies every message of topic stamped at or after from
// (zero: all it holds) up to its end as it is now. The read model's writes
// commute (each is ordered by event time inside Redis), so messages are
// applied by several workers in any order.
func (s *Server) restoreTopic(ctx context.Context, src TopicReader, topic string, from time.Time, apply func(context.Context, []byte) error) (int64, error) {
	parts, offs, err := src.Offsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan []byte, 4*restoreWorkers)
	for range restoreWorkers {
		g.Go(func() error {
			for b := range work {
				if err := apply(gctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var total int64
	g.Go(func() error {
		defer close(work)
		for _, p := range parts {
			o := offs[p]
			n, err := src.ReadRange(gctx, topic, p, from, o.First, o.End, func(b []byte, _ int64, _ time.Time) error {
				select {
				case work <- b:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			})
			total += n
			if err != nil {
				return fmt.Errorf("cannot restore from %s/%d: %w", topic, p, err)
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		return total, err
	}
	return total, nil
}
