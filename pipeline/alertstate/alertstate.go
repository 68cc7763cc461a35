// Package alertstate keeps the operator-facing state of alerts in Redis:
// silences (label matchers with an expiry), acknowledgements (who, when,
// note), resolve requests, the notify stage's record of what it sent to
// which receiver, and an audit log of every action and every notification
// with its result.
//
// The notify stage honors this state; the HTTP API writes it on behalf of
// operators. Every write of an operator action also appends to the audit
// log, so "who silenced this, and what was paged while it was silenced" can
// always be answered.
//
// Keys (under the store's prefix):
//
//	alertstate:silences          hash   silence id -> Silence JSON
//	alertstate:ack:<fp>          string Ack JSON, expires AckTTL after its episode is forgotten
//	alertstate:resolve           hash   fingerprint -> pending ResolveRequest JSON
//	alertstate:closed:<fp>       string ResolveRequest JSON of a handled request, expires as an ack
//	alertstate:alerts            hash   fingerprint -> Tracked JSON (the notify stage's view)
//	alertstate:audit             stream newest entries, trimmed to about AuditMax
//	alertstate:audit:<fp>        stream one alert's entries, expires after AuditTTL
//	alertstate:lease:<name>      string a short lease so one notify instance runs periodic work
//	alertstate:lease-epoch       string since when (Redis time, ms) Redis holds the leases; never expires
//	alertstate:hold:<receiver>   string when a receiver's Retry-After ends (Unix ms), expires then
//	alertstate:restored          string set once the tracked alerts hold what the alerts topic holds
//	alertstate:handled           hash   alerts-topic partition -> offset after the last message handled
//
// Nothing here holds raw PII: alerts stored here are already redacted by
// the notify stage, and labels carry a hashed target ref.
package alertstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Errors the API returns; the HTTP layer maps them to 404 and 400.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid request")
)

// State is alert state on one Redis store. It is safe for concurrent use.
type State struct {
	s        *store.Store
	now      func() time.Time
	ackTTL   time.Duration
	auditMax int64
	auditTTL time.Duration
	keep     time.Duration

	// The leases this State took or renewed, and until when (see Lease).
	leaseMu    sync.Mutex
	leaseUntil map[string]time.Time
}

// Option tunes a State.
type Option func(*State)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *State) { s.now = now } }

// WithAckTTL sets how long acknowledgements and handled resolve requests
// are kept after their episode was last tracked (default 30 days; see
// KeepMarks).
func WithAckTTL(d time.Duration) Option { return func(s *State) { s.ackTTL = d } }

// WithAudit sets the approximate length of the global audit stream
// (default 100,000 entries) and how long a quiet alert's own audit stream
// is kept (default 90 days).
func WithAudit(max int64, ttl time.Duration) Option {
	return func(s *State) { s.auditMax, s.auditTTL = max, ttl }
}

// WithSilenceRetention sets how long expired silences stay listed
// (default 7 days).
func WithSilenceRetention(d time.Duration) Option { return func(s *State) { s.keep = d } }

// New returns the alert state kept in s.
func New(s *store.Store, opts ...Option) *State {
	st := &State{s: s, now: time.Now, ackTTL: 30 * 24 * time.Hour, auditMax: 100_000, auditTTL: 90 * 24 * time.Hour, keep: 7 * 24 * time.Hour}
	for _, o := range opts {
		o(st)
	}
	return st
}

func (st *State) key(parts ...string) string {
	return st.s.Key(append([]string{"alertstate"}, parts...)...)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ---- silences ----

// Silence mutes notifications of alerts whose labels match all Matchers
// between StartsAt and EndsAt.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// ExpiredBy is set when an operator ended the silence early.
	ExpiredBy string `json:"expiredBy,omitempty"`
}

// Active reports whether the silence mutes alerts at t.
func (s Silence) Active(t time.Time) bool {
	return !t.Before(s.StartsAt) && t.Before(s.EndsAt)
}

