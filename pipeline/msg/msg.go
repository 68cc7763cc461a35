// Package msg holds the messages that cross Kafka between ThreatWatch stages.
//
// Data flows one way: scrapers write Post to the posts topic, the classify
// stage writes Scored to the scored topic, the aggregate stage writes Level
// and Alert to the levels and alerts topics, and the notify stage and the API
// read those. Anything a stage cannot process goes to the dead-letter topic as
// a DeadLetter.
//
// Every message is JSON with a "schema" field naming its type and version
// ("post/1"), so a reader can refuse what it does not understand instead of
// guessing. The package uses the standard library only, so any tool can
// import it.
//
// Messages carry post text and, in evidence, possibly personal data. None of
// them prints its text when logged: each implements slog.LogValuer with ids,
// sites and scores only.
package msg

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Schema identifiers. A breaking change to a message bumps its version; a
// reader accepts only the versions it knows.
const (
	SchemaPost       = "post/1"
	SchemaScored     = "scored/1"
	SchemaLevel      = "level/1"
	SchemaAlert      = "alert/1"
	SchemaDeadLetter = "deadletter/1"
)

// Kind names a message type, as used on the command line (--type post).
type Kind string

// The message kinds.
const (
	KindPost       Kind = "post"
	KindScored     Kind = "scored"
	KindLevel      Kind = "level"
	KindAlert      Kind = "alert"
	KindDeadLetter Kind = "deadletter"
)

// Kinds lists every message kind in flow order.
var Kinds = []Kind{KindPost, KindScored, KindLevel, KindAlert, KindDeadLetter}

// Signal names one threat signal a classifier scores.
type Signal string

// The signals. A new signal is one constant here plus a classifier file.
const (
	SignalDoxxing  Signal = "doxxing"
	SignalSwatting Signal = "swatting"
	SignalThreat   Signal = "threat"
)

// Signals lists every signal in a stable order.
var Signals = []Signal{SignalDoxxing, SignalSwatting, SignalThreat}

// ErrSchema reports a message whose schema field is missing or not one this
// build understands. It is permanent: retrying will not help.
var ErrSchema = errors.New("unknown or missing schema")

// ErrInvalid reports a message that decoded but breaks a rule of its type
// (missing id, score out of range). It is permanent.
var ErrInvalid = errors.New("invalid message")

// PostID derives the stable id of a post from its site and the id the site
// gives it. The same post scraped twice, from a mirror or after a restart,
// gets the same id, which is what every stage deduplicates on.
func PostID(site, sitePostID string) string {
	h := sha256.Sum256([]byte(site + "\x00" + sitePostID))
	return site + ":" + hex.EncodeToString(h[:8])
}

