package watchlist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Matcher matches posts against the hashed watchlist. It implements the
// classify stage's Enricher: it runs after the scorers on every post and
// adds what the list says about it. It holds no plain detail: posts are
// normalized and hashed with the same keys, and only hashes are compared.
//
// Enrich is safe for concurrent use. The loaded list is swapped whole on a
// reload, so a post is matched against one consistent list.
type Matcher struct {
	list    *ListStore
	hashers []*Hasher
	regions []string
	log     *slog.Logger
	met     *metrics
	snap    atomic.Pointer[snapshot]
	// MaxEvidence caps the spans added to one post.
	maxEvidence int
	// vanished is set while Redis holds no list though one was loaded.
	vanished bool
}

// Hashers builds one hasher per configured key.
func Hashers(cfg config.Watchlist) ([]*Hasher, error) {
	if !cfg.Enabled() {
		return nil, fmt.Errorf("%w: watchlist.keys is empty", ErrKey)
	}
	out := make([]*Hasher, 0, len(cfg.Keys))
	for _, k := range cfg.Keys {
		h, err := NewHasher(k.ID, []byte(k.Secret.Value()))
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Open loads the list from st and keeps it current: every cfg.Refresh it
// checks the list's generation and reloads on a change, until ctx ends. It
// fails when the list cannot be loaded or a live key is not configured (or
// configured with another secret): a classify stage that silently matched
// nothing would be worse than one that does not start.
func Open(ctx context.Context, cfg config.Watchlist, st *store.Store, log *slog.Logger, reg prometheus.Registerer) (*Matcher, error) {
	hs, err := Hashers(cfg)
	if err != nil {
		return nil, err
	}
	m := newMatcher(hs, cfg.PhoneRegions, log, reg)
	m.list = NewListStore(st, cfg.Namespace)
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	go m.watch(ctx, cfg.Refresh)
	return m, nil
}

func newMatcher(hs []*Hasher, regions []string, log *slog.Logger, reg prometheus.Registerer) *Matcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	up := make([]string, len(regions))
	for i, r := range regions {
		up[i] = strings.ToUpper(r)
	}
	m := &Matcher{hashers: hs, regions: up, log: log.With("stage", "classify", "engine", "watchlist"), met: newMetrics(reg), maxEvidence: 32}
	m.snap.Store(newSnapshot(0, up, hs, nil))
	foldTable() // built here, not while the first post waits
	return m
}

func (m *Matcher) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			gen, err := m.list.Gen(ctx)
			if err != nil {
				if ctx.Err() == nil {
					m.met.reloads.WithLabelValues("error").Inc()
					m.log.Warn("cannot check the watchlist for changes; matching the loaded list", "err", err)
				}
				continue
			}
			loaded := m.snap.Load()
			if gen == 0 && loaded.gen > 0 {
				// Every change bumps the generation; none takes it back
				// to nothing. Redis lost the list (restarted empty,
				// failed over, keys deleted): swapping in an empty one
				// would stop protecting everyone without a word.
				if !m.vanished {
					m.vanished = true
					m.met.vanished.Set(1)
					m.log.Error("the watchlist vanished from Redis: still matching the list loaded before; import the watchlist file again, or a restarted classify process protects nobody",
						"generation", loaded.gen, "persons", len(loaded.persons))
				}
				continue
			}
			if m.vanished {
				m.vanished = false
				m.met.vanished.Set(0)
			}
			if gen == loaded.gen {
				continue
			}
			if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("watchlist reload incomplete", "err", err)
			}
		}
	}
}