// Matches reports whether the silence applies to labels (ignoring time).
func (s Silence) Matches(labels map[string]string) bool {
	return len(s.Matchers) > 0 && MatchAll(s.Matchers, labels)
}

// CreateSilence validates and stores a silence, returning it with its id
// and times filled in: a zero StartsAt means now. It needs at least one
// matcher, one matcher that the empty string does not match (else it
// would mute every alert), a creator, and EndsAt after StartsAt (and after
// now).
func (st *State) CreateSilence(ctx context.Context, sil Silence) (Silence, error) {
	now := st.now().UTC()
	if len(sil.Matchers) == 0 {
		return Silence{}, fmt.Errorf("%w: a silence needs at least one matcher", ErrInvalid)
	}
	for i := range sil.Matchers {
		if err := sil.Matchers[i].Compile(); err != nil {
			return Silence{}, fmt.Errorf("%w: matcher %d: %w", ErrInvalid, i, err)
		}
	}
	if MatchAll(sil.Matchers, nil) {
		// A missing label is "", so such a silence matches any label set;
		// Alertmanager refuses it too.
		return Silence{}, fmt.Errorf("%w: every matcher matches an empty or missing label, so the silence would mute every alert; add one that needs a value, such as site=\"forum-a\"", ErrInvalid)
	}
	if strings.TrimSpace(sil.CreatedBy) == "" {
		return Silence{}, fmt.Errorf("%w: a silence needs createdBy", ErrInvalid)
	}
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	if !sil.EndsAt.After(sil.StartsAt) || !sil.EndsAt.After(now) {
		return Silence{}, fmt.Errorf("%w: endsAt must be after startsAt and in the future", ErrInvalid)
	}
	sil.ID, sil.CreatedAt, sil.ExpiredBy = newID(), now, ""
	sil.StartsAt, sil.EndsAt = sil.StartsAt.UTC(), sil.EndsAt.UTC()
	b, err := json.Marshal(sil)
	if err != nil {
		return Silence{}, fmt.Errorf("cannot encode silence: %w", err)
	}
	if err := st.s.HSet(ctx, st.key("silences"), sil.ID, b).Err(); err != nil {
		return Silence{}, fmt.Errorf("cannot store silence: %w", err)
	}
	st.audit(ctx, AuditEntry{Action: ActionSilenceCreate, Actor: sil.CreatedBy, SilenceID: sil.ID, Note: sil.Comment, Matchers: matcherStrings(sil.Matchers)})
	return sil, nil
}

// ExpireSilence ends a silence now. Expiring an expired silence is not an
// error.
func (st *State) ExpireSilence(ctx context.Context, id, by string) error {
	sil, err := st.Silence(ctx, id)
	if err != nil {
		return err
	}
	now := st.now().UTC()
	if sil.EndsAt.After(now) {
		sil.EndsAt, sil.ExpiredBy = now, by
		if sil.StartsAt.After(now) {
			sil.StartsAt = now
		}
		b, err := json.Marshal(sil)
		if err != nil {
			return fmt.Errorf("cannot encode silence: %w", err)
		}
		if err := st.s.HSet(ctx, st.key("silences"), id, b).Err(); err != nil {
			return fmt.Errorf("cannot store silence: %w", err)
		}
	}
	st.audit(ctx, AuditEntry{Action: ActionSilenceExpire, Actor: by, SilenceID: id})
	return nil
}