// ContentHash hashes what the author wrote (own text and quotes), so an edit
// is noticed and an unchanged re-fetch is not re-emitted.
func ContentHash(text, quoted string) string {
	h := sha256.New()
	h.Write([]byte(text))
	h.Write([]byte{0})
	h.Write([]byte(quoted))
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Post is one public post as a scraper collected it.
type Post struct {
	Schema string `json:"schema"`
	// ID is PostID(Site, SitePostID): stable across restarts and mirrors.
	ID         string `json:"id"`
	Site       string `json:"site"`
	Engine     string `json:"engine,omitempty"`
	SitePostID string `json:"site_post_id,omitempty"`
	URL        string `json:"url,omitempty"`
	ThreadID   string `json:"thread_id,omitempty"`
	ThreadURL  string `json:"thread_url,omitempty"`
	Thread     string `json:"thread_title,omitempty"`
	Author     string `json:"author,omitempty"`
	AuthorID   string `json:"author_id,omitempty"`
	// ForwardedFrom names where a forwarded message came from (a
	// Telegram channel or user), and ForwardedURL links to it when the
	// source is public: a dox spreads by forwarding, and analysts follow
	// it back to where it was first posted.
	ForwardedFrom string `json:"forwarded_from,omitempty"`
	ForwardedURL  string `json:"forwarded_url,omitempty"`
	// Published is when the site says the post was written: event time.
	Published time.Time `json:"published"`
	// Fetched is when the scraper read it: processing time.
	Fetched time.Time `json:"fetched"`
	// Text is the author's own words, with quoted text removed.
	Text string `json:"text"`
	// Quoted is text the post quotes from other posts, kept apart because
	// quoting a threat is not making one.
	Quoted      []string `json:"quoted,omitempty"`
	ContentHash string   `json:"content_hash,omitempty"`
	// Backfill marks posts found by a first crawl of history rather than as
	// they appeared; the aggregator must not page on them as if they were new.
	Backfill bool `json:"backfill,omitempty"`
	// Edited marks a re-emission of a post whose content hash changed.
	Edited bool `json:"edited,omitempty"`
	// Lang is an optional language tag the site declared.
	Lang string `json:"lang,omitempty"`
}

// DedupID is the post's id. An edited re-emission adds its content hash:
// it is new input to score, not a redelivery to drop.
func (p *Post) DedupID() string {
	if p.Edited && p.ContentHash != "" {
		return p.ID + "@" + p.ContentHash
	}
	return p.ID
}

// QuotedText joins the quoted blocks for scoring and hashing.
func (p *Post) QuotedText() string { return strings.Join(p.Quoted, "\n") }

// Normalize fills derived fields (schema, id, content hash) that a producer
// may leave empty. It never overwrites a value already set.
func (p *Post) Normalize() {
	if p.Schema == "" {
		p.Schema = SchemaPost
	}
	if p.ID == "" && p.Site != "" && p.SitePostID != "" {
		p.ID = PostID(p.Site, p.SitePostID)
	}
	if p.ContentHash == "" {
		p.ContentHash = ContentHash(p.Text, p.QuotedText())
	}
}

// Validate reports what makes p unusable downstream: no id, or neither a
// published nor a fetched time (the windows downstream place a post by
// EventTime, and with neither it would land in year 1).
func (p *Post) Validate() error { return p.validate(true) }

func (p *Post) validate(needTime bool) error {
	var errs []error
	if p.Schema != SchemaPost {
		errs = append(errs, fmt.Errorf("%w: schema %s, want %q", ErrSchema, schemaName(p.Schema), SchemaPost))
	}
	if p.ID == "" {
		errs = append(errs, fmt.Errorf("%w: post has no id", ErrInvalid))
	}
	if needTime && p.Published.IsZero() && p.Fetched.IsZero() {
		errs = append(errs, fmt.Errorf("%w: post has neither published nor fetched time", ErrInvalid))
	}
	return errors.Join(errs...)
}

// UntimedPost is a post read for its text alone (threatwatch score): it
// is a Post in every way but one, that it may have neither a published
// nor a fetched time. Only the pipeline needs a time, to place the post in
// its windows; a post headed there is a Post.
type UntimedPost struct {
	Post
}

// Validate reports what makes u unusable for scoring: all of what makes a
// Post unusable but the lack of a time.
func (u *UntimedPost) Validate() error { return u.Post.validate(false) }

// Key is the Kafka message key: the site, so one site's posts stay in order
// on one partition.
func (p *Post) Key() string { return p.Site }

// EventTime is the time windows use: when the post was published, or when it
// was fetched if the site gave no time.
func (p *Post) EventTime() time.Time {
	if !p.Published.IsZero() {
		return p.Published
	}
	return p.Fetched
}

// Span is a piece of evidence: where in the text a signal fired and why.
type Span struct {
	Signal Signal `json:"signal"`
	// Kind says what was found: street_address, phone, intent_to_harm,
	// swat_request, watchlist:address ...
	Kind string `json:"kind"`
	// Field is "text" or "quoted": which part of the post Start and End
	// index into (quoted blocks joined by a newline).
	Field string `json:"field,omitempty"`
	// Start and End are byte offsets into Field.
	Start int `json:"start"`
	End   int `json:"end"`
	// Snippet is the surrounding text with personal data replaced by typed
	// placeholders ("lives at [ADDRESS]"). Never the raw PII.
	Snippet string  `json:"snippet,omitempty"`
	Weight  float64 `json:"weight,omitempty"`
	// Unit says, of watchlist:address evidence, whether the unit the post
	// names at the listed building is the listed one (SpanUnitSame) or
	// another (SpanUnitOther); empty when it was not compared (the post or
	// the list names no unit). It never holds the unit itself.
	Unit SpanUnit `json:"unit,omitempty"`
}

// SpanUnit is how the unit a post names compares with a listed one.
type SpanUnit string

// The values of Span.Unit.
const (
	SpanUnitSame  SpanUnit = "same"
	SpanUnitOther SpanUnit = "other"
)

// EntityKind says what an entity is.
type EntityKind string

// Entity kinds.
const (
	EntityPerson    EntityKind = "person"
	EntityHandle    EntityKind = "handle"
	EntityPlace     EntityKind = "place"
	EntityOrg       EntityKind = "org"
	EntityProtected EntityKind = "protected"
)

// Entity is someone or something the post mentions.
type Entity struct {
	Kind EntityKind `json:"kind"`
	// Name is the display form (a person's name as written, a handle).
	// For protected persons it is their opaque watchlist id, never a name.
	Name string `json:"name"`
	// Ref is a stable, normalized key for the entity: the per-target level
	// is keyed by it, across sites.
	Ref string `json:"ref,omitempty"`
	// Target says the post is about this entity (it is the one threatened,
	// doxxed or named for swatting), not merely mentioned.
	Target bool `json:"target,omitempty"`
}

// TargetRef normalizes a name or handle into the key a target's level is
// stored under: lower case, single spaces, no leading @.
func TargetRef(name string) string {
	s := strings.ToLower(strings.TrimSpace(name))
	s = strings.TrimPrefix(s, "@")
	return strings.Join(strings.Fields(s), " ")
}

// Scored is a post with the classifiers' verdict.
type Scored struct {
	Schema string `json:"schema"`
	Post   Post   `json:"post"`
	// Scores maps each signal to a calibrated score in [0,1].
	Scores   map[Signal]float64 `json:"scores"`
	Evidence []Span             `json:"evidence,omitempty"`
	Entities []Entity           `json:"entities,omitempty"`
	// Classifier and Version name the model that produced the scores, so a
	// replay can tell old scores from new.
	Classifier string    `json:"classifier"`
	Version    string    `json:"version"`
	ScoredAt   time.Time `json:"scored_at,omitzero"`
}

// DedupID is the scored message's id: the post's, as scoring is a function
// of it (an edit's included).
func (s *Scored) DedupID() string { return s.Post.DedupID() }

// Key keeps the site's order on the scored topic.
func (s *Scored) Key() string { return s.Post.Site }

// Score returns the score of one signal, 0 when absent.
func (s *Scored) Score(sig Signal) float64 { return s.Scores[sig] }

// MaxScore returns the highest signal score.
func (s *Scored) MaxScore() float64 {
	m := 0.0
	for _, v := range s.Scores {
		if v > m {
			m = v
		}
	}
	return m
}

// Targets returns the entities marked as targets.
func (s *Scored) Targets() []Entity {
	var out []Entity
	for _, e := range s.Entities {
		if e.Target {
			out = append(out, e)
		}
	}
	return out
}

// Validate reports what makes s unusable downstream.
func (s *Scored) Validate() error {
	var errs []error
	if s.Schema != SchemaScored {
		errs = append(errs, fmt.Errorf("%w: schema %s, want %q", ErrSchema, schemaName(s.Schema), SchemaScored))
	}
	if s.Post.ID == "" {
		errs = append(errs, fmt.Errorf("%w: scored post has no id", ErrInvalid))
	}
	for sig, v := range s.Scores {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%w: score %s=%v outside [0,1]", ErrInvalid, schemaName(string(sig)), v))
		}
	}
	return errors.Join(errs...)
}