// Reload reads the list from Redis and swaps it in. Keys that are live but
// not usable here are reported in the error; the keys that are usable are
// swapped in all the same, so a half-configured rotation still matches
// what it can.
func (m *Matcher) Reload(ctx context.Context) error {
	gen, err := m.list.Gen(ctx)
	if err != nil {
		m.met.reloads.WithLabelValues("error").Inc()
		return err
	}
	active, err := m.list.Active(ctx)
	if err != nil {
		m.met.reloads.WithLabelValues("error").Inc()
		return err
	}
	recs := map[string][]Record{}
	var errs []error
	badFields := 0
	for _, kid := range active {
		h := m.hasher(kid)
		if h == nil {
			errs = append(errs, fmt.Errorf("%w: key %q holds live hashes but is not in watchlist.keys", ErrKey, kid))
			continue
		}
		if err := m.list.CheckKey(ctx, h, false); err != nil {
			if !errors.Is(err, ErrKey) {
				// Redis failed to answer: that says nothing about the
				// key. Swapping in the list without it would protect
				// nobody under it until the next change; keep the
				// loaded list, so the next refresh tries again.
				m.met.reloads.WithLabelValues("error").Inc()
				return err
			}
			errs = append(errs, err)
			continue
		}
		rs, bad, err := m.list.Load(ctx, kid)
		if err != nil {
			m.met.reloads.WithLabelValues("error").Inc()
			return err
		}
		badFields += bad
		recs[kid] = rs
	}
	s := newSnapshot(gen, m.regions, m.hashers, recs)
	m.snap.Store(s)
	m.met.set(s)
	if badFields > 0 {
		m.log.Warn("skipped malformed watchlist fields in Redis", "fields", badFields)
	}
	m.log.Info("watchlist loaded", "generation", gen, "keys", len(s.keys), "persons", len(s.persons), "hashes", s.entries)
	if len(s.persons) == 0 {
		// Keys are configured, so someone is meant to be protected: a
		// process started after Redis lost the list, or one that holds
		// none of the live keys, would otherwise match nobody with
		// nothing but an info line to show for it.
		m.log.Warn("the watchlist loaded is empty: this classify process protects nobody; import the watchlist file (threatwatch watchlist import), and check that watchlist.keys holds a live key",
			"generation", gen, "live_keys", len(active))
	}
	for _, ks := range s.keys {
		if ks.seqBits == nil {
			m.log.Warn("watchlist stored without sequence tags: it matches the same but costs more per post; import the file again to add them", "key", ks.h.ID())
		}
		if ks.hasPhone && ks.tailBits == nil {
			m.log.Warn("watchlist phones stored without tail tags: they match the same but every number in a post is parsed; import the file again to add them", "key", ks.h.ID())
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.met.reloads.WithLabelValues("partial").Inc()
		return err
	}
	m.met.reloads.WithLabelValues("ok").Inc()
	return nil
}

func (m *Matcher) hasher(id string) *Hasher {
	for _, h := range m.hashers {
		if h.ID() == id {
			return h
		}
	}
	return nil
}

// Stats describes the loaded list.
type Stats struct {
	Generation int64
	Keys       int
	Persons    int
	Hashes     int
}

// Stats returns what is loaded now.
func (m *Matcher) Stats() Stats {
	s := m.snap.Load()
	return Stats{Generation: s.gen, Keys: len(s.keys), Persons: len(s.persons), Hashes: s.entries}
}

// Match is one listed detail found in a post, as the matcher reports it
// (for tests and tools; Enrich is the production path).
type Match struct {
	Field  string
	Start  int
	End    int
	Person string
	Kind   Kind
	// Unit says, of an address, whether the unit the post names there is
	// the listed one.
	Unit UnitMatch
}

// Find returns every listed detail found in the post's text and quotes.
func (m *Matcher) Find(p *msg.Post) []Match {
	s := m.snap.Load()
	sc := getScratch()
	defer putScratch(sc)
	var out []Match
	fs, n := fieldsOf(p)
	for _, f := range fs[:n] {
		for _, x := range s.find(sc, f.text) {
			out = append(out, Match{Field: f.name, Start: x.start, End: x.end, Person: s.persons[x.person], Kind: x.kind, Unit: x.unit})
		}
	}
	return out
}

type field struct{ name, text string }

// fieldsOf returns the fields of p the watchlist scans (fs[:n]), without
// allocating: Enrich calls it for every post.
func fieldsOf(p *msg.Post) (fs [2]field, n int) {
	fs[0] = field{"text", p.Text}
	if len(p.Quoted) > 0 {
		fs[1] = field{"quoted", p.QuotedText()}
		return fs, 2
	}
	return fs, 1
}

// find scans text and returns its matches sorted, without duplicates
// (two keys during a rotation find the same thing twice) and without
// matches nested in a longer one of the same person and kind.
func (s *snapshot) find(sc *scratch, text string) []match {
	sc.found = sc.found[:0]
	s.scan(sc, text)
	if len(sc.found) == 0 {
		return nil
	}
	ms := tidy(append([]match(nil), sc.found...))
	if s.units {
		s.compareUnits(sc, text, ms)
	}
	return ms
}

// compareUnits says, of each address match in ms whose listed address
// names a unit, whether the post names the same unit or another one.
// Address matches are rare, so this costs nothing on most posts; it
// reads the tokens scan left in sc.
func (s *snapshot) compareUnits(sc *scratch, text string, ms []match) {
	tz := &sc.tz
	toks := tz.toks
	for k := range ms {
		x := &ms[k]
		if x.kind != KindAddress || x.tn == 0 {
			continue
		}
		i, n := int(x.ti), int(x.tn)
		w := make([]string, n)
		for j := range w {
			w[j] = string(tz.canonical(&toks[i+j]))
		}
		line := unitLine(w)
		unit, named := postUnit(text, tz, toks, i, n)
		for _, ks := range s.keys {
			if ks.units == nil {
				continue
			}
			m := sc.mac(ks.h)
			if !ks.unitListed(sc.digest(m, domUnit, line), x.person) {
				continue
			}
			switch {
			case !named:
			case ks.unitListed(sc.digest(m, domUnit, unitInput(line, unit)), x.person):
				x.unit = UnitSame
			default:
				x.unit = UnitOther
			}
			break
		}
	}
}

// postUnit returns the unit a post names at the street line in tokens
// i to i+n, the ways streetWords reads one in a watchlist file: after it
// ("12 Oak St Apt 7", "#7"), after the house number of a street that
// comes first ("Kerkstraat 12-3", "Mariahilfer Straße 45/2/13"), or
// before it ("Apt 7, 12 Oak St", "7/12 Oak St", "7-12 Oak St").
func postUnit(text string, tz *tokenizer, toks []token, i, n int) (string, bool) {
	e := i + n
	if e < len(toks) && isUnit(string(tz.canonical(&toks[e]))) {
		return unitAfter(text, tz, toks, e)
	}
	if !toks[i].hasDigit() && toks[e-1].hasDigit() && e < len(toks) && unitLike(tz, &toks[e]) {
		if s := sepBetween(text, toks, e-1); s == "-" || s == "/" {
			return unitChain(text, tz, toks, e), true
		}
	}
	if i >= 1 && toks[i].hasDigit() && toks[i-1].hasDigit() {
		if s := sepBetween(text, toks, i-1); s == "-" || s == "/" {
			return string(tz.folded(&toks[i-1])), true
		}
	}
	if i >= 2 && isUnit(string(tz.canonical(&toks[i-2]))) && unitLike(tz, &toks[i-1]) {
		return string(tz.folded(&toks[i-1])), true
	}
	return "", false
}

// tidy sorts matches by position and drops duplicates and matches nested
// in a longer one of the same person and kind. It reuses ms.
func tidy(ms []match) []match {
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if a.start != b.start {
			return a.start < b.start
		}
		if a.end != b.end {
			return a.end > b.end
		}
		if a.person != b.person {
			return a.person < b.person
		}
		return a.kind < b.kind
	})
	out := ms[:0]
	for _, x := range ms {
		nested := false
		for _, y := range out {
			if y.person == x.person && y.kind == x.kind && y.start <= x.start && x.end <= y.end {
				nested = true
				break
			}
		}
		if !nested {
			out = append(out, x)
		}
	}
	return out
}

