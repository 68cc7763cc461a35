package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// LevelEvent is a live level update. It carries the target's pseudonym,
// never its ref, so every role gets the same frame.
type LevelEvent struct {
	Site     string                 `json:"site,omitempty"`
	TargetID string                 `json:"target_id,omitempty"`
	Time     time.Time              `json:"time"`
	Level    float64                `json:"level"`
	Baseline float64                `json:"baseline"`
	Score    float64                `json:"score,omitempty"`
	Name     string                 `json:"name,omitempty"`
	Stale    bool                   `json:"stale,omitempty"`
	Signals  map[msg.Signal]float64 `json:"signals,omitempty"`
}

// ActionEvent is an operator action, pushed so every open dashboard
// shows it.
type ActionEvent struct {
	// Action is ack, unack, resolve, silence or unsilence.
	Action      string    `json:"action"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	SilenceID   string    `json:"silence_id,omitempty"`
	By          string    `json:"by"`
	At          time.Time `json:"at"`
	Note        string    `json:"note,omitempty"`
	// Origin is the replica that took the action (for cross-replica relay).
	Origin string `json:"origin,omitempty"`
}

// PublishLevel pushes a level to live streams.
func (s *Server) PublishLevel(l *msg.Level) {
	ev := LevelEvent{Site: l.Site, TargetID: TargetID(l.Target), Time: l.Time.UTC(), Level: l.Level, Baseline: l.Baseline,
		Score: l.Score, Name: l.Name, Stale: l.Stale, Signals: l.Signals}
	if IsHealthSignal(l) {
		// Health only: the dashboard keeps the level it shows.
		if err := s.hub.Publish("health", map[string]any{"site": l.Site, "stale": l.Stale, "state": strings.TrimPrefix(l.Name, "scraper_"), "time": l.Time.UTC()}, nil, nil); err != nil {
			s.log.Warn("cannot publish health", "err", err)
		}
		return
	}
	if err := s.hub.Publish("level", ev, nil, nil); err != nil {
		s.log.Warn("cannot publish level", "err", err)
	}
}

// PublishAlert pushes an alert (without evidence) to live streams, with
// its acknowledgement and the silences matching it, as a list shows it: a
// dashboard draws the row from the event, and without them an
// acknowledged or silenced alert read as neither until the next reload.
func (s *Server) PublishAlert(ctx context.Context, a *msg.Alert) {
	rec := &AlertRecord{Alert: *a}
	modes := []string{RedactFull, RedactPII, RedactNone}
	views := make([]AlertView, len(modes))
	var derr error
	for i, mode := range modes {
		views[i] = s.alertView(rec, mode, false)
		views[i].rawLabels = a.Labels
		if derr == nil {
			derr = s.decorate(ctx, views[i:i+1], mode)
		}
	}
	if derr != nil {
		// The change itself matters more than its badges: push it.
		s.log.Warn("cannot read the alert's acknowledgement and silences for its live update", "fingerprint", a.Fingerprint, "err", derr)
		for i := range views {
			views[i].Ack, views[i].Silenced = nil, nil
		}
	}
	if err := s.hub.Publish("alert", views[0], views[1], views[2]); err != nil {
		s.log.Warn("cannot publish alert", "err", err)
	}
}

func (s *Server) publishActionLocal(e ActionEvent) {
	e.Origin = ""
	viewer, pii := e, e
	viewer.Note, viewer.By = s.note(e.Note, RedactFull), shownBy(e.By, RedactFull)
	pii.Note = s.note(e.Note, RedactPII)
	if err := s.hub.Publish("action", viewer, pii, e); err != nil {
		s.log.Warn("cannot publish action", "err", err)
	}
}

// publishAction pushes an action to this replica's streams and, through
// Redis, to the other replicas'.
func (s *Server) publishAction(ctx context.Context, e ActionEvent) {
	s.publishActionLocal(e)
	e.Origin = s.cfg.ReplicaID
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	if err := s.store.Publish(ctx, s.store.Key("api", "actions"), b).Err(); err != nil {
		s.log.Warn("cannot relay action to other replicas", "err", err)
	}
}

// RelayActions forwards other replicas' actions to this replica's streams
// until ctx ends.
func (s *Server) RelayActions(ctx context.Context) error {
	sub := s.store.Subscribe(ctx, s.store.Key("api", "actions"))
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			var e ActionEvent
			if json.Unmarshal([]byte(m.Payload), &e) != nil || e.Origin == s.cfg.ReplicaID {
				continue
			}
			if e.Action == "silence" || e.Action == "unsilence" {
				s.forgetSilences()
			}
			s.publishActionLocal(e)
		}
	}
}

// handleEvents streams live updates as server-sent events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	rc := http.NewResponseController(w)
	sub, backlog, reset, err := s.hub.SubscribeAs(p.key, r.Header.Get("Last-Event-ID"))
	if err != nil {
		return err
	}
	defer s.hub.Unsubscribe(sub)
	// The server's ReadTimeout would otherwise fire mid-stream and cancel
	// the request: a stream reads nothing after its headers.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	hello, _ := json.Marshal(map[string]any{"role": p.Role, "reset": reset, "redaction": redactionFor(p.Role), "feed": s.feedNow()})
	if err := write([]byte("retry: 3000\nevent: hello\ndata: " + string(hello) + "\n\n")); err != nil {
		return nil
	}
	aud := audienceOf(redactionFor(p.Role))
	for _, ev := range backlog {
		if err := write(ev.frame(aud)); err != nil {
			return nil
		}
	}
	hb := time.NewTicker(s.cfg.SSE.Heartbeat)
	defer hb.Stop()
	// The stream ends when its credential expires: the client reconnects
	// and must present a valid one, so a revoked or expired JWT does not
	// keep receiving updates for as long as the connection lasts.
	var expired <-chan time.Time
	if !p.expires.IsZero() {
		t := time.NewTimer(p.expires.Sub(s.now()))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-sub.Gone:
			if sub.Why() == DropCallerLimit {
				// Say why, so a client (or whoever reads its log) can tell
				// this from a network fault.
				_ = write([]byte("event: closed\ndata: {\"reason\":\"too many live streams for this caller: sse.max_clients_per_principal is " +
					strconv.Itoa(s.cfg.SSE.MaxClientsPerPrincipal) + "; this, the oldest, is closed\"}\n\n"))
			}
			return nil
		case <-expired:
			return nil
		case ev := <-sub.C:
			if err := write(ev.frame(aud)); err != nil {
				return nil
			}
		case <-hb.C:
			if err := write([]byte(": keep-alive\n\n")); err != nil {
				return nil
			}
		}
	}
}

// ---- the serve stages ----

// LevelStage returns the stage that feeds levels into the read model and
// the live streams. Its name, and so its consumer group, carries the
// replica id: every replica needs every update.
func (s *Server) LevelStage(topic string) pipeline.Stage[msg.Level, *msg.Level] {
	return pipeline.Stage[msg.Level, *msg.Level]{
		Name: LevelStageName(s.cfg.ReplicaID), Input: topic,
		Handler: &levelHandler{s: s},
	}
}

// maxLevelsPerWrite bounds the levels one ApplyLevels call stores:
// runner.batch_size allows 100,000, and one pipeline of them all was held
// in memory whole and read back under a single read deadline, which a
// slow Redis missed on every retry.
const maxLevelsPerWrite = 1000

// levelHandler applies a batch of levels at once: Handle checks and holds
// each level, and Checkpoint, which the runner calls once per batch before
// it commits the batch's offsets, stores them with ApplyLevels and pushes
// the current, recent ones live. Applied one at a time, a level cost about
// three Redis round trips, and a backlog took minutes to catch up.
type levelHandler struct {
	s       *Server
	pending []*msg.Level
	metas   []pipeline.Meta
}

// Handle holds l for the batch's Checkpoint; a level without time is
// dead-lettered at once.
func (h *levelHandler) Handle(_ context.Context, l *msg.Level, meta pipeline.Meta) ([]pipeline.Output, error) {
	if l.Time.IsZero() {
		return nil, pipeline.Permanent("invalid", fmt.Errorf("%w: level without time", msg.ErrInvalid))
	}
	h.pending = append(h.pending, l)
	h.metas = append(h.metas, meta)
	return nil, nil
}

// Checkpoint stores the batch's levels. A transient error is returned and
// the runner calls it again with the same batch (every write is
// idempotent). Any other error (a stored summary that cannot be decoded)
// would then stop the stage for good: the levels are applied one by one
// instead, and those that still fail are logged and counted as failed,
// where the one-level handler dead-lettered them.
func (h *levelHandler) Checkpoint(ctx context.Context, _ map[int]int64) error {
	if len(h.pending) == 0 {
		return nil
	}
	cur := make([]bool, 0, len(h.pending))
	var err error
	for chunk := range slices.Chunk(h.pending, maxLevelsPerWrite) {
		var c []bool
		if c, err = h.s.model.ApplyLevels(ctx, chunk); err != nil {
			break
		}
		cur = append(cur, c...)
	}
	var failed map[int]bool
	if err != nil {
		if class, _ := pipeline.Classify(err); class == pipeline.Transient || ctx.Err() != nil {
			return err
		}
		// The chunks before the failed one are stored: one by one from it.
		done := len(cur)
		cur = slices.Grow(cur, len(h.pending)-done)[:len(h.pending)]
		for i := done; i < len(h.pending); i++ {
			l := h.pending[i]
			c, err := h.s.model.ApplyLevel(ctx, l)
			if err != nil {
				if class, _ := pipeline.Classify(err); class == pipeline.Transient || ctx.Err() != nil {
					return err
				}
				if failed == nil {
					failed = map[int]bool{}
				}
				failed[i] = true
				h.s.metrics.applied.WithLabelValues("level", "failed").Inc()
				h.s.log.Error("cannot apply level; skipped", "stage", LevelStageName(h.s.cfg.ReplicaID), "site", l.Site,
					"partition", h.metas[i].Partition, "offset", h.metas[i].Offset, "err", err)
				continue
			}
			cur[i] = c
		}
	}
	for i, l := range h.pending {
		if failed[i] {
			continue
		}
		if !cur[i] {
			h.s.metrics.applied.WithLabelValues("level", "late").Inc()
			continue
		}
		h.s.metrics.applied.WithLabelValues("level", "current").Inc()
		if h.s.recent(h.metas[i]) {
			h.s.PublishLevel(l)
		}
	}
	// Cleared, the slice's array no longer keeps a large batch's levels.
	clear(h.pending)
	h.pending, h.metas = h.pending[:0], h.metas[:0]
	return nil
}

// LevelStageName is the name, and so the consumer group, of the level
// stage of replica.
func LevelStageName(replica string) string { return "serve-levels-" + replica }

// AlertStage returns the stage that feeds alerts into the read model and
// the live streams; its ticker expires old resolved alerts.
func (s *Server) AlertStage(topic string) pipeline.Stage[msg.Alert, *msg.Alert] {
	return pipeline.Stage[msg.Alert, *msg.Alert]{
		Name: "serve-alerts-" + s.cfg.ReplicaID, Input: topic,
		Handler: &alertHandler{s: s}, TickEvery: 10 * time.Minute,
	}
}

// HandleLevel applies one level and pushes it live when it is current
// and recent (a replica catching up does not replay history to browsers).
func (s *Server) HandleLevel(ctx context.Context, l *msg.Level, meta pipeline.Meta) ([]pipeline.Output, error) {
	cur, err := s.model.ApplyLevel(ctx, l)
	if err != nil {
		if errors.Is(err, msg.ErrInvalid) {
			return nil, pipeline.Permanent("invalid", err)
		}
		return nil, err
	}
	if !cur {
		s.metrics.applied.WithLabelValues("level", "late").Inc()
		return nil, nil
	}
	s.metrics.applied.WithLabelValues("level", "current").Inc()
	if s.recent(meta) {
		s.PublishLevel(l)
	}
	return nil, nil
}

func (s *Server) recent(meta pipeline.Meta) bool {
	return meta.Time.IsZero() || s.now().Sub(meta.Time) <= s.cfg.SSE.MaxAge
}

// HandleAlert applies one alert and pushes it live.
func (s *Server) HandleAlert(ctx context.Context, a *msg.Alert, meta pipeline.Meta) ([]pipeline.Output, error) {
	cur, err := s.model.ApplyAlert(ctx, a)
	if err != nil {
		return nil, err
	}
	if !cur {
		s.metrics.applied.WithLabelValues("alert", "late").Inc()
		return nil, nil
	}
	s.metrics.applied.WithLabelValues("alert", "current").Inc()
	if s.recent(meta) {
		s.PublishAlert(ctx, a)
	}
	return nil, nil
}

type alertHandler struct{ s *Server }

func (h *alertHandler) Handle(ctx context.Context, a *msg.Alert, meta pipeline.Meta) ([]pipeline.Output, error) {
	return h.s.HandleAlert(ctx, a, meta)
}

// Tick expires old resolved alerts and idle targets, a bounded number per
// tick.
func (h *alertHandler) Tick(ctx context.Context, _ time.Time) ([]pipeline.Output, error) {
	n, err := h.s.model.Expire(ctx, 1000)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		h.s.log.Info("expired old resolved alerts", "alerts", n)
	}
	n, err = h.s.model.ExpireTargets(ctx, 1000)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		h.s.log.Info("forgot targets idle past the hourly retention", "targets", n)
	}
	return nil, nil
}

// Run runs the console: the two serve stages, the action relay, the
// check of the feed, the restore of a lost read model and the HTTP
// listener, until ctx ends or one of them fails.
func (s *Server) Run(ctx context.Context, d pipeline.Deps, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 6)
	go func() { errc <- pipeline.Run(ctx, d, s.LevelStage(d.Topics.Name(d.Topics.Levels))) }()
	go func() { errc <- pipeline.Run(ctx, d, s.AlertStage(d.Topics.Name(d.Topics.Alerts))) }()
	go func() { errc <- s.RelayActions(ctx) }()
	go func() { errc <- s.Serve(ctx, ln) }()
	go func() { errc <- s.watchFeed(ctx, d.Bus, d.Topics, s.feedInt, s.stall) }()
	go func() { errc <- s.keepReadModel(ctx, d.Bus, d.Topics, s.feedInt) }()
	var first error
	for range 6 {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		} else if first == nil && ctx.Err() == nil {
			// A part stopped without error before shutdown: stop the rest.
			cancel()
		}
	}
	return first
}