// Silence returns one silence by id, or ErrNotFound.
func (st *State) Silence(ctx context.Context, id string) (Silence, error) {
	b, err := st.s.HGet(ctx, st.key("silences"), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return Silence{}, fmt.Errorf("silence %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Silence{}, fmt.Errorf("cannot read silence: %w", err)
	}
	var sil Silence
	if err := json.Unmarshal(b, &sil); err != nil {
		return Silence{}, fmt.Errorf("cannot decode silence %s: %w", id, err)
	}
	return sil, nil
}

// Silences lists silences, newest first. Expired ones are included only
// when withExpired is set (and only until the retention drops them).
func (st *State) Silences(ctx context.Context, withExpired bool) ([]Silence, error) {
	m, err := st.s.HGetAll(ctx, st.key("silences")).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read silences: %w", err)
	}
	now := st.now()
	out := make([]Silence, 0, len(m))
	for id, v := range m {
		var sil Silence
		if err := json.Unmarshal([]byte(v), &sil); err != nil {
			// One corrupt entry must not disable every silence.
			continue
		}
		sil.ID = id
		if !withExpired && !sil.EndsAt.After(now) {
			continue
		}
		out = append(out, sil)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// Silenced returns the ids of the silences muting an alert with these
// labels at t (none: not silenced).
func (st *State) Silenced(ctx context.Context, labels map[string]string, t time.Time) ([]string, error) {
	sils, err := st.Silences(ctx, false)
	if err != nil {
		return nil, err
	}
	return SilencedBy(sils, labels, t), nil
}

// SilencedBy is Silenced over silences already loaded (the notify stage
// loads them once per batch).
func SilencedBy(sils []Silence, labels map[string]string, t time.Time) []string {
	var ids []string
	for _, s := range sils {
		if s.Active(t) && s.Matches(labels) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// GCSilences deletes silences that ended longer ago than the retention.
func (st *State) GCSilences(ctx context.Context) (int, error) {
	all, err := st.Silences(ctx, true)
	if err != nil {
		return 0, err
	}
	cut := st.now().Add(-st.keep)
	var ids []string
	for _, s := range all {
		if s.EndsAt.Before(cut) {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := st.s.HDel(ctx, st.key("silences"), ids...).Err(); err != nil {
		return 0, fmt.Errorf("cannot delete expired silences: %w", err)
	}
	return len(ids), nil
}

func matcherStrings(ms []Matcher) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

// ---- acknowledgements ----

// Ack says an operator has taken an alert episode in hand: the notify stage
// stops repeating its firing notifications (the resolution is still sent).
type Ack struct {
	Fingerprint string    `json:"fingerprint"`
	By          string    `json:"by"`
	At          time.Time `json:"at"`
	Note        string    `json:"note,omitempty"`
}

// Acknowledge records an acknowledgement of the alert episode fp. A second
// acknowledgement replaces the first (both are in the audit log).
func (st *State) Acknowledge(ctx context.Context, fp, by, note string) (Ack, error) {
	if fp == "" || strings.TrimSpace(by) == "" {
		return Ack{}, fmt.Errorf("%w: an acknowledgement needs a fingerprint and who", ErrInvalid)
	}
	a := Ack{Fingerprint: fp, By: by, At: st.now().UTC(), Note: note}
	b, err := json.Marshal(a)
	if err != nil {
		return Ack{}, fmt.Errorf("cannot encode ack: %w", err)
	}
	if err := st.s.Set(ctx, st.key("ack", fp), b, st.ackTTL).Err(); err != nil {
		return Ack{}, fmt.Errorf("cannot store ack: %w", err)
	}
	st.audit(ctx, AuditEntry{Action: ActionAck, Actor: by, Fingerprint: fp, Note: note})
	return a, nil
}

// Unacknowledge removes an acknowledgement, so repeats resume.
func (st *State) Unacknowledge(ctx context.Context, fp, by string) error {
	n, err := st.s.Del(ctx, st.key("ack", fp)).Result()
	if err != nil {
		return fmt.Errorf("cannot delete ack: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("ack of %s: %w", fp, ErrNotFound)
	}
	st.audit(ctx, AuditEntry{Action: ActionUnack, Actor: by, Fingerprint: fp})
	return nil
}

// Acks returns the acknowledgements of the given fingerprints that exist,
// keyed by fingerprint.
func (st *State) Acks(ctx context.Context, fps ...string) (map[string]Ack, error) {
	out := map[string]Ack{}
	if len(fps) == 0 {
		return out, nil
	}
	keys := make([]string, len(fps))
	for i, fp := range fps {
		keys[i] = st.key("ack", fp)
	}
	vals, err := st.s.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read acks: %w", err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var a Ack
		if json.Unmarshal([]byte(s), &a) == nil {
			out[fps[i]] = a
		}
	}
	return out, nil
}

// KeepMarks renews, for a full AckTTL, the acknowledgements and the
// closed marks (handled resolve requests) that the episodes fps have, and
// their own audit streams for a full AuditTTL. The
// notify stage calls it at every tick for the episodes it tracks: a mark
// that expired while its episode still fires would resume the repeats it
// stopped, or page again for an episode an operator closed. A mark so
// expires AckTTL after its episode is forgotten. A mark removed meanwhile
// (an unacknowledgement) stays removed.
func (st *State) KeepMarks(ctx context.Context, fps ...string) error {
	if len(fps) == 0 {
		return nil
	}
	_, err := st.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, fp := range fps {
			p.Expire(ctx, st.key("ack", fp), st.ackTTL)
			p.Expire(ctx, st.key("closed", fp), st.ackTTL)
			// Its own audit stream too: a firing alert writes no entries
			// (steady keep-alives are not audited), and who acknowledged
			// it must not vanish while it still fires.
			p.Expire(ctx, st.key("audit", fp), st.auditTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot renew acknowledgements: %w", err)
	}
	return nil
}

// ---- resolve requests ----

// ResolveRequest asks the notify stage to close an alert episode in every
// sink it was sent to (an operator knows it is over before the aggregator
// does). Later firing notifications of the same episode are not sent.
type ResolveRequest struct {
	Fingerprint string    `json:"fingerprint"`
	By          string    `json:"by"`
	At          time.Time `json:"at"`
	Note        string    `json:"note,omitempty"`
	// Done is when the notify stage sent the resolutions.
	Done time.Time `json:"done,omitempty"`
}

// RequestResolve records a resolve request; the notify stage acts on it at
// its next tick.
func (st *State) RequestResolve(ctx context.Context, fp, by, note string) (ResolveRequest, error) {
	if fp == "" || strings.TrimSpace(by) == "" {
		return ResolveRequest{}, fmt.Errorf("%w: a resolve request needs a fingerprint and who", ErrInvalid)
	}
	r := ResolveRequest{Fingerprint: fp, By: by, At: st.now().UTC(), Note: note}
	b, err := json.Marshal(r)
	if err != nil {
		return ResolveRequest{}, fmt.Errorf("cannot encode resolve request: %w", err)
	}
	if err := st.s.HSet(ctx, st.key("resolve"), fp, b).Err(); err != nil {
		return ResolveRequest{}, fmt.Errorf("cannot store resolve request: %w", err)
	}
	st.audit(ctx, AuditEntry{Action: ActionResolveRequest, Actor: by, Fingerprint: fp, Note: note})
	return r, nil
}

// PendingResolves lists resolve requests not yet handled.
func (st *State) PendingResolves(ctx context.Context) ([]ResolveRequest, error) {
	m, err := st.s.HGetAll(ctx, st.key("resolve")).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read resolve requests: %w", err)
	}
	out := make([]ResolveRequest, 0, len(m))
	for fp, v := range m {
		var r ResolveRequest
		if json.Unmarshal([]byte(v), &r) != nil {
			continue
		}
		r.Fingerprint = fp
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// CompleteResolve marks a resolve request handled: it leaves the pending
// set, and the episode is remembered as closed by an operator.
func (st *State) CompleteResolve(ctx context.Context, r ResolveRequest) error {
	r.Done = st.now().UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("cannot encode resolve request: %w", err)
	}
	_, err = st.s.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, st.key("closed", r.Fingerprint), b, st.ackTTL)
		p.HDel(ctx, st.key("resolve"), r.Fingerprint)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot complete resolve request: %w", err)
	}
	return nil
}

// Closed returns the handled or pending resolve request of an episode, if
// any: an episode an operator resolved is not notified as firing again.
func (st *State) Closed(ctx context.Context, fp string) (ResolveRequest, bool, error) {
	for _, get := range []func() *redis.StringCmd{
		func() *redis.StringCmd { return st.s.Get(ctx, st.key("closed", fp)) },
		func() *redis.StringCmd { return st.s.HGet(ctx, st.key("resolve"), fp) },
	} {
		b, err := get().Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return ResolveRequest{}, false, fmt.Errorf("cannot read resolve request: %w", err)
		}
		var r ResolveRequest
		if json.Unmarshal(b, &r) == nil {
			r.Fingerprint = fp
			return r, true, nil
		}
	}
	return ResolveRequest{}, false, nil
}

// ---- tracked alerts (the notify stage's notification log) ----

// Delivery is what was last delivered of one alert to one receiver.
type Delivery struct {
	// Status is the alert status last delivered (firing or resolved); empty
	// when nothing was delivered yet.
	Status string    `json:"status,omitempty"`
	SentAt time.Time `json:"sentAt,omitempty"`
	// Pending is the status still to deliver after a failure (retried by the
	// notify stage's tick), empty when up to date.
	Pending     string    `json:"pending,omitempty"`
	LastAttempt time.Time `json:"lastAttempt,omitempty"`
	// RetryAt, when set, is the earliest time the receiver asked to be
	// called again (Retry-After) after the last failure.
	RetryAt  time.Time `json:"retryAt,omitempty"`
	Failures int       `json:"failures,omitempty"`
	// FirstFailure is when the pending delivery first failed; the stage
	// gives up notify.retry.give_up_after later.
	FirstFailure time.Time `json:"firstFailure,omitempty"`
	LastError    string    `json:"lastError,omitempty"`
	// Failed is the status whose delivery failed for good (not retryable,
	// or retried too long); it is tried again after a repeat interval.
	Failed string `json:"failed,omitempty"`
	// MaybeFiring is set when a delivery of the firing failed in a way that
	// leaves open whether the receiver got it (a timeout, a 5xx) and no
	// delivery succeeded since: the receiver may have opened an incident,
	// so the episode's resolution is sent to it as if it had got the firing.
	MaybeFiring bool `json:"maybeFiring,omitempty"`
	// Suppressed is why the current status was not sent (silenced, acked,
	// replay, closed), so the audit log records a suppression once, not at
	// every tick.
	Suppressed string `json:"suppressed,omitempty"`
	// AckSent is set once an operator's acknowledgement was passed on to a
	// receiver that has acknowledgements of its own (PagerDuty).
	AckSent bool `json:"ackSent,omitempty"`
}

// Tracked is an alert the notify stage has seen, with its deliveries per
// receiver. The alert is stored redacted.
type Tracked struct {
	Alert      msg.Alert           `json:"alert"`
	Receivers  []string            `json:"receivers"`
	Deliveries map[string]Delivery `json:"deliveries"`
	UpdatedAt  time.Time           `json:"updatedAt"`
}

// Track stores t (replacing any earlier version of the same episode).
func (st *State) Track(ctx context.Context, t *Tracked) error {
	t.UpdatedAt = st.now().UTC()
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("cannot encode tracked alert: %w", err)
	}
	if err := st.s.HSet(ctx, st.key("alerts"), t.Alert.Fingerprint, b).Err(); err != nil {
		return fmt.Errorf("cannot store tracked alert: %w", err)
	}
	return nil
}

// trackFiringScript stores the Tracked JSON ARGV[2] of episode ARGV[1] in
// the hash KEYS[1] unless the episode stored there is resolved.
var trackFiringScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and type(old.alert) == 'table' and old.alert.status == 'resolved' then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// TrackFiring stores t, an episode read as firing a while ago, unless its
// episode was resolved since (another notify instance handled the
// resolution meanwhile), and reports whether it stored it. Storing it
// anyway would undo the resolution: the episode would be kept alive and
// repeated as firing for good. (t itself may be resolved: a resolution
// read back from the alerts topic is stored over a firing the same way.)
func (st *State) TrackFiring(ctx context.Context, t *Tracked) (bool, error) {
	t.UpdatedAt = st.now().UTC()
	b, err := json.Marshal(t)
	if err != nil {
		return false, fmt.Errorf("cannot encode tracked alert: %w", err)
	}
	n, err := trackFiringScript.Run(ctx, st.s, []string{st.key("alerts")}, t.Alert.Fingerprint, b).Int()
	if err != nil {
		return false, fmt.Errorf("cannot store tracked alert: %w", err)
	}
	return n == 1, nil
}

// TrackIfAbsent stores t unless its episode is tracked already, and
// reports whether it stored it.
func (st *State) TrackIfAbsent(ctx context.Context, t *Tracked) (bool, error) {
	t.UpdatedAt = st.now().UTC()
	b, err := json.Marshal(t)
	if err != nil {
		return false, fmt.Errorf("cannot encode tracked alert: %w", err)
	}
	ok, err := st.s.HSetNX(ctx, st.key("alerts"), t.Alert.Fingerprint, b).Result()
	if err != nil {
		return false, fmt.Errorf("cannot store tracked alert: %w", err)
	}
	return ok, nil
}

// Restored reports whether the tracked alerts are known to hold what the
// alerts topic held (MarkRestored was called since Redis last lost its
// data).
func (st *State) Restored(ctx context.Context) (bool, error) {
	n, err := st.s.Exists(ctx, st.key("restored")).Result()
	if err != nil {
		return false, fmt.Errorf("cannot read the restore mark: %w", err)
	}
	return n == 1, nil
}

// MarkRestored records that the tracked alerts were restored from the
// alerts topic, or have followed it from the start.
func (st *State) MarkRestored(ctx context.Context, at time.Time) error {
	if err := st.s.Set(ctx, st.key("restored"), at.UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return fmt.Errorf("cannot mark the tracked alerts restored: %w", err)
	}
	return nil
}

// markHandledScript raises the offset of partition ARGV[1] in the hash
// KEYS[1] to ARGV[2], never lowering it: a message seen again after a
// rebalance does not undo what later ones recorded.
var markHandledScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if cur and cur >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// MarkHandled records that the notify stage's state holds the effects of
// every message of the alerts topic's partition before offset next. It is
// written after those effects: Redis replicates writes in order, so a
// replica that holds the mark holds them too, and after a failover to a
// replica that had not caught up the mark shows how much was lost.
func (st *State) MarkHandled(ctx context.Context, partition int, next int64) error {
	if err := markHandledScript.Run(ctx, st.s, []string{st.key("handled")}, partition, next).Err(); err != nil {
		return fmt.Errorf("cannot record the offset handled: %w", err)
	}
	return nil
}

// Handled returns the offsets recorded by MarkHandled, by partition.
func (st *State) Handled(ctx context.Context) (map[int]int64, error) {
	m, err := st.s.HGetAll(ctx, st.key("handled")).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read the offsets handled: %w", err)
	}
	out := make(map[int]int64, len(m))
	for k, v := range m {
		p, err1 := strconv.Atoi(k)
		off, err2 := strconv.ParseInt(v, 10, 64)
		if err1 == nil && err2 == nil {
			out[p] = off
		}
	}
	return out, nil
}

// Tracked returns one tracked alert, or ErrNotFound.
func (st *State) Tracked(ctx context.Context, fp string) (*Tracked, error) {
	b, err := st.s.HGet(ctx, st.key("alerts"), fp).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("alert %s: %w", fp, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read tracked alert: %w", err)
	}
	var t Tracked
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("cannot decode tracked alert %s: %w", fp, err)
	}
	return &t, nil
}

// AllTracked lists every tracked alert, most recently updated first: the
// current firing alerts and resolved ones not yet forgotten.
func (st *State) AllTracked(ctx context.Context) ([]*Tracked, error) {
	m, err := st.s.HGetAll(ctx, st.key("alerts")).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read tracked alerts: %w", err)
	}
	out := make([]*Tracked, 0, len(m))
	for _, v := range m {
		var t Tracked
		if json.Unmarshal([]byte(v), &t) != nil {
			continue
		}
		out = append(out, &t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.After(out[j].UpdatedAt) })
	return out, nil
}