// Enrich matches the post against the list and records what it finds in s:
// a private detail raises doxxing to 1 and adds evidence
// "watchlist:<kind>"; any match names the person (by opaque id) as a
// target. Snippets are redacted: the matched value is never copied. When
// the post matches, it also keeps the person's details out of what other
// scorers wrote: an entity naming a listed person becomes the protected
// entity, and listed details in earlier snippets are replaced by
// placeholders. It returns an error only if ctx is done.
func (m *Matcher) Enrich(ctx context.Context, p *msg.Post, s *msg.Scored) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	snap := m.snap.Load()
	if len(snap.keys) == 0 {
		return nil
	}
	sc := getScratch()
	defer putScratch(sc)

	// Most posts match nothing: scan the fields before allocating
	// anything for a match.
	fs, nf := fieldsOf(p)
	var found [len(fs)][]match
	matched := false
	for i, f := range fs[:nf] {
		found[i] = snap.find(sc, f.text)
		matched = matched || len(found[i]) > 0
	}
	if !matched {
		// Other scorers' snippets and entities come from this same text:
		// with nothing listed in it, there is nothing of the list in them.
		m.met.postsNone.Inc()
		return nil
	}
	targets := map[uint32]bool{}
	private := false
	var spans []msg.Span
	for i, f := range fs[:nf] {
		ms := found[i]
		for _, x := range ms {
			targets[x.person] = true
			m.met.matchesOf(x.kind).Inc()
			w := 0.0
			if x.kind.Private() {
				private = true
				w = 1
			}
			if len(spans) < m.maxEvidence {
				spans = append(spans, msg.Span{
					Signal: msg.SignalDoxxing, Kind: x.kind.EvidenceKind(), Field: f.name,
					Start: x.start, End: x.end, Snippet: redactedSnippet(f.text, ms, x), Weight: w,
					Unit: x.unit.spanUnit(),
				})
			}
		}
	}
	// Earlier scorers' evidence and entities may carry the person's details.
	for i := range s.Evidence {
		s.Evidence[i].Snippet = snap.scrub(sc, s.Evidence[i].Snippet)
	}
	kept := s.Entities[:0]
	for _, e := range s.Entities {
		if e.Kind != msg.EntityProtected {
			if pi, ok := snap.entityPerson(sc, e.Name); ok {
				targets[pi] = true
				m.met.scrubbed.Inc()
				continue
			}
		}
		kept = append(kept, e)
	}
	s.Entities = kept
	s.Evidence = append(s.Evidence, spans...)
	if private {
		if s.Scores == nil {
			s.Scores = map[msg.Signal]float64{}
		}
		s.Scores[msg.SignalDoxxing] = 1
		m.met.postsPrivate.Inc()
	} else {
		m.met.postsIdentity.Inc()
	}
	ids := make([]string, 0, len(targets))
	for pi := range targets {
		ids = append(ids, snap.persons[pi])
	}
	sort.Strings(ids)
	for _, id := range ids {
		found := false
		for i := range s.Entities {
			if e := &s.Entities[i]; e.Kind == msg.EntityProtected && e.Ref == id {
				e.Target, found = true, true
			}
		}
		if !found {
			s.Entities = append(s.Entities, msg.Entity{Kind: msg.EntityProtected, Name: id, Ref: id, Target: true})
		}
	}
	m.log.Debug("watchlist match", "site", p.Site, "post", p.ID, "persons", ids, "private", private)
	return nil
}

