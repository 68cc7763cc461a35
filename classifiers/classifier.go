// Package classifiers scores posts for doxxing, swatting and violent
// threats, each in [0,1] with the evidence that produced it.
//
// Scoring is a cheap first pass and a learned combination: each post's own
// text and its quoted text are normalized (zero-width characters removed,
// homoglyphs, leetspeak and spaced-out letters folded), tokenized, matched
// against a lexicon of cue phrases with one multi-pattern walk, and searched
// for personal data (phone numbers through libphonenumber, addresses in
// several countries' formats, emails, plates, SSNs, coordinates, IPs, dates
// of birth, card numbers). Each signal's Scorer turns what was found into
// features and a logistic model (weights trained from testdata/ and
// embedded in the binary) into a calibrated score. Only posts that score
// get the expensive NLP pass (prose's tagger and NER), to name who a post is
// about.
//
// A new signal is one file with a Scorer and one line in Scorers.
package classifiers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// maxEvidence caps the evidence spans of one scored post, strongest first.
const maxEvidence = 40

// Name is the classifier name written into every Scored message.
const Name = "threatwatch-linear"

// Scorer scores one signal on one prepared document (a post's own text or
// its quoted text). Score must be safe for concurrent use, must not keep d
// after returning, and must return a score in [0,1]; evidence spans carry
// byte offsets into d.Text and no snippet (the Classifier redacts and fills
// snippets).
type Scorer interface {
	Signal() msg.Signal
	Score(d *Document) (float64, []msg.Span)
}

// Enricher runs after the built-in scorers, in the order given to
// WithEnrichers. It may raise scores (never above 1; the Classifier clamps),
// add evidence and add or mark entities; it should not lower a score the
// scorers gave. An error fails the scoring of that post.
type Enricher interface {
	Enrich(ctx context.Context, p *msg.Post, s *msg.Scored) error
}

// Option configures New.
type Option func(*options)

type options struct {
	enrichers []Enricher
	scorers   func(*Model) []Scorer
	model     *Model
	clock     func() time.Time
}

// WithEnrichers adds enrichers that run after the built-in scorers.
func WithEnrichers(e ...Enricher) Option {
	return func(o *options) { o.enrichers = append(o.enrichers, e...) }
}

// WithModel replaces the embedded model (used by training and tests).
func WithModel(m *Model) Option { return func(o *options) { o.model = m } }

// WithScorers replaces the registry of scorers (tests, experiments).
func WithScorers(f func(*Model) []Scorer) Option { return func(o *options) { o.scorers = f } }

// WithClock sets the clock that stamps ScoredAt (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// Scorers is the registry of built-in signals: one line per signal.
func Scorers(m *Model) []Scorer {
	return []Scorer{
		newDoxxing(m),
		newSwatting(m),
		newThreat(m),
	}
}

// Classifier scores posts. It is safe for concurrent use; build one per
// process with New (it loads the models once).
type Classifier struct {
	cfg       config.Classify
	lex       *lexicon
	model     *Model
	scorers   []Scorer
	enrichers []Enricher
	ner       *nerTagger
	version   string
	clock     func() time.Time
}

// ErrNoModel is returned when the model has no weights for a registered
// scorer's signal.
var ErrNoModel = errors.New("model has no weights for signal")

// New builds a classifier: compiles the lexicon, loads the embedded model
// and, unless cfg.NER is "off", the prose model (once, shared by all
// goroutines).
func New(cfg config.Classify, opts ...Option) (*Classifier, error) {
	o := options{scorers: Scorers, clock: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if cfg.Thresholds.Doxxing == 0 && cfg.QuotedWeight == 0 && cfg.NER == "" {
		cfg = config.Default().Classify
	}
	m := o.model
	if m == nil {
		var err error
		if m, err = EmbeddedModel(); err != nil {
			return nil, err
		}
	}
	c := &Classifier{cfg: cfg, lex: sharedLexicon(), model: m, enrichers: o.enrichers, clock: o.clock}
	c.scorers = o.scorers(m)
	for _, s := range c.scorers {
		if _, ok := m.Signals[string(s.Signal())]; !ok && o.model == nil {
			return nil, fmt.Errorf("%w %s", ErrNoModel, s.Signal())
		}
	}
	if cfg.NER == "prose" {
		c.ner = sharedNER()
	}
	h := sha256.Sum256([]byte(m.Fingerprint()))
	c.version = m.Version + "+" + hex.EncodeToString(h[:4])
	return c, nil
}

// Version is the model version written into every Scored message.
func (c *Classifier) Version() string { return c.version }

// Thresholds returns the configured alert thresholds.
func (c *Classifier) Thresholds() config.Thresholds { return c.cfg.Thresholds }

// Score scores one post. It never fails on the post's content (any text,
// any size, any bytes); it fails only when ctx is done or an enricher fails.
func (c *Classifier) Score(ctx context.Context, p *msg.Post) (*msg.Scored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &msg.Scored{
		Schema: msg.SchemaScored, Post: *p, Scores: make(map[msg.Signal]float64, len(c.scorers)),
		Classifier: Name, Version: c.version, ScoredAt: c.clock().UTC(),
	}
	own := docPool.Get().(*Document)
	defer docPool.Put(own)
	c.prepare(own, p.Text, "text")
	var quoted *Document
	if q := p.QuotedText(); q != "" {
		quoted = docPool.Get().(*Document)
		defer docPool.Put(quoted)
		c.prepare(quoted, q, "quoted")
	}
	for _, sc := range c.scorers {
		sig := sc.Signal()
		v, ev := sc.Score(own)
		for i := range ev {
			ev[i].Signal, ev[i].Field = sig, "text"
		}
		if quoted != nil {
			qv, qev := sc.Score(quoted)
			qv *= c.cfg.QuotedWeight
			for i := range qev {
				qev[i].Signal, qev[i].Field = sig, "quoted"
				qev[i].Weight *= c.cfg.QuotedWeight
			}
			if qv > v {
				v = qv
			}
			if qv >= 0.2 {
				ev = append(ev, qev...)
			}
		}
		s.Scores[sig] = clamp(v)
		s.Evidence = append(s.Evidence, ev...)
	}
	c.entities(own, s)
	if quoted != nil {
		c.redactSnippets(s, own, quoted)
	} else {
		c.redactSnippets(s, own, nil)
	}
	for _, e := range c.enrichers {
		if err := e.Enrich(ctx, p, s); err != nil {
			return nil, fmt.Errorf("cannot enrich post %s: %w", p.ID, err)
		}
	}
	for k, v := range s.Scores {
		s.Scores[k] = clamp(v)
	}
	sort.SliceStable(s.Evidence, func(i, j int) bool { return s.Evidence[i].Weight > s.Evidence[j].Weight })
	if len(s.Evidence) > maxEvidence {
		s.Evidence = s.Evidence[:maxEvidence]
	}
	return s, nil
}

func clamp(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}