// Forget drops tracked alerts.
func (st *State) Forget(ctx context.Context, fps ...string) error {
	if len(fps) == 0 {
		return nil
	}
	if err := st.s.HDel(ctx, st.key("alerts"), fps...).Err(); err != nil {
		return fmt.Errorf("cannot forget alerts: %w", err)
	}
	return nil
}

// holdScript sets KEYS[1] to ARGV[1], the end of a receiver's wait in
// Unix milliseconds, expiring ARGV[2] milliseconds from now, unless it
// holds a later end already.
var holdScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur and cur >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Hold records that the receiver asked (with Retry-After) to be left
// alone until until, so every notify instance holds back, not only the
// one that was told. An earlier end does not shorten a later one.
func (st *State) Hold(ctx context.Context, receiver string, until time.Time) error {
	ttl := until.Sub(st.now())
	if ttl <= 0 {
		return nil
	}
	err := holdScript.Run(ctx, st.s, []string{st.key("hold", receiver)}, until.UnixMilli(), max(ttl.Milliseconds(), 1)).Err()
	if err != nil {
		return fmt.Errorf("cannot record the wait receiver %s asked for: %w", receiver, err)
	}
	return nil
}

// Holds returns the ends of the waits recorded by Hold for the named
// receivers, those that have one.
func (st *State) Holds(ctx context.Context, receivers ...string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(receivers) == 0 {
		return out, nil
	}
	keys := make([]string, len(receivers))
	for i, r := range receivers {
		keys[i] = st.key("hold", r)
	}
	vals, err := st.s.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read receivers' waits: %w", err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			out[receivers[i]] = time.UnixMilli(ms)
		}
	}
	return out, nil
}