// Contributor is a post that raised a level, as shown to an operator.
type Contributor struct {
	PostID   string             `json:"post_id"`
	URL      string             `json:"url,omitempty"`
	ThreadID string             `json:"thread_id,omitempty"`
	Thread   string             `json:"thread_title,omitempty"`
	Scores   map[Signal]float64 `json:"scores,omitempty"`
	// Snippet is redacted: typed placeholders instead of PII.
	Snippet string    `json:"snippet,omitempty"`
	At      time.Time `json:"at"`
	Weight  float64   `json:"weight,omitempty"`
}

// Level is the threat level of a site (or of a target across sites) at a time.
type Level struct {
	Schema string `json:"schema"`
	Site   string `json:"site"`
	// Target is the TargetRef (or a hash of it) of a person or handle; empty
	// for a site's own level.
	Target string    `json:"target,omitempty"`
	Time   time.Time `json:"time"`
	Level  float64   `json:"level"`
	// Baseline is what is normal for this key at this time.
	Baseline float64 `json:"baseline"`
	// Score is how far Level stands above Baseline, in the detector's units.
	Score float64 `json:"score,omitempty"`
	// Name is the named threat level ("elevated", "high", "severe").
	Name         string             `json:"name,omitempty"`
	Signals      map[Signal]float64 `json:"signals,omitempty"`
	Posts        int                `json:"posts,omitempty"`
	Contributors []Contributor      `json:"contributors,omitempty"`
	// Stale marks a level emitted by the wall clock for a key with no new
	// posts, or for a site whose scraper cannot reach it.
	Stale bool `json:"stale,omitempty"`
}

