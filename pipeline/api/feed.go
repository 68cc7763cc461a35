package api

import (
	"context"
	"sync"
	"time"
)

// Feed states.
const (
	FeedLive   = "live"
	FeedPaused = "paused"
)

// FeedEvent says whether new levels and alerts can reach the console. It
// is pushed to live streams when it changes and sent in every stream's
// hello, so a dashboard never shows data as live while the console is cut
// off from the stream: a blind pipeline must not look calm.
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

// setFeed records the result of a check of the stream and tells the
// live streams and the log when the state changes.
func (s *Server) setFeed(err error) {
	state, reason := FeedLive, ""
	if err != nil {
		// The reason reaches every role: it names no broker and no address.
		state, reason = FeedPaused, "the console cannot reach the stream (Kafka): no new levels or alerts arrive"
	}
	s.feed.mu.Lock()
	if s.feed.cur.State == state {
		s.feed.mu.Unlock()
		return
	}
	ev := FeedEvent{State: state, Since: s.now().UTC(), Reason: reason}
	s.feed.cur = ev
	s.feed.mu.Unlock()
	if err != nil {
		s.log.Warn("live feed paused: the stream is unreachable", "err", err)
	} else {
		s.log.Info("live feed back")
	}
	if perr := s.hub.Publish("feed", ev, ev, ev); perr != nil {
		s.log.Warn("cannot publish the feed state", "err", perr)
	}
}

// watchFeed checks the stream every interval until ctx ends.
func (s *Server) watchFeed(ctx context.Context, ping func(context.Context) error, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, every)
		err := ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		s.setFeed(err)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
