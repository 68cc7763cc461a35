package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Event is one live update, encoded once per audience (redaction mode).
type Event struct {
	ID     string
	Type   string
	seq    uint64
	frames [3][]byte // by audience: viewer, responder, analyst
}

// Audiences of live updates, by redaction mode.
const (
	audViewer = iota
	audResponder
	audAnalyst
)

func audienceOf(mode string) int {
	switch mode {
	case RedactNone:
		return audAnalyst
	case RedactPII:
		return audResponder
	}
	return audViewer
}

// frame returns the SSE frame for an audience.
func (e *Event) frame(aud int) []byte { return e.frames[aud] }

func sseFrame(id, typ string, data []byte) []byte {
	var b strings.Builder
	b.Grow(len(data) + len(id) + len(typ) + 24)
	b.WriteString("id: ")
	b.WriteString(id)
	b.WriteString("\nevent: ")
	b.WriteString(typ)
	b.WriteString("\ndata: ")
	// JSON never holds a raw newline, so one data line is enough.
	b.Write(data)
	b.WriteString("\n\n")
	return []byte(b.String())
}

// Hub fans live updates out to every connected stream. Publish never
// blocks on a client: each has a bounded buffer, and a client whose buffer
// is full is disconnected (its browser reconnects with Last-Event-ID and
// catches up from the replay ring, or reloads when too far behind).
type Hub struct {
	mu      sync.Mutex
	epoch   string
	seq     uint64
	clients map[*Subscriber]struct{}
	ring    []*Event
	ringPos int
	buf     int
	max     int
	// perCaller bounds the streams of one caller (0: unbounded); byCaller
	// holds each caller's streams, oldest first.
	perCaller int
	byCaller  map[string][]*Subscriber

	clientsGauge prometheus.Gauge
	published    prometheus.Counter
	dropped      *prometheus.CounterVec
}

// Subscriber is one connected stream.
type Subscriber struct {
	C chan *Event
	// Gone is closed when the hub drops the subscriber (too slow, or the
	// hub closed).
	Gone chan struct{}
	// caller is who opened it ("" for none); why is set before Gone is
	// closed.
	caller string
	why    string
}

// DropCallerLimit is why a stream ended when its caller opened one more
// than sse.max_clients_per_principal allows.
const DropCallerLimit = "caller_limit"

// Why reports why the hub dropped the subscriber ("slow", "shutdown",
// DropCallerLimit); read it only after Gone is closed.
func (s *Subscriber) Why() string { return s.why }

// ErrTooManyClients reports that the hub is at its client limit.
var ErrTooManyClients = errors.New("too many live-update clients")

// NewHub returns a hub with per-client buffers of buf events, a replay
// ring of replay events and at most maxClients streams.
func NewHub(buf, replay, maxClients int, reg prometheus.Registerer) *Hub {
	var e [6]byte
	_, _ = rand.Read(e[:])
	h := &Hub{
		epoch: hex.EncodeToString(e[:]), clients: map[*Subscriber]struct{}{}, byCaller: map[string][]*Subscriber{},
		ring: make([]*Event, replay), buf: buf, max: maxClients,
		clientsGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "threatwatch_api_sse_clients", Help: "Connected live-update streams.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "threatwatch_api_sse_events_total", Help: "Live updates published to the hub.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_api_sse_dropped_clients_total", Help: "Streams the hub disconnected, by reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(h.clientsGauge, h.published, h.dropped)
	}
	return h
}

// LimitPerCaller bounds the streams one caller may hold at once (0:
// unbounded). Call it before the first Subscribe.
func (h *Hub) LimitPerCaller(n int) { h.perCaller = n }