// Lease takes (or renews, for the same holder) a named lease for ttl. Only
// the holder runs the periodic work it guards, so two notify instances do
// not both re-send. After Redis lost its data, an instance that did not
// hold the lease waits a TTL before taking it (see store.LeaseInEpoch).
func (st *State) Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	held := name + "\x00" + holder
	start := time.Now()
	st.leaseMu.Lock()
	until := st.leaseUntil[held]
	st.leaseMu.Unlock()
	// A Redis that hangs keeps a call waiting through go-redis's timeouts
	// and retries (about 10 s), longer than a short lease lives: the
	// holder must learn it failed while it still holds the lease, before
	// another instance may take it. Too close to that, it asks as any
	// other instance does.
	renewBy := until.Add(-ttl / 6)
	mine := start.Before(renewBy)
	if mine {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, renewBy)
		defer cancel()
	}
	ok, err := st.s.LeaseInEpoch(ctx, st.key("lease", name), st.key("lease-epoch"), holder, ttl, mine)
	if err != nil {
		return false, err
	}
	st.leaseMu.Lock()
	defer st.leaseMu.Unlock()
	if !ok {
		delete(st.leaseUntil, held)
		return false, nil
	}
	if st.leaseUntil == nil {
		st.leaseUntil = map[string]time.Time{}
	}
	// Timed from before the call: Redis set the expiry later than that.
	st.leaseUntil[held] = start.Add(ttl)
	return true, nil
}