// DedupID identifies one level point.
func (l *Level) DedupID() string {
	return l.Site + "|" + l.Target + "|" + l.Time.UTC().Format(time.RFC3339Nano)
}

// Key keeps a site's levels in order.
func (l *Level) Key() string {
	if l.Site == "" {
		return "target:" + l.Target
	}
	return l.Site
}

// Validate reports what makes l unusable.
func (l *Level) Validate() error {
	if l.Schema != SchemaLevel {
		return fmt.Errorf("%w: schema %s, want %q", ErrSchema, schemaName(l.Schema), SchemaLevel)
	}
	if l.Site == "" && l.Target == "" {
		return fmt.Errorf("%w: level has neither site nor target", ErrInvalid)
	}
	return nil
}

// Alert status values.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Alert is an alert in the shape Prometheus Alertmanager uses, so the sinks
// and receivers on-call teams already run understand it.
type Alert struct {
	Schema string `json:"schema"`
	// Labels identify the alert: alertname, site, signal, severity, target
	// (a hashed ref, never a name).
	Labels map[string]string `json:"labels"`
	// Annotations describe it: summary, description, level, baseline,
	// dashboard URL. Redacted: no raw PII.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Fingerprint is stable for one episode of one alert: the same across
	// re-notifications and its resolution.
	Fingerprint string    `json:"fingerprint"`
	Status      string    `json:"status"`
	StartsAt    time.Time `json:"startsAt"`
	EndsAt      time.Time `json:"endsAt,omitzero"`
	// EventTime is the event time at which this notification was decided
	// (the firing onset, a re-notification, the resolution).
	EventTime    time.Time          `json:"eventTime"`
	GeneratorURL string             `json:"generatorURL,omitempty"`
	Level        float64            `json:"level,omitempty"`
	Baseline     float64            `json:"baseline,omitempty"`
	Signals      map[Signal]float64 `json:"signals,omitempty"`
	Evidence     []Contributor      `json:"evidence,omitempty"`
	// Replay marks alerts produced by a replay; notifiers never page on them.
	Replay bool `json:"replay,omitempty"`
}

// DedupID identifies one alert notification: its episode and status, so a firing
// and its resolution are different messages but a redelivery is not.
func (a *Alert) DedupID() string { return a.Fingerprint + "|" + a.Status }

// Key keeps one alert's notifications in order.
func (a *Alert) Key() string {
	if s := a.Labels["site"]; s != "" {
		return s
	}
	return a.Fingerprint
}

// Validate reports what makes a unusable.
func (a *Alert) Validate() error {
	var errs []error
	if a.Schema != SchemaAlert {
		errs = append(errs, fmt.Errorf("%w: schema %s, want %q", ErrSchema, schemaName(a.Schema), SchemaAlert))
	}
	if a.Labels["alertname"] == "" {
		errs = append(errs, fmt.Errorf("%w: alert has no alertname label", ErrInvalid))
	}
	if a.Fingerprint == "" {
		errs = append(errs, fmt.Errorf("%w: alert has no fingerprint", ErrInvalid))
	}
	if a.Status != StatusFiring && a.Status != StatusResolved {
		errs = append(errs, fmt.Errorf("%w: alert status %q", ErrInvalid, a.Status))
	}
	return errors.Join(errs...)
}