// Publish sends an event to every subscriber. Each form is marshalled
// once: viewer for viewers, pii for responders and none for analysts; a
// nil form is the previous (less trusted) one.
func (h *Hub) Publish(typ string, viewer, pii, none any) error {
	var data [3][]byte
	for i, v := range []any{viewer, pii, none} {
		if v == nil {
			if i == 0 {
				return errors.New("hub: an event needs its viewer form")
			}
			data[i] = data[i-1]
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		data[i] = b
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	id := h.epoch + "-" + strconv.FormatUint(h.seq, 10)
	ev := &Event{ID: id, Type: typ, seq: h.seq}
	for i := range data {
		if i > 0 && &data[i][0] == &data[i-1][0] {
			ev.frames[i] = ev.frames[i-1]
			continue
		}
		ev.frames[i] = sseFrame(id, typ, data[i])
	}
	if len(h.ring) > 0 {
		h.ring[h.ringPos] = ev
		h.ringPos = (h.ringPos + 1) % len(h.ring)
	}
	h.published.Inc()
	for s := range h.clients {
		select {
		case s.C <- ev:
		default:
			h.dropLocked(s, "slow")
		}
	}
	return nil
}

func (h *Hub) dropLocked(s *Subscriber, reason string) {
	if _, ok := h.clients[s]; !ok {
		return
	}
	s.why = reason
	h.removeLocked(s)
	h.dropped.WithLabelValues(reason).Inc()
}

func (h *Hub) removeLocked(s *Subscriber) {
	delete(h.clients, s)
	if s.caller != "" {
		subs := h.byCaller[s.caller]
		if i := slices.Index(subs, s); i >= 0 {
			subs = slices.Delete(subs, i, i+1)
		}
		if len(subs) == 0 {
			delete(h.byCaller, s.caller)
		} else {
			h.byCaller[s.caller] = subs
		}
	}
	close(s.Gone)
	h.clientsGauge.Dec()
}

// Subscribe registers a stream of no particular caller; see SubscribeAs.
func (h *Hub) Subscribe(lastID string) (s *Subscriber, backlog []*Event, reset bool, err error) {
	return h.SubscribeAs("", lastID)
}

// SubscribeAs registers a stream of caller. A caller at its limit has its
// oldest stream dropped (DropCallerLimit) to make room: a stream the
// client no longer reads (a reconnect that never closed the old one, a
// connection gone half-open) is almost always the oldest, and the one a
// person is looking at the newest. lastID is the Last-Event-ID the client
// sent (may be empty); backlog holds the events it missed, and reset says
// it missed more than the ring holds (or the server restarted) and must
// reload its state.
func (h *Hub) SubscribeAs(caller, lastID string) (s *Subscriber, backlog []*Event, reset bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if caller != "" && h.perCaller > 0 {
		for len(h.byCaller[caller]) >= h.perCaller {
			h.dropLocked(h.byCaller[caller][0], DropCallerLimit)
		}
	}
	if len(h.clients) >= h.max {
		h.dropped.WithLabelValues("limit").Inc()
		return nil, nil, false, ErrTooManyClients
	}
	s = &Subscriber{C: make(chan *Event, h.buf), Gone: make(chan struct{}), caller: caller}
	h.clients[s] = struct{}{}
	if caller != "" {
		h.byCaller[caller] = append(h.byCaller[caller], s)
	}
	h.clientsGauge.Inc()
	if lastID == "" {
		return s, nil, false, nil
	}
	epoch, seqS, ok := strings.Cut(lastID, "-")
	seq, perr := strconv.ParseUint(seqS, 10, 64)
	if !ok || perr != nil || epoch != h.epoch || seq > h.seq {
		return s, nil, true, nil
	}
	if seq == h.seq {
		return s, nil, false, nil
	}
	// Collect seq+1..h.seq from the ring, oldest first.
	n := len(h.ring)
	for i := 0; i < n; i++ {
		ev := h.ring[(h.ringPos+i)%n]
		if ev != nil && ev.seq > seq {
			backlog = append(backlog, ev)
		}
	}
	if len(backlog) == 0 || backlog[0].seq != seq+1 {
		return s, nil, true, nil
	}
	return s, backlog, false, nil
}

// Unsubscribe removes a stream that ended.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[s]; ok {
		h.removeLocked(s)
	}
}

// Clients returns the number of connected streams.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Close disconnects every stream.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.clients {
		h.dropLocked(s, "shutdown")
	}
}
