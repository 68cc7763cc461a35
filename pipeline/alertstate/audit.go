package alertstate

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Action names what an audit entry records.
type Action string

// The audited actions.
const (
	ActionSilenceCreate  Action = "silence_create"
	ActionSilenceExpire  Action = "silence_expire"
	ActionAck            Action = "ack"
	ActionUnack          Action = "unack"
	ActionResolveRequest Action = "resolve_request"
	// ActionNotify is one notification decision of the notify stage: sent,
	// failed, or suppressed (Result says which and why).
	ActionNotify Action = "notify"
)

// Notification results recorded with ActionNotify.
const (
	ResultSent     = "sent"
	ResultFailed   = "failed"   // gave up: not retryable, or retries exhausted (then retried later)
	ResultSilenced = "silenced" // muted by SilenceIDs
	ResultAcked    = "acked"    // a repeat of an acknowledged alert
	ResultReplay   = "replay"   // alert from a replay, never paged
	ResultClosed   = "closed"   // firing again after an operator resolved the episode
	ResultDropped  = "dropped"  // pending for a receiver the config no longer has
	// ResultDeferred records a notification held back, not sent, because
	// its receiver asked (Retry-After) to be left alone until RetryAt; it is
	// sent then.
	ResultDeferred = "deferred"
	// ResultAckSent records an acknowledgement passed on to a receiver
	// (Status is "acknowledged").
	ResultAckSent = "ack_sent"
)

// AuditEntry is one line of the audit log. It carries ids, labels (with a
// hashed target ref) and outcomes, never alert text.
type AuditEntry struct {
	// ID is the Redis stream id, assigned on write; use it as a cursor.
	ID          string            `json:"id,omitempty"`
	At          time.Time         `json:"at"`
	Action      Action            `json:"action"`
	Actor       string            `json:"actor,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Status      string            `json:"status,omitempty"`
	Receiver    string            `json:"receiver,omitempty"`
	Sink        string            `json:"sink,omitempty"`
	Result      string            `json:"result,omitempty"`
	Attempts    int               `json:"attempts,omitempty"`
	// Error is the sink's error, which by contract names no secret.
	Error     string   `json:"error,omitempty"`
	SilenceID string   `json:"silenceId,omitempty"`
	Matchers  []string `json:"matchers,omitempty"`
	Note      string   `json:"note,omitempty"`
	Repeat    bool     `json:"repeat,omitempty"`
}

// Record appends an entry to the audit log (global, and the alert's own
// when it names a fingerprint).
func (st *State) Record(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = st.now().UTC()
	}
	e.ID = ""
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("cannot encode audit entry: %w", err)
	}
	_, err = st.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: st.key("audit"), MaxLen: st.auditMax, Approx: true, Values: []any{"e", b}})
		if e.Fingerprint != "" {
			k := st.key("audit", e.Fingerprint)
			p.XAdd(ctx, &redis.XAddArgs{Stream: k, MaxLen: 10_000, Approx: true, Values: []any{"e", b}})
			p.Expire(ctx, k, st.auditTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot write audit log: %w", err)
	}
	return nil
}

// audit records an operator action; the action itself already succeeded,
// so a failure to audit is returned nowhere but must not be silent either:
// it is retried once and then dropped (the API logs the action too).
func (st *State) audit(ctx context.Context, e AuditEntry) {
	if st.Record(ctx, e) != nil {
		_ = st.Record(ctx, e)
	}
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	// Fingerprint restricts to one alert episode.
	Fingerprint string
	// Before is a cursor: only entries older than this id (the last ID of
	// the previous page). Empty: from the newest.
	Before string
	// Since excludes entries older than this time.
	Since time.Time
	// Limit caps the page (default 100, at most 1000).
	Limit int
}

// Audit reads one page of the audit log, newest first, and returns the
// cursor for the next page ("" when there is none).
func (st *State) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	k := st.key("audit")
	if q.Fingerprint != "" {
		k = st.key("audit", q.Fingerprint)
	}
	maxID := "+"
	if q.Before != "" {
		if !validStreamID(q.Before) {
			return nil, "", fmt.Errorf("%w: cursor %q", ErrInvalid, q.Before)
		}
		maxID = "(" + q.Before
	}
	minID := "-"
	if !q.Since.IsZero() {
		minID = strconv.FormatInt(q.Since.UnixMilli(), 10)
	}
	xs, err := st.s.XRevRangeN(ctx, k, maxID, minID, int64(limit)+1).Result()
	if err != nil {
		return nil, "", fmt.Errorf("cannot read audit log: %w", err)
	}
	next := ""
	if len(xs) > limit {
		xs = xs[:limit]
		next = xs[len(xs)-1].ID
	}
	out := make([]AuditEntry, 0, len(xs))
	for _, x := range xs {
		s, _ := x.Values["e"].(string)
		var e AuditEntry
		if json.Unmarshal([]byte(s), &e) != nil {
			continue
		}
		e.ID = x.ID
		out = append(out, e)
	}
	return out, next, nil
}

func validStreamID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	if ok {
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return false
		}
	}
	return true
}