// entityPerson reports whether an entity name another scorer extracted is
// one of a listed person's names, handles, relatives or places.
func (s *snapshot) entityPerson(sc *scratch, name string) (uint32, bool) {
	if strings.TrimSpace(name) == "" {
		return 0, false
	}
	forms := [][]byte{
		[]byte(strings.Join(words(name, false), " ")),
		[]byte(strings.Join(words(name, true), " ")),
		[]byte(normalizeHandle(name)),
	}
	for _, ks := range s.keys {
		m := sc.mac(ks.h)
		for _, f := range forms {
			if len(f) == 0 {
				continue
			}
			d := sc.digest(m, domWords, f)
			if i, ok := ks.full[d.hi()]; ok {
				for ; i >= 0; i = ks.post[i].next {
					if ks.post[i].lo == d.lo() {
						return ks.post[i].person, true
					}
				}
			}
		}
	}
	return 0, false
}

// scrub replaces listed details in a snippet with placeholders.
func (s *snapshot) scrub(sc *scratch, text string) string {
	ms := s.find(sc, text)
	if len(ms) == 0 {
		return text
	}
	var b strings.Builder
	pos := 0
	for _, x := range ms {
		if x.start < pos {
			pos = max(pos, x.end)
			continue
		}
		b.WriteString(text[pos:x.start])
		b.WriteString(x.placeholder())
		pos = x.end
	}
	b.WriteString(text[pos:])
	return b.String()
}

// snippetContext is how many bytes of context a snippet shows each side.
const snippetContext = 48