// Fingerprint hashes a label set in a stable order (sorted keys), as
// Alertmanager does, plus an episode start so a new episode of the same
// alert is a new incident.
func Fingerprint(labels map[string]string, startsAt time.Time) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0xff})
	}
	if !startsAt.IsZero() {
		h.Write([]byte(startsAt.UTC().Format(time.RFC3339Nano)))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// DeadLetter is a message a stage set aside because it can never process it.
// It keeps the original bytes so nothing is lost: an operator can fix and
// re-publish it.
type DeadLetter struct {
	Schema    string    `json:"schema"`
	Stage     string    `json:"stage"`
	Reason    string    `json:"reason"`
	Error     string    `json:"error"`
	Topic     string    `json:"topic"`
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
	OrigKey   []byte    `json:"key,omitempty"`
	Value     []byte    `json:"value"`
	At        time.Time `json:"at"`
	// Time is the original's Kafka timestamp, and Headers its Kafka
	// headers, both written back by a redrive: the stages take a post's
	// timestamp for when it entered the pipeline (a redriven post stamped
	// anew would pass for live traffic), and a control message is told
	// from data by its header (ControlHeader). ThreatWatch's writers put
	// only control data in headers, never a post's content. Dead letters
	// from before they were kept have neither: redriven, they are stamped
	// when written.
	Time    time.Time `json:"timestamp,omitzero"`
	Headers []Header  `json:"headers,omitempty"`
}

// Header is one Kafka header of the message a dead letter keeps.
type Header struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// DedupID identifies the dead letter by where it came from: its
// DeadLetterID.
func (d *DeadLetter) DedupID() string {
	return DeadLetterID(d.Stage, d.Topic, d.Partition, d.Offset)
}

// DeadLetterID is the id of stage's dead letter of the message at
// topic/partition/offset ("classify/posts/2/4"), also in its
// tw-dead-letter-id header. It is the same every time that message is set
// aside: delivery is at least once, and a batch redelivered after its dead
// letters were written writes them again, so a reader of the dead-letter
// topic drops a dead letter whose id it has seen.
func DeadLetterID(stage, topic string, partition int, offset int64) string {
	return fmt.Sprintf("%s/%s/%d/%d", stage, topic, partition, offset)
}

// Key keeps the original key, so a fixed message can be re-published as is.
func (d *DeadLetter) Key() string { return string(d.OrigKey) }

// Validate reports what makes d unusable.
func (d *DeadLetter) Validate() error {
	if d.Schema != SchemaDeadLetter {
		return fmt.Errorf("%w: schema %s, want %q", ErrSchema, schemaName(d.Schema), SchemaDeadLetter)
	}
	return nil
}

// MaxTextBytes caps a post's text as the scrapers hand it on, and
// MaxQuotedBytes its quoted blocks together. The classifiers read no
// further (classifiers.MaxAnalyzedBytes is this), and a post must fit in
// one Kafka message with its scores: a stage sets aside an input whose
// output does not fit.
const (
	MaxTextBytes   = 256 << 10
	MaxQuotedBytes = 64 << 10
)

// Clip cuts Text to MaxTextBytes and the quoted blocks to MaxQuotedBytes
// together, at rune boundaries, and reports whether it cut anything.
func (p *Post) Clip() bool {
	cut := false
	if len(p.Text) > MaxTextBytes {
		p.Text, cut = clipString(p.Text, MaxTextBytes), true
	}
	left := MaxQuotedBytes
	for i, q := range p.Quoted {
		if len(q) <= left {
			left -= len(q)
			continue
		}
		cut = true
		if q = clipString(q, left); q != "" {
			p.Quoted[i] = q
			i++
		}
		p.Quoted = p.Quoted[:i]
		break
	}
	return cut
}

// clipString is s cut to at most n bytes (n < len(s)) at a rune boundary.
func clipString(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// schemaName quotes a schema field (or a signal name) for an error.
// Errors reach dead letters' headers and logs, so a field that holds
// something else (a producer that put a post's text there) is described,
// not quoted.
func schemaName(s string) string {
	if s == "" {
		return "none"
	}
	if len(s) > 32 {
		return fmt.Sprintf("(not a name: %d bytes)", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("(not a name: %d bytes)", len(s))
		}
	}
	return fmt.Sprintf("%q", s)
}
