package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// Feed states.
const (
	FeedLive = "live"
	// FeedBehind: Kafka answers, but a stage upstream of the levels has
	// stopped making progress while work waits for it.
	FeedBehind = "behind"
	// FeedPaused: the console cannot reach Kafka.
	FeedPaused = "paused"
)

// FeedEvent says whether what the console shows is current. It is pushed
// to live streams when it changes and sent in every stream's hello, so a
// dashboard never shows data as live while the pipeline cannot deliver:
// a blind pipeline must not look calm. Reason reaches every role: it
// names no broker, address or post.
type FeedEvent struct {
	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason,omitempty"`
}

type feedState struct {
	mu  sync.Mutex
	cur FeedEvent
}

func (s *Server) feedNow() FeedEvent {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	return s.feed.cur
}

// setFeed records the state found by a check and tells the live streams
// and the log when it changes.
func (s *Server) setFeed(state, reason string, cause error) {
	s.feed.mu.Lock()
	if s.feed.cur.State == state && s.feed.cur.Reason == reason {
		s.feed.mu.Unlock()
		return
	}
	ev := FeedEvent{State: state, Since: s.now().UTC(), Reason: reason}
	if s.feed.cur.State == state {
		ev.Since = s.feed.cur.Since // the same state, in other words
	}
	s.feed.cur = ev
	s.feed.mu.Unlock()
	switch state {
	case FeedLive:
		s.log.Info("live feed current")
	default:
		s.log.Warn("live feed "+state, "reason", reason, "err", cause)
	}
	if err := s.hub.Publish("feed", ev, ev, ev); err != nil {
		s.log.Warn("cannot publish the feed state", "err", err)
	}
}

// FeedSource is what the feed check asks the stream (a *bus.Bus).
type FeedSource interface {
	Ping(ctx context.Context) error
	GroupLag(ctx context.Context, group, topic string) (lag, committed int64, err error)
}

// upstream are the stages whose stall leaves the console behind: what
// they do not pass on never becomes a level or an alert.
func upstream(t config.Topics) []struct{ stage, topic, what string } {
	return []struct{ stage, topic, what string }{
		{"classify", t.Name(t.Posts), "posts wait to be scored"},
		{"aggregate", t.Name(t.Scored), "scored posts wait to be aggregated"},
	}
}

// progress is what the last checks saw of one stage.
type progress struct {
	committed int64
	moved     time.Time // last time it committed, or had nothing to do
}

// watchFeed checks the stream every interval until ctx ends: that Kafka
// answers, and that no upstream stage has had work waiting for stall
// without committing any of it.
func (s *Server) watchFeed(ctx context.Context, src FeedSource, topics config.Topics, every, stall time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	seen := map[string]*progress{}
	for {
		s.checkFeed(ctx, src, topics, every, stall, seen)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Server) checkFeed(ctx context.Context, src FeedSource, topics config.Topics, timeout, stall time.Duration, seen map[string]*progress) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := src.Ping(cctx); err != nil {
		if ctx.Err() == nil {
			s.setFeed(FeedPaused, "the console cannot reach the stream (Kafka): no new levels or alerts arrive", err)
		}
		return
	}
	now := s.now()
	for _, u := range upstream(topics) {
		lag, committed, err := src.GroupLag(cctx, u.stage, u.topic)
		if err != nil {
			s.log.Debug("cannot read a stage's progress", "stage", u.stage, "err", err)
			continue
		}
		p := seen[u.stage]
		if p == nil || committed != p.committed || lag == 0 {
			seen[u.stage] = &progress{committed: committed, moved: now}
			continue
		}
		if now.Sub(p.moved) >= stall {
			s.setFeed(FeedBehind, fmt.Sprintf("%s: the %s stage has made no progress for over %s", u.what, u.stage, stall), nil)
			return
		}
	}
	s.setFeed(FeedLive, "", nil)
}
