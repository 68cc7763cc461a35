package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Options are the stage's dependencies beyond its config.
type Options struct {
	Log *slog.Logger
	// Registerer takes the stage's metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Client overrides the HTTP client sinks use (tests).
	Client *http.Client
	// Stdout is where file sinks with path "-" write (default os.Stdout).
	Stdout io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// History, AlertsTopic and Group (the stage's consumer group) let the
	// stage restore its record of what was sent from the alerts topic when
	// Redis lost it (nil History: never).
	History     TopicReader
	AlertsTopic string
	Group       string
}

// Receiver is one configured receiver, built.
type Receiver struct {
	Name string
	Type string
	Sink Sink
	// Repeat is how often a firing alert is sent again.
	Repeat time.Duration
	// KeepAlive, when set, is the re-send interval the sink needs to keep
	// an alert firing; acknowledgements do not stop it.
	KeepAlive  time.Duration
	SendReplay bool
	// failing is set while the receiver's last delivery failed retryably:
	// new notifications then get one call instead of the full retry
	// sequence, so a dead receiver does not hold up the alerts topic.
	failing atomic.Bool
	// triedAt (Unix nanoseconds) is when a new notification last called
	// the receiver: while it is failing, at most one a tick does.
	triedAt atomic.Int64
	// quietUntil (Unix nanoseconds; 0: none) is when the receiver's last
	// Retry-After ends. Until then no call is made to it, for any alert:
	// new ones are held back and sent by the tick once it ends, rather
	// than each adding a call to a receiver that asked for none.
	quietUntil atomic.Int64
	// limited counts the receiver's rate limits (429s) in a row, this
	// process's calls since its last success: the backoff of a 429 without
	// Retry-After grows with it.
	limited atomic.Int64
}

// Stage is the notify stage's handler: pipeline.Handler[*msg.Alert] and
// pipeline.Ticker. Handle decides and sends the notifications of one
// alert; Tick repeats, retries, and carries out operators' resolve
// requests.
type Stage struct {
	cfg       config.Notify
	state     *alertstate.State
	router    *Router
	receivers map[string]*Receiver
	retry     Retry
	log       *slog.Logger
	now       func() time.Time
	m         *metrics
	holder    string
	history   TopicReader
	topic     string
	group     string
	// restoreMu guards wrote and keeps one restore at a time.
	restoreMu sync.Mutex
	// wrote is, per alerts-topic partition, the offset this process last
	// recorded as handled in Redis: finding Redis's record below it shows
	// that Redis lost writes (a failover to a replica behind).
	wrote map[int]int64
}

// Check builds every configured receiver without sending anything, so a
// bad setting is found before the stage runs (`config check` calls it).
func Check(cfg config.Notify, factories []Factory) error {
	_, err := buildReceivers(cfg, factories, Options{Stdout: io.Discard})
	return err
}

