package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TopicReader reads a topic back without a consumer group, and a group's
// committed offsets. *bus.Bus implements it.
type TopicReader interface {
	Offsets(ctx context.Context, topic string) ([]int, map[int]bus.PartitionOffsets, error)
	Committed(ctx context.Context, group, topic string) (map[int]int64, error)
	ReadRange(ctx context.Context, topic string, partition int, from time.Time, first, before int64, fn func(value []byte, offset int64, at time.Time) error) (int64, error)
}

// restoreIfLost rebuilds the record of what was sent from the alerts
// topic when Redis lost it (restarted empty, failed over to a replica
// that had not caught up). Without it, keep-alives stop, so Alertmanager
// resolves alerts that are still firing, and a resolution that comes
// later reaches nobody, since no receiver is known to have been told of
// the firing: PagerDuty incidents stay open for good.
//
// Only what the stage handled is read: each partition up to the offset
// its group committed, and the partition of the message in hand (at, nil
// from a tick) up to that message. Each episode's latest message there is
// taken as delivered, when the topic received it, to the receivers its
// labels route to now. It is stored only where nothing is tracked for it
// yet, so an alert this or another instance handled meanwhile keeps what
// was really sent. Resolved episodes older than notify.resolved_retention
// are left out, as are replays. Acknowledgements, silences and operators'
// resolve requests are not in the topic and stay lost.
func (s *Stage) restoreIfLost(ctx context.Context, at *pipeline.Meta) error {
	if s.history == nil || s.state == nil {
		return nil
	}
	if ok, err := s.state.Restored(ctx); err != nil || ok {
		return err
	}
	now := s.now()
	type seen struct {
		a  *msg.Alert
		at time.Time
	}
	latest := map[string]seen{}
	parts, offs, err := s.history.Offsets(ctx, s.topic)
	if err != nil {
		return fmt.Errorf("cannot restore what was sent: %w", err)
	}
	handled, err := s.history.Committed(ctx, s.group, s.topic)
	if err != nil {
		return fmt.Errorf("cannot restore what was sent: %w", err)
	}
	if at != nil {
		handled[at.Partition] = at.Offset
	}
	var read int64
	for _, p := range parts {
		end, ok := handled[p]
		if !ok {
			continue // nothing of it handled yet
		}
		n, err := s.history.ReadRange(ctx, s.topic, p, time.Time{}, offs[p].First, min(end, offs[p].End), func(b []byte, _ int64, at time.Time) error {
			a, err := codec.Decode[msg.Alert, *msg.Alert](b)
			if err != nil || a.Replay {
				return nil
			}
			cur, ok := latest[a.Fingerprint]
			if !ok || later(a, cur.a) {
				latest[a.Fingerprint] = seen{a, at}
			}
			return nil
		})
		read += n
		if err != nil {
			return fmt.Errorf("cannot restore what was sent from %s/%d: %w", s.topic, p, err)
		}
	}
	restored := 0
	for _, e := range latest {
		if e.a.Status == msg.StatusResolved && now.Sub(e.at) > s.cfg.ResolvedRetention {
			continue
		}
		tr := &alertstate.Tracked{Alert: *Redact(e.a), Deliveries: map[string]alertstate.Delivery{}}
		for _, r := range s.receiversFor(tr) {
			tr.Deliveries[r.Name] = alertstate.Delivery{Status: e.a.Status, SentAt: e.at.UTC()}
		}
		added, err := s.state.TrackIfAbsent(ctx, tr)
		if err != nil {
			return err
		}
		if added {
			restored++
		}
	}
	if err := s.state.MarkRestored(ctx, now); err != nil {
		return err
	}
	if restored > 0 {
		s.log.Warn("the record of what was sent was not in Redis; restored it from the alerts topic",
			"messages", read, "episodes", restored)
	}
	s.m.restored.Add(float64(restored))
	return nil
}

// later reports whether a is a later state of its episode than b: a
// resolution ends an episode, otherwise the later event time wins, and a
// tie goes to the message read last (the topic keeps an episode's
// messages in order).
func later(a, b *msg.Alert) bool {
	if a.Status != b.Status {
		return a.Status == msg.StatusResolved
	}
	return !a.EventTime.Before(b.EventTime)
}
