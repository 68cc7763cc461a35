package notify

import (
	"context"
	"errors"
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
	s.restoreMu.Lock()
	defer s.restoreMu.Unlock()
	ok, err := s.state.Restored(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return s.restoreAll(ctx, at)
	}
	return s.restoreLag(ctx, at)
}

// restoreAll restores the whole record (see restoreIfLost).
func (s *Stage) restoreAll(ctx context.Context, at *pipeline.Meta) error {
	now := s.now()
	parts, offs, err := s.history.Offsets(ctx, s.topic)
	if err != nil {
		return fmt.Errorf("cannot restore what was sent: %w", err)
	}
	handled, err := s.handledOffsets(ctx, at)
	if err != nil {
		return err
	}
	ranges := map[int][2]int64{}
	for _, p := range parts {
		if end, ok := handled[p]; ok {
			ranges[p] = [2]int64{offs[p].First, min(end, offs[p].End)}
		}
	}
	latest, read, err := s.readBack(ctx, ranges)
	if err != nil {
		return err
	}
	restored := 0
	for _, e := range latest {
		if e.a.Status == msg.StatusResolved && now.Sub(e.at) > s.cfg.ResolvedRetention {
			continue
		}
		added, err := s.state.TrackIfAbsent(ctx, s.takenAsSent(e))
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
	if err := s.markHandledUpTo(ctx, handled, at); err != nil {
		return err
	}
	if restored > 0 {
		s.log.Warn("the record of what was sent was not in Redis; restored it from the alerts topic",
			"messages", read, "episodes", restored)
	}
	s.m.restored.Add(float64(restored))
	return nil
}

// restoreLag finds and restores what a failover to a replica that had not
// caught up lost: the restore mark, written long before, survived, but the
// effects of the last messages handled did not. The offsets recorded
// after those effects (alertstate.MarkHandled) fell back with them, below
// the offsets the consumer group committed (which Kafka keeps), or below
// what this process recorded itself. The messages in between are read
// back from the alerts topic, and each episode's latest state there is
// taken as handled: a firing nothing is tracked for as sent to the
// receivers its labels route to now (so it is kept alive, and its
// resolution reaches them), and a resolution of an episode still tracked
// as firing as due to every receiver told of the firing (so no keep-alive
// or repeat revives the ended alert, and no incident stays open; a
// receiver that had got the resolution before the failover gets it twice).
//
// A message checks its own partition against this process's record, and
// against Kafka only the first time this process sees the partition; the
// tick checks every partition against Kafka.
func (s *Stage) restoreLag(ctx context.Context, at *pipeline.Meta) error {
	if at != nil {
		marks, err := s.state.Handled(ctx)
		if err != nil {
			return err
		}
		mine, known := s.wrote[at.Partition]
		if mark, ok := marks[at.Partition]; known && ok && mark >= mine {
			return nil
		}
	}
	handled, err := s.handledOffsets(ctx, at)
	if err != nil {
		return err
	}
	// Read after the committed offsets: a message is marked before it is
	// committed, so a mark read now is behind them only when it was lost.
	marks, err := s.state.Handled(ctx)
	if err != nil {
		return err
	}
	ranges := map[int][2]int64{}
	behind := map[int]int64{}
	for p, end := range handled {
		mark, ok := marks[p]
		_, known := s.wrote[p]
		switch {
		case ok && mark < end:
			ranges[p] = [2]int64{mark, end}
		case !ok && known:
			// The mark itself was lost: where the loss starts is unknown.
			ranges[p] = [2]int64{0, end}
		}
		if !ok || mark < end {
			// Without a mark and unknown here: written by a version that
			// kept none, so nothing is known lost; from now on it is kept.
			behind[p] = end
		}
	}
	if len(ranges) > 0 {
		if err := s.restoreRanges(ctx, ranges); err != nil {
			return err
		}
	}
	if at != nil {
		behind[at.Partition] = handled[at.Partition]
	}
	return s.markHandledUpTo(ctx, behind, at)
}

// restoreRanges reads back the messages in ranges (partition -> [first,
// before)) and restores the episodes whose latest state there the record
// lost (see restoreLag).
func (s *Stage) restoreRanges(ctx context.Context, ranges map[int][2]int64) error {
	_, offs, err := s.history.Offsets(ctx, s.topic)
	if err != nil {
		return fmt.Errorf("cannot restore what was sent: %w", err)
	}
	for p, r := range ranges {
		ranges[p] = [2]int64{max(r[0], offs[p].First), min(r[1], offs[p].End)}
	}
	latest, read, err := s.readBack(ctx, ranges)
	if err != nil {
		return err
	}
	now := s.now()
	restored := 0
	for _, e := range latest {
		if e.a.Status == msg.StatusResolved && now.Sub(e.at) > s.cfg.ResolvedRetention {
			continue
		}
		tr, err := s.state.Tracked(ctx, e.a.Fingerprint)
		switch {
		case errors.Is(err, alertstate.ErrNotFound):
			added, err := s.state.TrackIfAbsent(ctx, s.takenAsSent(e))
			if err != nil {
				return err
			}
			if added {
				restored++
			}
		case err != nil:
			return err
		case tr.Alert.Status == msg.StatusFiring && e.a.Status == msg.StatusResolved:
			tr.Alert = *Redact(e.a)
			if tr.Deliveries == nil {
				tr.Deliveries = map[string]alertstate.Delivery{}
			}
			for n, d := range tr.Deliveries {
				if toldOfFiring(d) || d.MaybeFiring {
					tr.Deliveries[n] = alertstate.Delivery{Status: d.Status, SentAt: d.SentAt, Pending: msg.StatusResolved, MaybeFiring: d.MaybeFiring}
				}
			}
			// Stored unless another instance stored the resolution meanwhile.
			stored, err := s.state.TrackFiring(ctx, tr)
			if err != nil {
				return err
			}
			if stored {
				restored++
			}
		}
	}
	if restored > 0 {
		s.log.Warn("Redis lost the latest record of what was sent (a failover to a replica behind?); restored it from the alerts topic",
			"messages", read, "episodes", restored)
	}
	// Otherwise the messages were handled without a record (dead-lettered,
	// say), or their record survived: nothing was lost.
	s.m.restored.Add(float64(restored))
	return nil
}

// seen is an episode's latest message read back from the alerts topic,
// and when the topic received it.
type seen struct {
	a  *msg.Alert
	at time.Time
}

// readBack reads the alerts topic's ranges (partition -> [first, before))
// and returns each episode's latest message there, replays left out.
func (s *Stage) readBack(ctx context.Context, ranges map[int][2]int64) (map[string]seen, int64, error) {
	latest := map[string]seen{}
	var read int64
	for p, r := range ranges {
		if r[0] >= r[1] {
			continue
		}
		n, err := s.history.ReadRange(ctx, s.topic, p, time.Time{}, r[0], r[1], func(b []byte, _ int64, at time.Time) error {
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
			return nil, read, fmt.Errorf("cannot restore what was sent from %s/%d: %w", s.topic, p, err)
		}
	}
	return latest, read, nil
}

// takenAsSent is the record of an episode whose latest message e the
// stage handled: e's status delivered, when the topic received it, to the
// receivers its labels route to now.
func (s *Stage) takenAsSent(e seen) *alertstate.Tracked {
	tr := &alertstate.Tracked{Alert: *Redact(e.a), Deliveries: map[string]alertstate.Delivery{}}
	for _, r := range s.receiversFor(tr) {
		tr.Deliveries[r.Name] = alertstate.Delivery{Status: e.a.Status, SentAt: e.at.UTC()}
	}
	return tr
}

// handledOffsets is, per partition, the offset before which the stage
// handled every message: what its group committed, and for the partition
// of the message in hand (at), that message's offset.
func (s *Stage) handledOffsets(ctx context.Context, at *pipeline.Meta) (map[int]int64, error) {
	handled, err := s.history.Committed(ctx, s.group, s.topic)
	if err != nil {
		return nil, fmt.Errorf("cannot restore what was sent: %w", err)
	}
	if handled == nil {
		handled = map[int]int64{}
	}
	if at != nil {
		handled[at.Partition] = max(handled[at.Partition], at.Offset)
	}
	return handled, nil
}

// markHandledUpTo records handled (partition -> offset) as restored, and
// the message in hand's partition as this process's own.
func (s *Stage) markHandledUpTo(ctx context.Context, handled map[int]int64, at *pipeline.Meta) error {
	for p, end := range handled {
		if err := s.state.MarkHandled(ctx, p, end); err != nil {
			return err
		}
	}
	if at != nil {
		s.wrote[at.Partition] = max(s.wrote[at.Partition], handled[at.Partition])
	}
	return nil
}

// markHandled records, after the effects of the message at, that they are
// in Redis (see alertstate.MarkHandled).
func (s *Stage) markHandled(ctx context.Context, at pipeline.Meta) error {
	if s.history == nil || s.state == nil {
		return nil
	}
	if err := s.state.MarkHandled(ctx, at.Partition, at.Offset+1); err != nil {
		return err
	}
	s.restoreMu.Lock()
	defer s.restoreMu.Unlock()
	s.wrote[at.Partition] = max(s.wrote[at.Partition], at.Offset+1)
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