func buildReceivers(cfg config.Notify, factories []Factory, o Options) (map[string]*Receiver, error) {
	byType := map[string]Factory{}
	var types []string
	for _, f := range factories {
		byType[f.Type] = f
		types = append(types, f.Type)
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	out := map[string]*Receiver{}
	var errs []error
	for i, rc := range cfg.Receivers {
		path := fmt.Sprintf("notify.receivers[%d]", i)
		f, ok := byType[rc.Type]
		if !ok {
			errs = append(errs, &config.FieldError{Path: path + ".type", Err: fmt.Errorf("%w: %q, want one of %v", config.ErrInvalidEnum, rc.Type, types)})
			continue
		}
		sink, err := f.Build(&rc.Settings.Node, Deps{
			Receiver: rc.Name, Path: path + ".settings", Client: client,
			ExternalURL: cfg.ExternalURL, Now: o.Now, Stdout: o.Stdout,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r := &Receiver{Name: rc.Name, Type: rc.Type, Sink: sink, Repeat: cfg.RepeatInterval, SendReplay: rc.SendReplay}
		if rc.RepeatInterval > 0 {
			r.Repeat = rc.RepeatInterval
		}
		if k, ok := sink.(KeepAliver); ok && k.KeepAlive() > 0 {
			r.KeepAlive = k.KeepAlive()
		}
		out[rc.Name] = r
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// New builds the stage: its receivers from cfg with the given sink
// factories, its router, and its metrics.
func New(cfg config.Notify, factories []Factory, state *alertstate.State, o Options) (*Stage, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	recv, err := buildReceivers(cfg, factories, o)
	if err != nil {
		return nil, err
	}
	router, err := NewRouter(cfg)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Stage{
		cfg: cfg, state: state, router: router, receivers: recv, retry: NewRetry(cfg.Retry),
		log: o.Log.With("stage", "notify"), now: o.Now, m: m, holder: hex.EncodeToString(id[:]),
		history: o.History, topic: o.AlertsTopic, group: o.Group, wrote: map[int]int64{},
	}, nil
}

// Receivers lists the built receivers by name (sorted).
func (s *Stage) Receivers() []*Receiver {
	out := make([]*Receiver, 0, len(s.receivers))
	for _, r := range s.receivers {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close releases the sinks' resources (open files).
func (s *Stage) Close() error {
	var errs []error
	for _, r := range s.receivers {
		if c, ok := r.Sink.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Handle decides and delivers the notifications of one alert message. It
// writes no output topic. Sink failures are not errors here: they are
// recorded in the alert's state and retried by Tick. It returns an error
// only when the alert state cannot be read or written (Redis away), and
// the runner then retries the message.
func (s *Stage) Handle(ctx context.Context, in *msg.Alert, meta pipeline.Meta) ([]pipeline.Output, error) {
	if err := s.handle(ctx, in, meta); err != nil {
		return nil, err
	}
	// After the message's effects, so that a Redis that lost them has lost
	// this mark too (restoreIfLost).
	return nil, s.markHandled(ctx, meta)
}

func (s *Stage) handle(ctx context.Context, in *msg.Alert, meta pipeline.Meta) error {
	now := s.now()
	a := Redact(in)
	if a.Replay && !s.wantsReplay(a) {
		// Nobody takes replays: record the decision and keep no state, so
		// a long replay does not fill Redis with episodes nobody will close.
		for _, name := range s.router.Match(a.Labels) {
			if r, ok := s.receivers[name]; ok {
				s.record(ctx, alertstate.AuditEntry{
					Action: alertstate.ActionNotify, Fingerprint: a.Fingerprint, Labels: a.Labels, Status: a.Status,
					Receiver: r.Name, Sink: r.Type, Result: alertstate.ResultReplay,
				})
				s.m.notifications.WithLabelValues(r.Name, alertstate.ResultReplay).Inc()
			}
		}
		return nil
	}
	// Before deciding from the record of what was sent, make sure Redis
	// still holds it: a resolution decided on a lost record reaches nobody.
	if err := s.restoreIfLost(ctx, &meta); err != nil {
		return err
	}
	tr, err := s.state.Tracked(ctx, a.Fingerprint)
	isNew := errors.Is(err, alertstate.ErrNotFound)
	switch {
	case isNew:
		tr = &alertstate.Tracked{Deliveries: map[string]alertstate.Delivery{}}
	case err != nil:
		return err
	case tr.Alert.Status == msg.StatusResolved && a.Status == msg.StatusFiring:
		// A redelivered or late firing of an episode already resolved:
		// paging now would be wrong.
		s.m.dropped.WithLabelValues("after_resolve").Inc()
		s.log.Debug("firing notification after its resolution ignored", "partition", meta.Partition, "offset", meta.Offset, "fingerprint", a.Fingerprint)
		return nil
	}
	if tr.Deliveries == nil {
		tr.Deliveries = map[string]alertstate.Delivery{}
	}
	tr.Alert = *a
	env, err := s.loadEnv(ctx, now, a.Fingerprint)
	if err != nil {
		return err
	}
	if a.Status == msg.StatusFiring {
		if _, closed, err := s.state.Closed(ctx, a.Fingerprint); err != nil {
			return err
		} else if closed {
			env.closed = true
		}
	}
	s.deliverAll(ctx, tr, env, false)
	if isNew && a.Status == msg.StatusFiring && len(tr.Receivers) == 0 {
		// No route matched and no default receiver is configured: the
		// alert reaches nobody, which must not go unnoticed.
		s.m.dropped.WithLabelValues("no_receiver").Inc()
		s.log.Warn("alert matches no route and there is no default receiver: nobody is notified",
			"fingerprint", a.Fingerprint, "alertname", a.Labels["alertname"], "site", a.Labels["site"])
	}
	if err := s.state.Track(ctx, tr); err != nil {
		return err
	}
	return nil
}

// wantsReplay reports whether any receiver a routes to takes replays.
func (s *Stage) wantsReplay(a *msg.Alert) bool {
	for _, name := range s.router.Match(a.Labels) {
		if r, ok := s.receivers[name]; ok && r.SendReplay {
			return true
		}
	}
	return false
}

// env is what one round of decisions needs besides the alert.
type env struct {
	now      time.Time
	silences []alertstate.Silence
	acks     map[string]alertstate.Ack
	closed   bool
	// holds are the receivers' waits (Retry-After) recorded in Redis by
	// any notify instance; read only.
	holds map[string]time.Time
	// down holds receivers that failed retryably during this tick; the
	// tick tries nothing more on them until the next one, so a dead
	// receiver costs one timeout per tick, not one per pending alert.
	down *sync.Map
}

func (s *Stage) loadEnv(ctx context.Context, now time.Time, fps ...string) (*env, error) {
	sils, err := s.state.Silences(ctx, false)
	if err != nil {
		return nil, err
	}
	acks, err := s.state.Acks(ctx, fps...)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(s.receivers))
	for n := range s.receivers {
		names = append(names, n)
	}
	holds, err := s.state.Holds(ctx, names...)
	if err != nil {
		return nil, err
	}
	return &env{now: now, silences: sils, acks: acks, holds: holds}, nil
}

// heldUntil is when the wait r last asked for (Retry-After) ends, as this
// process was told or another notify instance recorded in Redis; zero:
// none.
func heldUntil(r *Receiver, e *env) time.Time {
	var t time.Time
	if q := r.quietUntil.Load(); q != 0 {
		t = time.Unix(0, q)
	}
	if h := e.holds[r.Name]; h.After(t) {
		t = h
	}
	return t
}

// hold records the wait r asked for, here and in Redis for the other
// notify instances: kept per process, each would find out with a call of
// its own.
func (s *Stage) hold(ctx context.Context, r *Receiver, until time.Time) {
	r.quietUntil.Store(until.UnixNano())
	if err := s.state.Hold(ctx, r.Name, until); err != nil {
		s.log.Warn("cannot share a receiver's Retry-After with the other notify instances", "receiver", r.Name, "err", err)
	}
}

// waitFor is the retry loop's wait after a failed call to r, decided by
// Retry.Wait; when the receiver asked for it (a Retry-After, or a 429
// without one) it is shared at once: the loop may wait here for it, and
// the other instances must not call meanwhile. asked, when not nil, is set
// to whether the last failed call asked.
func (s *Stage) waitFor(ctx context.Context, r *Receiver, asked *bool) func(error, int) time.Duration {
	return func(err error, attempts int) time.Duration {
		n := attempts
		if _, ok := RetryAfter(err); ok || RateLimited(err) {
			// A receiver still rate-limited after the last wait is left
			// alone longer each time, across deliveries and ticks.
			n = max(n, int(r.limited.Add(1)))
		}
		wait, ask := s.retry.Wait(err, n)
		if ask {
			s.hold(ctx, r, s.now().Add(wait))
		}
		if asked != nil {
			*asked = ask
		}
		return wait
	}
}

// receiversFor returns who gets tr: the routed receivers, plus those that
// were sent something of it before (so a resolution reaches everyone who
// got the firing, even after a routing change).
func (s *Stage) receiversFor(tr *alertstate.Tracked) []*Receiver {
	names := s.router.Match(tr.Alert.Labels)
	var prior []string
	for n, d := range tr.Deliveries {
		if (d.Status != "" || d.Pending != "" || d.MaybeFiring) && !slices.Contains(names, n) {
			prior = append(prior, n)
		}
	}
	sort.Strings(prior)
	names = append(names, prior...)
	tr.Receivers = tr.Receivers[:0]
	var out []*Receiver
	for _, n := range names {
		if r, ok := s.receivers[n]; ok {
			out = append(out, r)
			tr.Receivers = append(tr.Receivers, n)
		}
	}
	return out
}

// deliverAll runs the decisions for every receiver of tr, sending to
// receivers in parallel so one slow sink does not hold up the others.
func (s *Stage) deliverAll(ctx context.Context, tr *alertstate.Tracked, e *env, tick bool) {
	rs := s.receiversFor(tr)
	routed := s.router.Match(tr.Alert.Labels)
	type result struct {
		name string
		d    alertstate.Delivery
	}
	out := make(chan result, len(rs))
	var wg sync.WaitGroup
	for _, r := range rs {
		d := tr.Deliveries[r.Name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := s.deliver(ctx, tr.Alert, r, d, e, tick, slices.Contains(routed, r.Name))
			out <- result{r.Name, s.passAck(ctx, tr.Alert, r, d, e)}
		}()
	}
	wg.Wait()
	close(out)
	for res := range out {
		tr.Deliveries[res.name] = res.d
	}
}

// decision is what the stage does with one notification for one receiver.
type decision struct {
	send   bool
	result string // audit result when not sent; "" for a silent dedup
	silIDs []string
	repeat bool
}

// decide is the single place the rules of the package doc are applied.
//
// routed says whether the alert's labels route it to r now; a receiver
// that got the firing before a config change routed it elsewhere gets
// only the resolution.
func (s *Stage) decide(a msg.Alert, r *Receiver, d alertstate.Delivery, e *env, routed bool) decision {
	if a.Replay && !r.SendReplay {
		return decision{result: alertstate.ResultReplay}
	}
	if d.Failed == a.Status && e.now.Sub(d.LastAttempt) < r.Repeat {
		// Failed for good a short while ago: do not hammer a receiver that
		// refuses the payload; try again after a repeat interval.
		return decision{}
	}
	if a.Status == msg.StatusResolved {
		if d.Status == "" && !d.MaybeFiring || d.Status == msg.StatusResolved && d.Pending == "" {
			// Never told of the firing (nor maybe told), or already told
			// of the end.
			return decision{}
		}
		if d.Pending != "" && !s.retryDue(d, e.now) {
			return decision{}
		}
		return decision{send: true}
	}
	if !routed {
		// No longer this receiver's alert (the routes changed): no
		// repeats, keep-alives or retries of its firing.
		return decision{}
	}
	if e.closed {
		return decision{result: alertstate.ResultClosed}
	}
	if ids := alertstate.SilencedBy(e.silences, a.Labels, e.now); len(ids) > 0 {
		return decision{result: alertstate.ResultSilenced, silIDs: ids}
	}
	if d.Pending == msg.StatusFiring {
		if _, acked := e.acks[a.Fingerprint]; acked && r.KeepAlive == 0 && (d.Status == msg.StatusFiring || !d.MaybeFiring) {
			// Acknowledged while waiting for a retry: a repeat is not
			// repeated, and a first notification the receiver certainly
			// never got is not sent, as for one acknowledged before its
			// first try. One it may have got is retried, so what it may
			// have opened gets the acknowledgement passed on.
			return decision{result: alertstate.ResultAcked}
		}
		if !s.retryDue(d, e.now) {
			return decision{}
		}
		return decision{send: true}
	}
	if d.Status != msg.StatusFiring {
		if _, acked := e.acks[a.Fingerprint]; acked && d.Status == "" && r.KeepAlive == 0 {
			return decision{result: alertstate.ResultAcked}
		}
		return decision{send: true}
	}
	// Already delivered as firing: a repeat, when due.
	interval := r.Repeat
	if r.KeepAlive > 0 {
		interval = r.KeepAlive
	} else if _, acked := e.acks[a.Fingerprint]; acked {
		return decision{result: alertstate.ResultAcked}
	}
	if e.now.Sub(d.SentAt) < interval {
		return decision{}
	}
	return decision{send: true, repeat: true}
}

// retryDue reports whether a pending delivery may be tried again at now:
// its backoff has passed, and so has the wait its receiver asked for.
func (s *Stage) retryDue(d alertstate.Delivery, now time.Time) bool {
	return !now.Before(d.LastAttempt.Add(s.retry.Backoff(d.Failures))) && !now.Before(d.RetryAt)
}

// deliver applies decide and, when it says so, sends through the retry
// stage, returning the receiver's updated delivery record.
func (s *Stage) deliver(ctx context.Context, a msg.Alert, r *Receiver, d alertstate.Delivery, e *env, tick, routed bool) alertstate.Delivery {
	dec := s.decide(a, r, d, e, routed)
	entry := alertstate.AuditEntry{
		Action: alertstate.ActionNotify, Fingerprint: a.Fingerprint, Labels: a.Labels, Status: a.Status,
		Receiver: r.Name, Sink: r.Type, Repeat: dec.repeat,
	}
	if !dec.send {
		if dec.result == "" {
			if a.Status == msg.StatusResolved && d.Status == "" && !d.MaybeFiring {
				// The firing was never delivered: nothing is left to send.
				d.Pending = ""
			}
			if a.Status == msg.StatusFiring && !routed && d.Pending == msg.StatusFiring {
				// A retry of a firing no longer routed here is moot (if it
				// may have arrived, MaybeFiring still brings the resolution).
				d.Pending = ""
			}
			s.m.notifications.WithLabelValues(r.Name, "deduped").Inc()
			return d
		}
		if d.Suppressed != dec.result {
			// Recorded once per status and reason, not at every tick.
			entry.Result = dec.result
			if len(dec.silIDs) > 0 {
				entry.SilenceID = dec.silIDs[0]
			}
			s.record(ctx, entry)
			s.m.notifications.WithLabelValues(r.Name, dec.result).Inc()
		}
		d.Suppressed = dec.result
		if a.Status == msg.StatusFiring && d.Pending == msg.StatusFiring {
			// A firing that could not be delivered before is moot now.
			d.Pending = ""
		}
		return d
	}
	if a.Status == msg.StatusResolved && a.EndsAt.IsZero() {
		a.EndsAt = e.now
	}
	if tick && e.down != nil {
		if _, down := e.down.Load(r.Name); down {
			return d
		}
	}
	if q := heldUntil(r, e); e.now.Before(q) {
		return s.holdBack(ctx, a, r, d, e, entry, q, "the receiver asked to be left alone until "+q.UTC().Format(time.RFC3339))
	}
	if !tick && r.failing.Load() && e.now.Sub(time.Unix(0, r.triedAt.Load())) < s.cfg.Tick {
		// A receiver that is down costs a timeout a call: one call per
		// new alert held the alerts topic (and the ticks that keep
		// Alertmanager's alerts alive) for minutes in a burst. Within a
		// tick of the last call, the tick sends it.
		return s.holdBack(ctx, a, r, d, e, entry, e.now, "the receiver is failing; the tick retries")
	}
	r.triedAt.Store(e.now.UnixNano())
	rs := s.retry
	if tick || r.failing.Load() {
		// The tick is itself the retry loop: one call per delivery.
		rs.Attempts = 1
	}
	// Whether the receiver may have got it is asked of every failed call:
	// one that timed out and one then refused with a 429 may have opened
	// an incident all the same.
	var maybe, asked bool
	call := func(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
		retry, err := r.Sink.Notify(ctx, alerts...)
		if err != nil && retry && !NotDelivered(err) {
			maybe = true
		}
		return retry, err
	}
	rs.wait = s.waitFor(ctx, r, &asked)
	if !tick && rs.Attempts > 1 {
		// The stage's loop runs the tick too: waiting out a long
		// Retry-After here held every other page, and the keep-alives,
		// for up to (attempts-1) x retry.max. Up to a tick in all is
		// waited; a longer wait is left pending for the tick, which
		// would not send it sooner.
		sleep, slept := rs.sleep, time.Duration(0)
		if sleep == nil {
			sleep = sleepCtx
		}
		rs.sleep = func(ctx context.Context, d time.Duration) error {
			if asked && slept+d > s.cfg.Tick {
				return errLeftToTick
			}
			slept += d
			return sleep(ctx, d)
		}
	}
	start := time.Now()
	attempts, retry, err := rs.Do(ctx, call, &a)
	s.m.sendSeconds.WithLabelValues(r.Name).Observe(time.Since(start).Seconds())
	entry.Attempts = attempts
	if attempts > 1 {
		s.m.retries.WithLabelValues(r.Name).Add(float64(attempts - 1))
	}
	r.failing.Store(err != nil && retry)
	if err == nil {
		r.quietUntil.Store(0)
		r.limited.Store(0)
	}
	if err != nil && retry && tick && e.down != nil {
		e.down.Store(r.Name, true)
	}
	if err == nil {
		// A keep-alive that went out like the one before it pages nobody;
		// audited, one firing alert would add an entry a minute and push
		// the operators' actions out of the trimmed log. Its failures, and
		// the send that recovers from one, are audited.
		keepAlive := dec.repeat && r.KeepAlive > 0 && d.Pending == "" && d.Failed == "" && d.Suppressed == ""
		d = alertstate.Delivery{Status: a.Status, SentAt: e.now}
		entry.Result = alertstate.ResultSent
		if !keepAlive {
			s.record(ctx, entry)
		}
		s.m.notifications.WithLabelValues(r.Name, alertstate.ResultSent).Inc()
		return d
	}
	// A resolution refused for good and tried again keeps the time of its
	// first refusal: the tick gives it up resolved_retention after that.
	again := a.Status == msg.StatusResolved && d.Failed == msg.StatusResolved
	if (d.Pending != a.Status && !again) || d.FirstFailure.IsZero() {
		d.FirstFailure = e.now
	}
	d.Pending, d.LastAttempt, d.LastError, d.Suppressed = a.Status, e.now, err.Error(), ""
	d.RetryAt = time.Time{}
	if _, ok := RetryAfter(err); ok || RateLimited(err) {
		// The wait waitFor decided and shared for it, not one of its own.
		if q := r.quietUntil.Load(); q != 0 {
			d.RetryAt = time.Unix(0, q).UTC()
		}
	}
	d.Failures++
	if maybe && a.Status == msg.StatusFiring {
		// The receiver may have opened an incident: its resolution is due.
		d.MaybeFiring = true
	}
	entry.Result, entry.Error = alertstate.ResultFailed, err.Error()
	switch {
	case !retry:
		d.Pending, d.Failed = "", a.Status
		entry.Note = "not retryable"
	case e.now.Sub(d.FirstFailure) >= s.cfg.Retry.GiveUpAfter:
		d.Pending, d.Failed = "", a.Status
		entry.Note = "gave up after " + s.cfg.Retry.GiveUpAfter.String()
	default:
		// A refusal before it no longer holds: back to the backoff, not
		// one try per repeat interval.
		d.Failed = ""
		entry.Note = "will retry"
	}
	s.record(ctx, entry)
	s.m.notifications.WithLabelValues(r.Name, alertstate.ResultFailed).Inc()
	s.log.Warn("notification failed", "receiver", r.Name, "sink", r.Type, "fingerprint", a.Fingerprint,
		"status", a.Status, "attempts", attempts, "retry", d.Pending != "", "err", err)
	return d
}

// errLeftToTick stops a retry sequence whose next wait is left to the tick.
var errLeftToTick = errors.New("wait left to the tick")

// passAck passes an operator's acknowledgement of a firing alert on to a
// receiver that has acknowledgements of its own and was sent the firing,
// once. A failure is audited and tried again at the next tick.
func (s *Stage) passAck(ctx context.Context, a msg.Alert, r *Receiver, d alertstate.Delivery, e *env) alertstate.Delivery {
	ack, acked := e.acks[a.Fingerprint]
	ak, can := r.Sink.(Acknowledger)
	if !acked || !can || d.AckSent || a.Status != msg.StatusFiring || d.Status != msg.StatusFiring {
		return d
	}
	if e.down != nil {
		if _, down := e.down.Load(r.Name); down {
			return d
		}
	}
	if e.now.Before(heldUntil(r, e)) {
		// The receiver asked to be left alone; the tick passes the
		// acknowledgement on once the wait is over.
		return d
	}
	rs := s.retry
	rs.Attempts = 1 // the tick retries
	// As for deliveries: a receiver that failed is left alone for the
	// rest of the tick, and for as long as it asked, or every acknowledged
	// episode would cost a call (and a timeout) at every tick.
	rs.wait = s.waitFor(ctx, r, nil)
	attempts, retry, err := rs.Do(ctx, ak.Acknowledge, &a)
	if err == nil {
		r.limited.Store(0)
	}
	if err != nil && retry && e.down != nil {
		e.down.Store(r.Name, true)
	}
	entry := alertstate.AuditEntry{
		Action: alertstate.ActionNotify, Fingerprint: a.Fingerprint, Labels: a.Labels, Status: "acknowledged",
		Receiver: r.Name, Sink: r.Type, Actor: ack.By, Attempts: attempts, Result: alertstate.ResultAckSent,
	}
	if err != nil {
		entry.Result, entry.Error = alertstate.ResultFailed, err.Error()
		if !retry {
			// The receiving system refuses it: do not try again.
			d.AckSent = true
			entry.Note = "not retryable"
		}
	} else {
		d.AckSent = true
	}
	s.record(ctx, entry)
	s.m.notifications.WithLabelValues(r.Name, entry.Result).Inc()
	return d
}

// dropRemoved gives up the pending deliveries to receivers the config no
// longer has (often replaced because they failed): nothing would ever send
// them, and they would keep the backlog gauge up and the episode from
// settling. It reports whether it changed tr.
func (s *Stage) dropRemoved(ctx context.Context, tr *alertstate.Tracked) bool {
	changed := false
	for n, d := range tr.Deliveries {
		if d.Pending == "" {
			continue
		}
		if _, ok := s.receivers[n]; ok {
			continue
		}
		s.record(ctx, alertstate.AuditEntry{
			Action: alertstate.ActionNotify, Fingerprint: tr.Alert.Fingerprint, Labels: tr.Alert.Labels, Status: d.Pending,
			Receiver: n, Result: alertstate.ResultDropped, Note: "the receiver is no longer configured",
		})
		s.log.Warn("pending notification dropped: its receiver is no longer configured", "receiver", n, "fingerprint", tr.Alert.Fingerprint, "status", d.Pending)
		d.Pending, d.Failed = "", d.Pending
		tr.Deliveries[n] = d
		changed = true
	}
	return changed
}

func (s *Stage) record(ctx context.Context, e alertstate.AuditEntry) {
	if err := s.state.Record(ctx, e); err != nil {
		s.m.dropped.WithLabelValues("audit_write").Inc()
		s.log.Error("cannot write the audit log", "receiver", e.Receiver, "fingerprint", e.Fingerprint, "result", e.Result, "err", err)
	}
}

// Tick does the stage's periodic work, on one instance at a time (a lease
// in Redis): repeats that are due, retries of pending deliveries, resolve
// requests from operators, and forgetting resolved alerts after the
// retention. It writes no output topic.
//
// The runner's wall-clock time is not used: the stage's own clock
// (Options.Now) decides what is due, so that every decision of the stage
// reads one clock.
func (s *Stage) Tick(ctx context.Context, _ time.Time) ([]pipeline.Output, error) {
	lost := func() bool { return false }
	if s.cfg.Tick > 0 {
		ttl := 3 * s.cfg.Tick
		ok, err := s.state.Lease(ctx, tickLease, s.holder, ttl)
		if err != nil || !ok {
			return nil, err
		}
		var stop func()
		lost, stop = s.keepLease(ctx, ttl)
		defer stop()
	}
	now := s.now()
	if err := s.restoreIfLost(ctx, nil); err != nil {
		// Kafka may be away: the rest of the tick (repeats, retries) must
		// go on; the next tick or message tries again.
		s.log.Warn("cannot restore the record of what was sent; trying again", "err", err)
	}
	if _, err := s.state.GCSilences(ctx); err != nil {
		return nil, err
	}
	if err := s.resolveRequested(ctx, now); err != nil {
		return nil, err
	}
	all, err := s.state.AllTracked(ctx)
	if err != nil {
		return nil, err
	}
	fps := make([]string, len(all))
	for i, tr := range all {
		fps[i] = tr.Alert.Fingerprint
	}
	e, err := s.loadEnv(ctx, now, fps...)
	if err != nil {
		return nil, err
	}
	e.down = &sync.Map{}
	var (
		mu       sync.Mutex
		forget   []string
		pending  int
		firstErr error
		wg       sync.WaitGroup
	)
	// Episodes are independent: several at a time, so the tick's length
	// is not the sum of every keep-alive's Redis round trips and receiver
	// answer (tickWorkers at a time; the receivers of one episode are
	// called in parallel as well).
	sem := make(chan struct{}, tickWorkers)
	for _, tr := range all {
		if lost() {
			// Another instance holds the tick now and reads these episodes
			// itself: sending them here too would send them twice.
			s.log.Warn("the tick's lease was lost; the rest of the tick is left to the instance holding it")
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			forgotten, n, err := s.tickEpisode(ctx, tr, e, now)
			mu.Lock()
			defer mu.Unlock()
			if forgotten {
				forget = append(forget, tr.Alert.Fingerprint)
			}
			pending += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	s.m.pending.Set(float64(pending))
	// An operator's ack or resolution must outlive its TTL while the
	// episode is tracked, however long it fires.
	gone := make(map[string]bool, len(forget))
	for _, fp := range forget {
		gone[fp] = true
	}
	keep := make([]string, 0, len(fps))
	for _, fp := range fps {
		if !gone[fp] {
			keep = append(keep, fp)
		}
	}
	if err := s.state.KeepMarks(ctx, keep...); err != nil {
		return nil, err
	}
	if err := s.state.Forget(ctx, forget...); err != nil {
		return nil, err
	}
	return nil, nil
}

// tickWorkers is how many episodes a tick handles at a time.
const tickWorkers = 16

// tickLease names the lease that lets one notify instance at a time tick.
const tickLease = "notify-tick"

// keepLease renews the tick's lease every third of its ttl while a tick
// runs, until stop is called. A tick can outlast the lease (slow
// receivers, many firing alerts); unrenewed, the lease would expire and
// another instance would start a tick over the same episodes and send
// them twice. It is not released at the end: the next tick renews it, and
// when the instance dies it expires. lost reports that a renewal failed
// or found another holder; the tick then starts no more episodes.
func (s *Stage) keepLease(ctx context.Context, ttl time.Duration) (lost func() bool, stop func()) {
	var gone atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ok, err := s.state.Lease(ctx, tickLease, s.holder, ttl)
			if ctx.Err() != nil {
				return
			}
			if err != nil || !ok {
				if err != nil {
					s.log.Warn("cannot renew the tick's lease", "err", err)
				}
				gone.Store(true)
				return
			}
		}
	}()
	return gone.Load, func() { cancel(); <-done }
}

// tickEpisode does a tick's work on one tracked episode: drops deliveries
// to receivers no longer configured, sends what is due (repeats,
// keep-alives, retries) and saves what changed. It reports whether the
// episode is settled and old enough to forget, and how many of its
// deliveries are still pending.
func (s *Stage) tickEpisode(ctx context.Context, tr *alertstate.Tracked, e *env, now time.Time) (forget bool, pending int, err error) {
	dropped := s.dropRemoved(ctx, tr)
	settled := true
	for _, d := range tr.Deliveries {
		if d.Pending != "" || s.refusedResolution(tr, d, now) {
			settled = false
		}
	}
	if settled && (tr.Alert.Status == msg.StatusResolved || tr.Alert.Replay) {
		// Replay episodes are not repeated, and may never see their
		// resolution (the replay ended): like resolved ones, they are
		// only remembered for the retention.
		return now.Sub(tr.UpdatedAt) > s.cfg.ResolvedRetention, 0, nil
	}
	before := fmt.Sprint(tr.Deliveries)
	te := *e
	if tr.Alert.Status == msg.StatusFiring {
		_, closed, err := s.state.Closed(ctx, tr.Alert.Fingerprint)
		if err != nil {
			return false, 0, err
		}
		te.closed = closed
	}
	s.deliverAll(ctx, tr, &te, true)
	for _, d := range tr.Deliveries {
		if d.Pending != "" {
			pending++
		}
	}
	if dropped || fmt.Sprint(tr.Deliveries) != before {
		if tr.Alert.Status != msg.StatusFiring {
			if err := s.state.Track(ctx, tr); err != nil {
				return false, pending, err
			}
			return false, pending, nil
		}
		stored, err := s.state.TrackFiring(ctx, tr)
		if err != nil {
			return false, pending, err
		}
		if !stored {
			return false, pending, s.resolvedMeanwhile(ctx, tr, now)
		}
	}
	return false, pending, nil
}

// resolvedMeanwhile follows up a tick's work on an episode that another
// notify instance resolved after the tick read it as firing. The stored
// resolution stands; but a receiver the tick sent a keep-alive or repeat
// to may have got it after the resolution, so the resolution is sent to it
// again at the next tick.
func (s *Stage) resolvedMeanwhile(ctx context.Context, tr *alertstate.Tracked, now time.Time) error {
	fresh, err := s.state.Tracked(ctx, tr.Alert.Fingerprint)
	if errors.Is(err, alertstate.ErrNotFound) {
		return nil // forgotten since: nothing left to follow up
	}
	if err != nil {
		return err
	}
	changed := false
	for name, d := range tr.Deliveries {
		fd, ok := fresh.Deliveries[name]
		sentNow := d.Status == msg.StatusFiring && d.Pending == "" && d.SentAt.Equal(now) ||
			d.MaybeFiring && d.Pending == msg.StatusFiring && d.LastAttempt.Equal(now)
		if ok && sentNow && fd.Status == msg.StatusResolved && fd.Pending == "" {
			fresh.Deliveries[name] = alertstate.Delivery{Status: msg.StatusFiring, SentAt: now, Pending: msg.StatusResolved}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	s.log.Info("an episode was resolved while the tick sent it as firing; its resolution is sent again",
		"fingerprint", tr.Alert.Fingerprint)
	return s.state.Track(ctx, fresh)
}

// refusedResolution reports whether d is the resolution of tr that its
// receiver refused for good (not retryable, or retried too long) after it
// got the firing. Nothing else would ever send it, and the incident it
// closes would stay open: decide tries it again every repeat interval,
// for as long as resolved episodes are remembered.
func (s *Stage) refusedResolution(tr *alertstate.Tracked, d alertstate.Delivery, now time.Time) bool {
	return tr.Alert.Status == msg.StatusResolved && d.Failed == msg.StatusResolved && toldOfFiring(d) &&
		now.Sub(d.FirstFailure) < s.cfg.ResolvedRetention
}

// toldOfFiring reports whether the receiver of d got the episode's firing
// and not yet its resolution, or may have got it (a delivery that timed
// out): either way its resolution is due. A firing it certainly never got
// (refused, or no connection) has nothing to resolve: PagerDuty and
// Alertmanager would ignore the resolution, but Slack would post the end
// of something it never announced.
func toldOfFiring(d alertstate.Delivery) bool {
	return d.Status == msg.StatusFiring || d.Status == "" && d.MaybeFiring
}

// resolveRequested sends resolutions for the episodes operators resolved.
func (s *Stage) resolveRequested(ctx context.Context, now time.Time) error {
	reqs, err := s.state.PendingResolves(ctx)
	if err != nil {
		return err
	}
	for _, req := range reqs {
		tr, err := s.state.Tracked(ctx, req.Fingerprint)
		if err != nil && !errors.Is(err, alertstate.ErrNotFound) {
			return err
		}
		if tr != nil && tr.Alert.Status != msg.StatusResolved {
			tr.Alert.Status, tr.Alert.EndsAt = msg.StatusResolved, now
			e, err := s.loadEnv(ctx, now, req.Fingerprint)
			if err != nil {
				return err
			}
			s.deliverAll(ctx, tr, e, false)
			if err := s.state.Track(ctx, tr); err != nil {
				return err
			}
		}
		if err := s.state.CompleteResolve(ctx, req); err != nil {
			return err
		}
	}
	return nil
}

type metrics struct {
	notifications *prometheus.CounterVec
	sendSeconds   *prometheus.HistogramVec
	retries       *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	pending       prometheus.Gauge
	restored      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_notify_notifications_total",
			Help: "Notification decisions per receiver, by result: sent, failed, silenced, acked, replay, closed, deduped, ack_sent.",
		}, []string{"receiver", "result"}),
		sendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "threatwatch_notify_send_duration_seconds",
			Help:    "Time to deliver one notification to a receiver, retries included.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"receiver"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_notify_retries_total",
			Help: "Extra calls to a sink after a retryable failure.",
		}, []string{"receiver"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_notify_dropped_total",
			Help: "Alert messages or audit entries the notify stage could not act on, by reason.",
		}, []string{"reason"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "threatwatch_notify_pending_deliveries",
			Help: "Deliveries that failed and wait for a retry, as of the last tick.",
		}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "threatwatch_notify_restored_episodes_total",
			Help: "Alert episodes whose record of what was sent was restored from the alerts topic after Redis lost it.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.notifications, m.sendSeconds, m.retries, m.dropped, m.pending, m.restored} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("cannot register notify metrics: %w", err)
			}
		}
	}
	return m, nil
}

// holdBack holds a notification back while its receiver's Retry-After runs:
// it is pending, due at until, and no call is made. The tick sends it
// then. Audited once per status held back.
func (s *Stage) holdBack(ctx context.Context, a msg.Alert, r *Receiver, d alertstate.Delivery, e *env, entry alertstate.AuditEntry, until time.Time, why string) alertstate.Delivery {
	first := d.Pending != a.Status
	if first || d.FirstFailure.IsZero() {
		// Retry.give_up_after counts from here, as from a first failure.
		d.FirstFailure = e.now
	}
	d.Pending, d.RetryAt, d.Failed, d.Suppressed = a.Status, until, "", ""
	s.m.notifications.WithLabelValues(r.Name, alertstate.ResultDeferred).Inc()
	if first {
		entry.Result = alertstate.ResultDeferred
		entry.Note = why
		s.record(ctx, entry)
	}
	return d
}