// redactedSnippet shows the words around match at, with every match in
// the window replaced by its placeholder and anything else that looks
// like personal data (numbers, emails, handles, links) replaced too: the
// context of a dox is often more of the dox.
func redactedSnippet(text string, ms []match, at match) string {
	lo, hi := max(0, at.start-snippetContext), min(len(text), at.end+snippetContext)
	// Never cut a match in half: widen to whole matches.
	for changed := true; changed; {
		changed = false
		for _, x := range ms {
			if x.start < hi && x.end > lo && (x.start < lo || x.end > hi) {
				lo, hi = min(lo, x.start), max(hi, x.end)
				changed = true
			}
		}
	}
	// Drop partial words at the edges.
	for lo > 0 && lo < at.start && !isSpace(text[lo-1]) {
		lo++
	}
	for hi < len(text) && hi > at.end && !isSpace(text[hi]) {
		hi--
	}
	var parts []string
	if lo > 0 {
		parts = append(parts, "…")
	}
	pos := lo
	for pos < hi {
		next, nextEnd := hi, hi
		var ph string
		for _, x := range ms {
			if x.end > pos && x.start < hi && x.start < next {
				next, nextEnd, ph = max(x.start, pos), x.end, x.placeholder()
			}
		}
		parts = append(parts, redactWords(text[pos:next])...)
		if ph == "" {
			break
		}
		// Overlapping matches collapse into one placeholder.
		for _, x := range ms {
			if x.start < nextEnd && x.end > nextEnd {
				nextEnd = x.end
			}
		}
		parts = append(parts, ph)
		pos = nextEnd
	}
	if hi < len(text) {
		parts = append(parts, "…")
	}
	return strings.Join(parts, " ")
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// redactWords replaces words that look like personal data.
func redactWords(s string) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		switch {
		case strings.HasPrefix(w, "@"):
			w = "[HANDLE]"
		case strings.Contains(w, "@"):
			w = "[EMAIL]"
		case strings.Contains(w, "://") || strings.HasPrefix(strings.ToLower(w), "www."):
			w = "[URL]"
		case strings.ContainsAny(w, "0123456789"):
			w = "[NUMBER]"
		}
		out = append(out, w)
	}
	return out
}

type metrics struct {
	matches *prometheus.CounterVec
	posts   *prometheus.CounterVec
	// Every post counts one outcome: resolving the label on each would
	// hash it again, so the children are looked up once.
	postsNone, postsPrivate, postsIdentity prometheus.Counter
	byKind                                 [kindEnd]prometheus.Counter
	reloads                                *prometheus.CounterVec
	scrubbed                               prometheus.Counter
	hashes                                 prometheus.Gauge
	persons                                prometheus.Gauge
	keys                                   prometheus.Gauge
	gen                                    prometheus.Gauge
	vanished                               prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_watchlist_matches_total", Help: "Watchlist details found in posts, by kind.",
		}, []string{"kind"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_watchlist_posts_total", Help: "Posts matched against the watchlist, by outcome (private, identity, none).",
		}, []string{"result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_watchlist_reloads_total", Help: "Watchlist loads, by result (ok, partial, error).",
		}, []string{"result"}),
		scrubbed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "threatwatch_watchlist_entities_replaced_total", Help: "Entities of other scorers that named a listed person and were replaced by the protected entity.",
		}),
		hashes:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "threatwatch_watchlist_hashes", Help: "Keyed hashes loaded (all live keys)."}),
		persons: prometheus.NewGauge(prometheus.GaugeOpts{Name: "threatwatch_watchlist_persons", Help: "Protected persons loaded."}),
		keys:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "threatwatch_watchlist_keys", Help: "Live keys loaded (2 during a rotation)."}),
		gen:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "threatwatch_watchlist_generation", Help: "Generation of the loaded list."}),
		vanished: prometheus.NewGauge(prometheus.GaugeOpts{Name: "threatwatch_watchlist_vanished",
			Help: "1 while Redis holds no watchlist though this process loaded one: it still matches the loaded list; import the file again."}),
	}
	if reg != nil {
		reg.MustRegister(m.matches, m.posts, m.reloads, m.scrubbed, m.hashes, m.persons, m.keys, m.gen, m.vanished)
	}
	m.postsNone = m.posts.WithLabelValues("none")
	m.postsPrivate = m.posts.WithLabelValues("private")
	m.postsIdentity = m.posts.WithLabelValues("identity")
	for _, k := range Kinds {
		m.byKind[k] = m.matches.WithLabelValues(k.String())
	}
	return m
}

// matchesOf is the match counter of kind k.
func (m *metrics) matchesOf(k Kind) prometheus.Counter {
	if int(k) < len(m.byKind) && m.byKind[k] != nil {
		return m.byKind[k]
	}
	return m.matches.WithLabelValues(k.String())
}

func (m *metrics) set(s *snapshot) {
	m.hashes.Set(float64(s.entries))
	m.persons.Set(float64(len(s.persons)))
	m.keys.Set(float64(len(s.keys)))
	m.gen.Set(float64(s.gen))
}
