package watchlist

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// posting is one (hash, person, kind) of the loaded list. Postings that
// share the first half of a digest are chained through next.
type posting struct {
	lo     uint64
	person uint32
	kind   Kind
	next   int32
}

// keySet is the list as hashed under one key, ready for matching.
type keySet struct {
	// id is unique to this key set in the process (caches check it).
	id   uint64
	h    *Hasher
	full map[uint64]int32 // digest hi -> first posting
	post []posting
	// tags maps the prefilter tag of a word entry's first word to the
	// word counts of the entries starting with it: bit n of the low half
	// for the folded stream (names, handles, relatives, workplaces), of
	// the high half for the canonical one (addresses). Bit 0 marks the
	// tag of a plate.
	tags map[uint32]uint32
	// tagBits has bit (tag mod 2^20) set for every key of tags: 128 KiB
	// that stay in cache, so most words of a post are turned away without
	// touching the (much larger) map.
	tagBits bitFilter
	// fullBits has bit (digest hi mod 2^21) set for every key of full:
	// 256 KiB in front of the map, whose probes miss the caches (it holds
	// every entry's digest), so that the HMACs of word sequences that are
	// not listed, nearly all of them, cost no map probe.
	fullBits bitFilter
	// seqBits has bit (seq mod 2^21) set for the sequence tag of every
	// entry of two words or more: a post's word sequence is hashed with
	// HMAC (about 180 ns) only when its sequence tag (SipHash, about 20)
	// is set here. Mostly house numbers and common first names start a
	// sequence whose first word is listed. Nil when some entry has no
	// sequence tag (a list stored before they existed): then every such
	// sequence is hashed.
	seqBits bitFilter
	// tailBits has bit (tail mod 2^20) set for the tail tag of every
	// phone, and tailLens bit n when some phone's tail covers n digits: a
	// digit run is parsed with libphonenumber only when the tag of its
	// own last n digits is set, for some n. Nil when some phone has no
	// tail tag (a list stored before them): then every run is parsed.
	tailBits                     bitFilter
	tailLens                     uint8
	hasPhone, hasEmail, hasPlate bool
	hasHandle                    bool
	entries                      int
	// units holds the unit hashes of addresses (Record.Units), each with
	// its person; nil when no address names a unit (or the list was
	// stored before unit hashes were).
	units map[unitKey]struct{}
}

type unitKey struct {
	d      Digest
	person uint32
}

// unitListed reports whether d is a unit hash of person pi.
func (ks *keySet) unitListed(d Digest, pi uint32) bool {
	_, ok := ks.units[unitKey{d, pi}]
	return ok
}

// keySetIDs numbers key sets; 0 is never used, so a new cache matches none.
var keySetIDs atomic.Uint64

// tagFilterSize is the number of bits of keySet.tagBits.
const tagFilterSize = 1 << 20

// bitFilter is a set of bits, a power of two of them: x is in it when
// bit x mod its size is set. Its users keep a filter small enough to stay
// in the caches in front of a larger table.
type bitFilter []uint64

func newBitFilter(size int) bitFilter { return make(bitFilter, size/64) }

func (f bitFilter) set(x uint64) { f[f.index(x)] |= 1 << (x % 64) }

func (f bitFilter) has(x uint64) bool { return f.word(x)&(1<<(x%64)) != 0 }

// word is the 64 bits that hold x's bit, for a caller that reads many
// before it tests any.
func (f bitFilter) word(x uint64) uint64 { return f[f.index(x)] }

func (f bitFilter) index(x uint64) uint64 { return (x / 64) & uint64(len(f)-1) }

// seqFilterSize is the number of bits of keySet.seqBits.
const seqFilterSize = 1 << 21

// seqListed reports whether the word sequence whose HMAC input is in (n
// words) may be listed, by its sequence tag.
func (ks *keySet) seqListed(in []byte, n int) bool {
	if n < 2 || ks.seqBits == nil {
		return true
	}
	t := ks.h.seqTag(in)
	return ks.seqBits.has(uint64(t))
}

// tailFilterSize is the number of bits of keySet.tailBits.
const tailFilterSize = 1 << 20

// tailListed reports whether the phone candidate num (digits, perhaps
// after a "+") may be a listed phone, by the tail tags of its last digits.
func (ks *keySet) tailListed(num string) bool {
	if ks.tailBits == nil {
		return true
	}
	for n := 1; n <= maxTailDigits && n <= len(num); n++ {
		if ks.tailLens&(1<<n) == 0 || num[len(num)-n] == '+' {
			continue
		}
		t := ks.h.tailTag([]byte(num[len(num)-n:]))
		if ks.tailBits.has(uint64(t)) {
			return true
		}
	}
	return false
}

// fullFilterSize is the number of bits of keySet.fullBits.
const fullFilterSize = 1 << 21

// tagMask returns the word-count masks listed for tag t.
func (ks *keySet) tagMask(t uint32) uint32 {
	if !ks.tagBits.has(uint64(t)) {
		return 0
	}
	return ks.tags[t]
}

// snapshot is an immutable loaded list; a reload swaps in a new one.
type snapshot struct {
	gen     int64
	keys    []*keySet
	persons []string
	regions []string
	entries int
	byKind  map[Kind]int
	// units is set when some key set holds unit hashes.
	units bool
}

func newSnapshot(gen int64, regions []string, hashers []*Hasher, recs map[string][]Record) *snapshot {
	s := &snapshot{gen: gen, regions: regions, byKind: map[Kind]int{}}
	personIdx := map[string]uint32{}
	for _, h := range hashers {
		rs, ok := recs[h.ID()]
		if !ok {
			continue
		}
		ks := &keySet{id: keySetIDs.Add(1), h: h, full: map[uint64]int32{}, tags: map[uint32]uint32{}}
		ks.seqBits = newBitFilter(seqFilterSize)
		tailless := false
		for _, r := range rs {
			pi, ok := personIdx[r.Person]
			if !ok {
				pi = uint32(len(s.persons))
				personIdx[r.Person] = pi
				s.persons = append(s.persons, r.Person)
			}
			for _, d := range r.Units {
				if ks.units == nil {
					ks.units = map[unitKey]struct{}{}
					s.units = true
				}
				ks.units[unitKey{d, pi}] = struct{}{}
			}
			for _, e := range r.Entries {
				head, ok := ks.full[e.Digest.hi()]
				if !ok {
					head = -1
				}
				ks.full[e.Digest.hi()] = int32(len(ks.post))
				ks.post = append(ks.post, posting{lo: e.Digest.lo(), person: pi, kind: e.Kind, next: head})
				if e.Kind == KindPlate {
					ks.tags[e.Tag] |= 1
				} else if e.Kind.tagged() && e.N >= 1 && e.N <= maxWords {
					if e.Kind.canonical() {
						ks.tags[e.Tag] |= 1 << (16 + e.N)
					} else {
						ks.tags[e.Tag] |= 1 << e.N
					}
				}
				switch {
				case !e.needsSeq() || ks.seqBits == nil:
				case e.HasSeq:
					ks.seqBits.set(uint64(e.Seq))
				default:
					ks.seqBits = nil
				}
				switch e.Kind {
				case KindPhone:
					ks.hasPhone = true
					switch {
					case tailless:
					case e.HasTail && e.N >= 1 && e.N <= maxTailDigits:
						if ks.tailBits == nil {
							ks.tailBits = newBitFilter(tailFilterSize)
						}
						ks.tailBits.set(uint64(e.Tail))
						ks.tailLens |= 1 << e.N
					default:
						tailless, ks.tailBits, ks.tailLens = true, nil, 0
					}
				case KindEmail:
					ks.hasEmail = true
				case KindPlate:
					ks.hasPlate = true
				case KindHandle:
					ks.hasHandle = true
				}
				ks.entries++
				s.byKind[e.Kind]++
			}
		}
		ks.tagBits = newBitFilter(tagFilterSize)
		for t := range ks.tags {
			ks.tagBits.set(uint64(t))
		}
		ks.fullBits = newBitFilter(fullFilterSize)
		for hi := range ks.full {
			ks.fullBits.set(hi)
		}
		s.entries += ks.entries
		s.keys = append(s.keys, ks)
	}
	return s
}

// match is one detail found in a text.
type match struct {
	start, end int
	person     uint32
	kind       Kind
	// ti, tn are the tokens of an address match (tn is 0 for others):
	// where compareUnits looks for the unit the post names.
	ti, tn int32
	unit   UnitMatch
}

// UnitMatch says how the unit a post names at a listed building compares
// with the listed address's unit.
type UnitMatch uint8

// The ways a post's unit compares with the listed one.
const (
	// UnitNotCompared: not an address, the post names no unit there, or
	// the listed address names none (or was imported before units were).
	UnitNotCompared UnitMatch = iota
	// UnitSame: the post names the listed unit.
	UnitSame
	// UnitOther: the post names another unit of the listed building.
	UnitOther
)

// String names the comparison, for tests and tools.
func (u UnitMatch) String() string {
	switch u {
	case UnitSame:
		return "same unit"
	case UnitOther:
		return "other unit"
	}
	return "unit not compared"
}

// spanUnit is u as evidence carries it: no unit, only how it compared.
func (u UnitMatch) spanUnit() msg.SpanUnit {
	switch u {
	case UnitSame:
		return msg.SpanUnitSame
	case UnitOther:
		return msg.SpanUnitOther
	}
	return ""
}

// otherUnitPlaceholder replaces an address match whose post names
// another unit than the listed one: the page says it is the person's
// building, and that the door the post gives is not theirs.
const otherUnitPlaceholder = "[ADDRESS, OTHER UNIT]"

// placeholder is what replaces x in snippets.
func (x *match) placeholder() string {
	if x.kind == KindAddress && x.unit == UnitOther {
		return otherUnitPlaceholder
	}
	return x.kind.Placeholder()
}

// stream selects which kinds a lookup may report.
const (
	streamFolded = 1 << iota
	streamCanon
	streamPhone
	streamEmail
	streamPlate
	streamHandle
)

func kindInStream(k Kind, stream int, n int) bool {
	switch k {
	case KindPhone:
		return stream&streamPhone != 0
	case KindEmail:
		return stream&streamEmail != 0
	case KindPlate:
		return stream&streamPlate != 0
	case KindAddress:
		return stream&streamCanon != 0
	}
	// Names, handles, relatives, workplaces: folded words; a handle run
	// matches only single-word entries.
	if stream&streamHandle != 0 {
		return n == 1
	}
	return stream&streamFolded != 0
}

// wordCacheSize is the number of entries of a negative word cache: 32 KiB
// that hold the common words of a language, which make up most of any
// post.
const wordCacheSize = 2048

// wordCache remembers words whose prefilter tag is not listed under one
// key set, so that the common words of every post skip SipHash and the
// tag tables. An entry is a word of 1 to 15 bytes packed into two words,
// its length in the top byte (so an empty entry matches no word). Only
// words of posts are kept, and only those known not to start any listed
// entry: the cache says nothing of what the list holds. It lives in a
// pooled scratch, in memory only.
type wordCache struct {
	// id is the key set's: a pointer would keep a replaced list alive in
	// every pooled scratch.
	id  uint64
	ent [wordCacheSize][2]uint64
	// pend[k] is the probe of the post being scanned that ent[k] is
	// pending for (see pendingBit).
	pend [wordCacheSize]int32
}

// pendingBit, set in an entry's length byte (at most 15 otherwise), marks
// a word whose tag the post being scanned computes already: its repeats
// in the post take that tag instead of computing it again. No packed word
// equals a pending entry, and scanWords clears or settles every pending
// entry before it returns.
const pendingBit = 1 << 63

// packWord packs w for the cache; ok is false when w does not fit. When
// w's slice has room for 16 bytes (the tokenizer leaves that much past its
// arena), it loads two words and masks off what lies past w, without a
// branch on the length that the processor would mispredict; otherwise it
// loads the bytes as SipHash loads a tail.
func packWord(w []byte) (w0, w1 uint64, ok bool) {
	if fits(w) {
		w0, w1 = packRoomy(w)
		return w0, w1, true
	}
	return packTail(w)
}

// fits reports whether w takes packWord's usual case: 1 to 15 bytes, with
// room for 16 after its start.
func fits(w []byte) bool { return uint(len(w)-1) < 15 && cap(w) >= 16 }

// packRoomy is packWord's usual case (fits): two loads, masked.
func packRoomy(w []byte) (w0, w1 uint64) {
	n := len(w)
	w = w[:16]
	return binary.LittleEndian.Uint64(w) & packMasks[n&15][0], binary.LittleEndian.Uint64(w[8:])&packMasks[n&15][1] | uint64(n)<<56
}

// packTail is packWord for a word without room for 16 bytes after it.
func packTail(w []byte) (w0, w1 uint64, ok bool) {
	n := len(w)
	switch {
	case n == 0 || n > 15:
		return 0, 0, false
	case n >= 8:
		w0 = binary.LittleEndian.Uint64(w)
		w1 = binary.LittleEndian.Uint64(w[n-8:]) >> (8 * (16 - n))
	case n >= 4:
		// Two loads that overlap in the middle bytes, which agree.
		w0 = uint64(binary.LittleEndian.Uint32(w)) | uint64(binary.LittleEndian.Uint32(w[n-4:]))<<(8*(n-4))
	default:
		w0 = uint64(w[0]) | uint64(w[n/2])<<(8*(n/2)) | uint64(w[n-1])<<(8*(n-1))
	}
	return w0, w1 | uint64(n)<<56, true
}

// packMasks[n] keeps the first n bytes of two little-endian words.
var packMasks = func() (m [16][2]uint64) {
	for n := range m {
		// A shift by 64 gives 0 in Go: the second word is cleared for n <= 8.
		m[n][0] = ^uint64(0) >> (64 - 8*uint(min(n, 8)))
		m[n][1] = ^uint64(0) >> (64 - 8*uint(max(n-8, 0)))
	}
	return m
}()

func (c *wordCache) slot(w0, w1 uint64) *[2]uint64 { return &c.ent[slotIndex(w0, w1)] }

// pendingFor reports whether the probe that entry k (e) is pending for is
// one of probes, for the word e holds: an entry left pending by a post
// that did not finish then does no harm.
func (c *wordCache) pendingFor(probes []wordProbe, k uint64, e *[2]uint64) bool {
	q := int(c.pend[k])
	return q < len(probes) && probes[q].slot == e && probes[q].w0 == e[0] && probes[q].w1 == e[1]&^pendingBit
}

func slotIndex(w0, w1 uint64) uint64 {
	return (w0 ^ w1*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9 >> (64 - 11)
}

// wordCache returns the cache for ks, taking over the one least recently
// set up when neither is for ks (two key sets match during a rotation).
func (sc *scratch) wordCache(ks *keySet) *wordCache {
	for _, c := range sc.wc {
		if c != nil && c.id == ks.id {
			return c
		}
	}
	c := sc.wc[1]
	if c == nil {
		c = new(wordCache)
	} else {
		clear(c.ent[:])
	}
	c.id = ks.id
	sc.wc[0], sc.wc[1] = c, sc.wc[0]
	return c
}

// maskOf is ks.tagMask(ks.h.tag(w)), through the negative cache c.
func (ks *keySet) maskOf(c *wordCache, w []byte) uint32 {
	w0, w1, ok := packWord(w)
	if !ok {
		return ks.tagMask(ks.h.tag(w))
	}
	e := c.slot(w0, w1)
	if e[0] == w0 && e[1] == w1 {
		return 0
	}
	m := ks.tagMask(ks.h.tagPacked(w0, w1))
	if m == 0 {
		e[0], e[1] = w0, w1
	}
	return m
}

// wordProbe is a word of a post that the word cache did not answer: its
// tag, and what the lookup needs afterwards.
type wordProbe struct {
	bits   uint64     // the tag filter's word for t
	slot   *[2]uint64 // the cache entry to fill if the tag is not listed; nil when the word does not fit
	w0, w1 uint64     // the packed word
	t      uint32
	tok, j int32 // token index, and its index in the folded stream
	role   uint8 // roleFolded, roleCanon: which masks the tag's entry gives
}

const (
	roleFolded uint8 = 1 << iota
	roleCanon
)

// find returns the cache entry for w, w packed, and whether the entry
// holds w (e is nil when w does not fit the cache).
func (c *wordCache) find(w []byte) (e *[2]uint64, w0, w1 uint64, hit bool) {
	// packWord's usual case inlined: one call a word, not two.
	if fits(w) {
		w0, w1 = packRoomy(w)
	} else {
		var ok bool
		if w0, w1, ok = packTail(w); !ok {
			return nil, 0, 0, false
		}
	}
	e = c.slot(w0, w1)
	return e, w0, w1, e[0] == w0 && e[1] == w1
}

// probe appends the tag of w, a word the cache did not answer, to ps.
func (ks *keySet) probe(ps []wordProbe, w []byte, e *[2]uint64, w0, w1 uint64, tok, j int, role uint8) []wordProbe {
	return append(ps, wordProbe{slot: e, w0: w0, w1: w1, t: ks.h.tag(w), tok: int32(tok), j: int32(j), role: role})
}

// probeToken is scanWords' first pass for a token that is not plain:
// one that exists only in the canonical stream, has a canonical form of
// its own, or was not packed by the tokenizer.
func (ks *keySet) probeToken(probes []wordProbe, wc *wordCache, tz *tokenizer, tk *token, i, nf int) []wordProbe {
	if !tk.canonOnly {
		role := roleFolded
		if tk.cs == tk.fs {
			role |= roleCanon
		}
		w := tz.folded(tk)
		if e, w0, w1, hit := wc.find(w); !hit {
			probes = ks.probe(probes, w, e, w0, w1, i, nf, role)
		}
	}
	if tk.canonOnly || tk.cs != tk.fs {
		w := tz.canonical(tk)
		if e, w0, w1, hit := wc.find(w); !hit {
			probes = ks.probe(probes, w, e, w0, w1, i, nf, roleCanon)
		}
	}
	return probes
}

// scratch is per-call working memory, pooled.
type scratch struct {
	wc      [2]*wordCache
	tz      tokenizer
	in      []byte
	sum     [sha256.Size]byte
	macs    [2]macSlot
	cands   []wordCand
	probes  []wordProbe
	fIdx    []int
	hIdx    []int
	found   []match
	seenCnd map[string]struct{}
	// emailSpans are the emailRE matches of the text being scanned.
	emailSpans [][2]int
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{seenCnd: map[string]struct{}{}}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	if cap(sc.tz.arena) > 1<<20 {
		sc.tz = tokenizer{}
	}
	scratchPool.Put(sc)
}

// macSlot is a MAC a scratch keeps for one hasher.
type macSlot struct {
	h *Hasher
	m hash.Hash
}

// mac returns a MAC for h. A scratch keeps the MACs of the last two
// hashers it used (two during a rotation) from post to post: taking them
// from the hashers' pools and back on every post cost more than a post's
// lookups.
func (sc *scratch) mac(h *Hasher) hash.Hash {
	for i := range sc.macs {
		if sc.macs[i].h == h {
			return sc.macs[i].m
		}
	}
	if old := sc.macs[1]; old.h != nil {
		old.h.pool.Put(old.m)
	}
	sc.macs[1] = sc.macs[0]
	sc.macs[0] = macSlot{h, h.pool.Get().(hash.Hash)}
	return sc.macs[0].m
}

// digest hashes dom||0||parts joined by spaces.
func (sc *scratch) digest(m hash.Hash, dom byte, parts ...[]byte) Digest {
	sc.in = append(sc.in[:0], dom, 0)
	for i, p := range parts {
		if i > 0 {
			sc.in = append(sc.in, ' ')
		}
		sc.in = append(sc.in, p...)
	}
	return digestWith(m, sc.in, sc.sum[:0])
}

// lookup appends the matches of d to sc.found.
func (ks *keySet) lookup(sc *scratch, d Digest, stream, n, start, end int) {
	hi := d.hi()
	if !ks.fullBits.has(hi) {
		return
	}
	i, ok := ks.full[hi]
	if !ok {
		return
	}
	lo := d.lo()
	for ; i >= 0; i = ks.post[i].next {
		p := &ks.post[i]
		if p.lo == lo && kindInStream(p.kind, stream, n) {
			sc.found = append(sc.found, match{start: start, end: end, person: p.person, kind: p.kind})
		}
	}
}

// scan finds every listed detail in text, appending to sc.found.
func (s *snapshot) scan(sc *scratch, text string) {
	if len(s.keys) == 0 || text == "" {
		return
	}
	toks := sc.tz.tokenize(text)
	for _, ks := range s.keys {
		m := sc.mac(ks.h)
		ks.scanWords(sc, m, toks)
		if ks.hasHandle {
			ks.scanHandles(sc, m, text)
		}
		if ks.hasEmail {
			ks.scanEmails(sc, m, text)
		}
		if ks.hasPhone {
			ks.scanPhones(sc, m, text, toks, s.regions)
		}
		if ks.hasPlate {
			ks.scanPlates(sc, m, text, toks)
		}
	}
}

// wordCand is a word whose tag some listed entry starts with: its token,
// its index in the folded stream (which leaves out canonOnly tokens), and
// the word counts of the entries of each stream.
type wordCand struct {
	i, j int
	f, c uint32
}

// scanWords tags every word with the cheap keyed PRF and hashes with HMAC
// only the word sequences, starting at a word whose tag is listed, whose
// length some listed entry starting with that tag has.
func (ks *keySet) scanWords(sc *scratch, m hash.Hash, toks []token) {
	tz := &sc.tz
	wc := sc.wordCache(ks)
	// Each word's tag is looked up in three passes. The first looks each
	// word up in the cache and computes the tag of those it misses; the
	// second reads the tag filter's word for each; the third decides. The
	// filter is larger than the caches that the classifier's own data
	// leaves it, so a read is a miss to memory; read one word at a time,
	// as each tag was computed, the misses came one after the other
	// (they lie a few hundred instructions apart, past what the processor
	// looks ahead), while the second pass has them all under way at once.
	probes := sc.probes[:0]
	nf := 0
	for i := range toks {
		tk := &toks[i]
		if tk.plain {
			k := slotIndex(tk.w0, tk.w1)
			e := &wc.ent[k]
			switch {
			case e[0] == tk.w0 && e[1] == tk.w1:
			case e[0] == tk.w0 && e[1] == tk.w1|pendingBit && wc.pendingFor(probes, k, e):
				q := wc.pend[k]
				// A repeat within the post: the first probe's tag; the
				// first probe settles the entry.
				p := probes[q]
				p.slot, p.tok, p.j = nil, int32(i), int32(nf)
				probes = append(probes, p)
			default:
				probes = append(probes, wordProbe{slot: e, w0: tk.w0, w1: tk.w1, t: ks.h.tagPacked(tk.w0, tk.w1), tok: int32(i), j: int32(nf), role: roleFolded | roleCanon})
				e[0], e[1] = tk.w0, tk.w1|pendingBit
				wc.pend[k] = int32(len(probes) - 1)
			}
			nf++
			continue
		}
		probes = ks.probeToken(probes, wc, tz, tk, i, nf)
		if !tk.canonOnly {
			nf++
		}
	}
	for k := range probes {
		p := &probes[k]
		p.bits = ks.tagBits.word(uint64(p.t))
	}
	cands := sc.cands[:0]
	for k := range probes {
		p := &probes[k]
		var mask uint32
		if p.bits&(1<<(p.t%64)) != 0 {
			mask = ks.tags[p.t]
		}
		if mask == 0 {
			if p.slot != nil {
				p.slot[0], p.slot[1] = p.w0, p.w1
			}
			continue
		}
		if p.slot != nil && p.slot[0] == p.w0 && p.slot[1] == p.w1|pendingBit {
			p.slot[0], p.slot[1] = 0, 0
		}
		var f, c uint32
		if p.role&roleFolded != 0 {
			f = mask & 0xfffe
		}
		if p.role&roleCanon != 0 {
			c = mask >> 16
		}
		if f|c == 0 {
			continue
		}
		if n := len(cands); n > 0 && cands[n-1].i == int(p.tok) {
			cands[n-1].f |= f
			cands[n-1].c |= c
			continue
		}
		cands = append(cands, wordCand{i: int(p.tok), j: int(p.j), f: f, c: c})
	}
	sc.probes = probes
	sc.cands = cands
	if len(cands) == 0 {
		return
	}
	// Folded stream: names, handles, relatives, workplaces. fi maps a
	// folded index to its token; nil when every token is in the stream.
	var fi []int
	if nf < len(toks) {
		fi = sc.fIdx[:0]
		for i := range toks {
			if !toks[i].canonOnly {
				fi = append(fi, i)
			}
		}
		sc.fIdx = fi
	}
	tokAt := func(k int) *token {
		if fi == nil {
			return &toks[k]
		}
		return &toks[fi[k]]
	}
	for _, cd := range cands {
		for mask := cd.f; mask != 0; {
			n := bits.TrailingZeros32(mask)
			mask &^= 1 << n
			if cd.j+n > nf {
				continue
			}
			sc.in = append(sc.in[:0], domWords, 0)
			for k := 0; k < n; k++ {
				if k > 0 {
					sc.in = append(sc.in, ' ')
				}
				sc.in = append(sc.in, tz.folded(tokAt(cd.j+k))...)
			}
			if !ks.seqListed(sc.in, n) {
				continue
			}
			d := digestWith(m, sc.in, sc.sum[:0])
			ks.lookup(sc, d, streamFolded, n, int(toks[cd.i].start), int(tokAt(cd.j+n-1).end))
		}
	}
	// Canonical stream: addresses.
	for _, cd := range cands {
		i := cd.i
		for mask := cd.c; mask != 0; {
			n := bits.TrailingZeros32(mask)
			mask &^= 1 << n
			if i+n > len(toks) {
				continue
			}
			sc.in = append(sc.in[:0], domWords, 0)
			for k := 0; k < n; k++ {
				if k > 0 {
					sc.in = append(sc.in, ' ')
				}
				sc.in = append(sc.in, tz.canonical(&toks[i+k])...)
			}
			if !ks.seqListed(sc.in, n) {
				continue
			}
			d := digestWith(m, sc.in, sc.sum[:0])
			at := len(sc.found)
			ks.lookup(sc, d, streamCanon, n, int(toks[i].start), int(toks[i+n-1].end))
			for k := at; k < len(sc.found); k++ {
				sc.found[k].ti, sc.found[k].tn = int32(i), int32(n)
			}
		}
	}
}

// scanHandles checks runs like "@Clara_S99" or "clara.s" that the word
// tokenizer splits: plain single words were checked as words already.
// A run is a longest stretch of ASCII letters, digits and ".-_", from its
// first letter or digit, without separators at its end; it is a
// candidate only if a separator remains inside, that is where a letter or
// digit is followed by separators and then a letter or digit again.
// IndexByte finds those few places, so the rest of the post is not read.
func (ks *keySet) scanHandles(sc *scratch, m hash.Hash, text string) {
	sc.hIdx = sc.hIdx[:0]
	for _, c := range []byte("._-") {
		for k := 0; ; {
			j := strings.IndexByte(text[k:], c)
			if j < 0 {
				break
			}
			k += j
			if k > 0 && isASCIIAlnum(text[k-1]) {
				e := k + 1
				for e < len(text) && isHandleSep(text[e]) {
					e++
				}
				if e < len(text) && isASCIIAlnum(text[e]) {
					sc.hIdx = append(sc.hIdx, k)
				}
			}
			k++
		}
	}
	if len(sc.hIdx) == 0 {
		return
	}
	slices.Sort(sc.hIdx)
	done := 0
	for _, k := range sc.hIdx {
		if k < done {
			continue // in a run already checked
		}
		a, b := k, k
		for a > 0 && isHandleByte(text[a-1]) {
			a--
		}
		for b < len(text) && isHandleByte(text[b]) {
			b++
		}
		done = b
		ks.handleRun(sc, m, text, a, b)
	}
}

func isASCIIAlnum(c byte) bool { return c < utf8.RuneSelf && asciiClass[c] != clsOther }
func isHandleSep(c byte) bool  { return c == '.' || c == '-' || c == '_' }
func isHandleByte(c byte) bool { return isASCIIAlnum(c) || isHandleSep(c) }

// handleRun checks the run text[a:b] of handle bytes.
func (ks *keySet) handleRun(sc *scratch, m hash.Hash, text string, a, b int) {
	start, end := a, b
	for start < end && !isASCIIAlnum(text[start]) {
		start++
	}
	for end > start && !isASCIIAlnum(text[end-1]) {
		end--
	}
	if end-start < 3 || !strings.ContainsAny(text[start:end], "._-") {
		return
	}
	sc.in = append(sc.in[:0], domWords, 0)
	for k := start; k < end; k++ {
		switch c := text[k]; asciiClass[c&0x7f] {
		case clsUpper:
			sc.in = append(sc.in, c+'a'-'A')
		case clsLower, clsDigit:
			sc.in = append(sc.in, c)
		}
	}
	if ks.maskOf(sc.wordCache(ks), sc.in[2:])&(1<<1) == 0 {
		return
	}
	d := digestWith(m, sc.in, sc.sum[:0])
	ks.lookup(sc, d, streamHandle, 1, start, end)
}

// emailRE finds addresses, including the common obfuscations "name [at]
// domain [dot] com" and "name(at)domain(dot)com".
var emailRE = regexp.MustCompile(`(?i)([a-z0-9][a-z0-9._%+-]*)(?:@|\s*[\[\(\{]\s*at\s*[\]\)\}]\s*)([a-z0-9-]+(?:(?:\.|\s*[\[\(\{]\s*dot\s*[\]\)\}]\s*)[a-z0-9-]+)+)`)

// bareEmailRE finds the obfuscation with no brackets at all, "name at
// domain dot com" or "name at domain.com". It is matched apart from
// emailRE, and a match that overlaps one of emailRE's is dropped: in
// "write to alice at bob.smith@example.com" the address is
// bob.smith@example.com, not alice@bob.smith. Its " dot " is allowed only
// after a bare " at ", so "jane@example.org dot matrix" stays
// jane@example.org.
var bareEmailRE = regexp.MustCompile(`(?i)([a-z0-9][a-z0-9._%+-]*)\s+at\s+([a-z0-9-]+(?:(?:\.|\s*[\[\(\{]\s*dot\s*[\]\)\}]\s*|\s+dot\s+)[a-z0-9-]+)+)`)

var dotRE = regexp.MustCompile(`(?i)\s*[\[\(\{]\s*dot\s*[\]\)\}]\s*|\s+dot\s+`)

// mayHaveEmail reports whether text holds an '@' or a closing bracket
// after "at" and any spaces ("[at]", "( at )"): every emailRE match holds
// one. IndexByte is vectorized, and prose seldom holds brackets.
func mayHaveEmail(text string) bool {
	if strings.IndexByte(text, '@') >= 0 {
		return true
	}
	for _, c := range []byte("])}") {
		for i := 0; ; {
			j := strings.IndexByte(text[i:], c)
			if j < 0 {
				break
			}
			i += j + 1
			k := i - 1
			for k > 0 && isRESpace(text[k-1]) {
				k--
			}
			if k >= 2 && (text[k-1]|0x20) == 't' && (text[k-2]|0x20) == 'a' {
				return true
			}
		}
	}
	return false
}

// bareEmailWindows calls f, in text order, with a window around each
// word "at" that may begin a bareEmailRE match: from the start of the run
// of local-part bytes before it (or from the end of the previous match,
// when that is later) to the end of the domain it may begin. A match
// needs "at" with spaces on both sides, a run of domain-label bytes, and
// right after it one of the separators, itself followed by a label byte:
// '.', "[dot]" (any bracket, any spaces) or " dot ". Every such "at" is a
// plain token, which the tokenizer lists in ats as it packs it (like
// plates, among the first maxTokens words); the rest is read off the
// text. Non-ASCII bytes count as local-part and label bytes, since (?i)
// folds "K" and "ſ" into [a-z]: a window may be longer than its match,
// never shorter. Matched in its window, the regexp finds what it finds in
// the whole text (it has no anchors or look-around, and a match holds
// exactly one such "at"), at the cost of a few bytes: prose says "at"
// often, but seldom follows it with a domain. f returns where its match
// ended (or -1) and whether to go on.
func bareEmailWindows(text string, toks []token, ats []int32, f func(from, to int) (end int, more bool)) {
	prevEnd := 0
	for _, k := range ats {
		tk := &toks[k]
		s, e := int(tk.start), int(tk.end)
		if s < prevEnd || text[s]|0x20 != 'a' || text[s+1]|0x20 != 't' ||
			s == 0 || !isRESpace(text[s-1]) || e >= len(text) || !isRESpace(text[e]) {
			continue
		}
		to := domainEnd(text, skipSpace(text, e))
		if to < 0 {
			continue
		}
		from := s - 1
		for from > 0 && isRESpace(text[from-1]) {
			from--
		}
		for from > 0 && (text[from-1] >= utf8.RuneSelf || isLocalByte(text[from-1])) {
			from--
		}
		end, more := f(max(from, prevEnd), to)
		if !more {
			return
		}
		prevEnd = max(prevEnd, end)
	}
}

// domainEnd is where a domain of bareEmailRE that starts at text[i:]
// ends, at the latest: a label, then separators each followed by a label,
// as many as there are; -1 when no separator follows the first label.
func domainEnd(text string, i int) int {
	l := skipLabel(text, i)
	if l == i {
		return -1
	}
	end := -1
	for {
		j, ok := dotSepAt(text, l)
		if !ok {
			return end
		}
		l = skipLabel(text, j)
		end = l
	}
}

// dotSepAt reports whether one of bareEmailRE's domain separators,
// followed by a label byte, starts at text[i:], and where the label
// starts.
func dotSepAt(text string, i int) (int, bool) {
	if i < len(text) && text[i] == '.' {
		return i + 1, skipLabel(text, i+1) > i+1
	}
	j := skipSpace(text, i)
	if j < len(text) && (text[j] == '[' || text[j] == '(' || text[j] == '{') {
		k := skipSpace(text, j+1)
		if !hasDotWord(text, k) {
			return 0, false
		}
		k = skipSpace(text, k+3)
		if k < len(text) && (text[k] == ']' || text[k] == ')' || text[k] == '}') {
			k = skipSpace(text, k+1)
			return k, skipLabel(text, k) > k
		}
		return 0, false
	}
	if j > i && hasDotWord(text, j) {
		k := skipSpace(text, j+3)
		return k, k > j+3 && skipLabel(text, k) > k
	}
	return 0, false
}

func hasDotWord(text string, i int) bool {
	return i+3 <= len(text) && text[i]|0x20 == 'd' && text[i+1]|0x20 == 'o' && text[i+2]|0x20 == 't'
}

func skipSpace(text string, i int) int {
	for i < len(text) && isRESpace(text[i]) {
		i++
	}
	return i
}

// skipLabel skips domain-label bytes, and non-ASCII ones, which (?i) may
// fold into them.
func skipLabel(text string, i int) int {
	for i < len(text) && (text[i] >= utf8.RuneSelf || isLabelByte(text[i])) {
		i++
	}
	return i
}

func isLabelByte(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '-'
}

func isLocalByte(c byte) bool {
	return isLabelByte(c) || c == '.' || c == '_' || c == '%' || c == '+'
}

// packedAt0 and packedAt1 are the word "at" as the tokenizer packs a
// plain word: its bytes little-endian, its length in the top byte.
const (
	packedAt0 = uint64('a') | uint64('t')<<8
	packedAt1 = uint64(2) << 56
)

// emailByte marks the ASCII bytes emailRE can match: letters, digits,
// "._%+-@" and brackets. Whitespace is handled apart.
var emailByte = func() (t [128]bool) {
	for c := range t {
		t[c] = asciiClass[c] != clsOther
	}
	for _, c := range "._%+-@[](){}" {
		t[c] = true
	}
	return t
}()

func isBracket(c byte) bool {
	return c == '[' || c == ']' || c == '(' || c == ')' || c == '{' || c == '}'
}

func isRESpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

// emailSegments calls f with the pieces of text an email match may lie
// in, in order. A match never holds a byte emailRE cannot match, nor a
// run of whitespace that does not touch a bracket (its whitespace only
// surrounds "[at]" and "[dot]"); emailRE has no anchors or look-around,
// so matching each piece alone finds what matching the whole text finds.
// Pieces without an '@' or a bracket cannot hold a match and are skipped:
// the regexp then runs on a few words instead of the whole post.
func emailSegments(text string, f func(off int, seg string) bool) {
	start, anchor := 0, false
	flush := func(end int) bool {
		ok := true
		if anchor && end > start {
			ok = f(start, text[start:end])
		}
		anchor = false
		return ok
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c >= utf8.RuneSelf || emailByte[c]:
			// Non-ASCII: (?i) folds "K" and "ſ" into [a-z]; keep every
			// non-ASCII byte, which only makes a piece longer.
			if c == '@' || isBracket(c) {
				anchor = true
			}
			i++
		case isRESpace(c):
			j := i
			for j < len(text) && isRESpace(text[j]) {
				j++
			}
			if (i > 0 && isBracket(text[i-1])) || (j < len(text) && isBracket(text[j])) {
				i = j
				continue
			}
			if !flush(i) {
				return
			}
			i, start = j, j
		default:
			if !flush(i) {
				return
			}
			i++
			start = i
		}
	}
	flush(len(text))
}

// scanEmails reads the tokens of text that sc's tokenizer holds.
func (ks *keySet) scanEmails(sc *scratch, m hash.Hash, text string) {
	spans := sc.emailSpans[:0]
	if mayHaveEmail(text) {
		left := 64 // as many as FindAll(text, 64) would return
		emailSegments(text, func(off int, seg string) bool {
			for _, loc := range emailRE.FindAllStringSubmatchIndex(seg, left) {
				left--
				spans = append(spans, [2]int{off + loc[0], off + loc[1]})
				ks.lookupEmail(sc, m, seg[loc[2]:loc[3]], seg[loc[4]:loc[5]], off+loc[0], off+loc[1])
			}
			return left > 0
		})
	}
	bareLeft := 64 // as many as bareEmailRE's FindAll(text, 64) would return
	bareEmailWindows(text, sc.tz.toks, sc.tz.ats, func(from, to int) (int, bool) {
		loc := bareEmailRE.FindStringSubmatchIndex(text[from:to])
		if loc == nil {
			return -1, true
		}
		for k := range loc {
			loc[k] += from
		}
		bareLeft--
		if !overlapsAny(spans, loc[0], loc[1]) {
			ks.lookupEmail(sc, m, text[loc[2]:loc[3]], text[loc[4]:loc[5]], loc[0], loc[1])
		}
		return loc[1], bareLeft > 0
	})
	sc.emailSpans = spans
}

// lookupEmail looks up the address whose local part and (perhaps
// obfuscated) domain a match found at start..end.
func (ks *keySet) lookupEmail(sc *scratch, m hash.Hash, local, domain string, start, end int) {
	domain = dotRE.ReplaceAllString(domain, ".")
	n, ok := normalizeEmail(local + "@" + domain)
	if !ok {
		return
	}
	d := sc.digest(m, domEmail, []byte(n))
	ks.lookup(sc, d, streamEmail, 1, start, end)
}

// overlapsAny reports whether start..end overlaps one of spans.
func overlapsAny(spans [][2]int, start, end int) bool {
	for _, sp := range spans {
		if start < sp[1] && sp[0] < end {
			return true
		}
	}
	return false
}

// phone candidates: runs of digit groups joined by single separators.
const maxPhoneTries = 48

func isPhoneSep(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/'
}

// phoneSepLen returns the length of the phone separator at text[j:], or
// 0: an ASCII one, or a no-break or thin space (web pages keep a number
// on one line with them, French typography groups digits with them) or a
// dash or minus that a word processor put for a hyphen.
func phoneSepLen(text string, j int) int {
	if j >= len(text) {
		return 0
	}
	if c := text[j]; c < utf8.RuneSelf {
		if isPhoneSep(c) {
			return 1
		}
		return 0
	}
	switch r, size := utf8.DecodeRuneInString(text[j:]); r {
	case '\u00a0', '\u2009', '\u202f', '\u2010', '\u2011', '\u2012', '\u2013', '\u2212':
		return size
	}
	return 0
}

func (ks *keySet) scanPhones(sc *scratch, m hash.Hash, text string, toks []token, regions []string) {
	clear(sc.seenCnd)
	tries := 0
	var groups [12]digitGroup
	i, ti := 0, 0
	for tries < maxPhoneTries {
		if i = nextDigit(text, i, toks, &ti); i >= len(text) {
			break
		}
		// A run must not continue a word ("A1234567") or a longer token.
		if i > 0 && isWordRune(rune(text[i-1])) {
			for i < len(text) && text[i] >= '0' && text[i] <= '9' {
				i++
			}
			continue
		}
		runStart := i
		if runStart > 0 && text[runStart-1] == '+' {
			runStart--
		} else if runStart > 0 && text[runStart-1] == '(' {
			runStart--
		}
		g := 0
		for i < len(text) && g < len(groups) {
			s := i
			for i < len(text) && text[i] >= '0' && text[i] <= '9' {
				i++
			}
			groups[g] = digitGroup{s, i, i - s}
			g++
			// Up to three separators between groups ("555) 867", " - ").
			j := i
			for n := 0; n < 3; n++ {
				k := phoneSepLen(text, j)
				if k == 0 {
					break
				}
				j += k
			}
			if j == i || j >= len(text) || !(text[j] >= '0' && text[j] <= '9') {
				break
			}
			i = j
		}
		if i < len(text) && isWordRune(rune(text[i])) && i > 0 && text[i-1] >= '0' && text[i-1] <= '9' && !gluedExtension(text, i) {
			continue // digits glued to letters: not a phone number
		}
		if isDottedQuad(text[runStart:groups[g-1].end]) {
			continue // an IPv4 address, not a phone number
		}
		// "00" international prefixes are handled by tryPhone.
		intl := text[runStart] == '+'
		ip := ipv4Groups(text, groups[:g], intl)
		// Try the longest digit spans first; sub-spans catch a number
		// written right after another figure ("since 2019 555 867 5309").
		// No span takes in a group of an IPv4 address.
		for a := 0; a < g && tries < maxPhoneTries; a++ {
			digits := 0
			for b := a; b < g && tries < maxPhoneTries && ip&(1<<b) == 0; b++ {
				digits += groups[b].digits
				if digits < 7 || digits > 15 {
					continue
				}
				var buf [20]byte
				num := buf[:0]
				if a == 0 && intl {
					num = append(num, '+')
				}
				for k := a; k <= b; k++ {
					num = append(num, text[groups[k].start:groups[k].end]...)
				}
				start := groups[a].start
				if a == 0 {
					start = runStart
				}
				tries += ks.tryPhone(sc, m, string(num), regions, start, groups[b].end)
			}
		}
	}
}

// gluedExtension reports whether text[i:], right after a phone's digits,
// is an extension written without a space: "x12", "ext12", "ext.12" (any
// case), as signatures write it. The digits before it are a number all
// the same; other letters glued to digits ("4477abc") make them none.
func gluedExtension(text string, i int) bool {
	switch {
	case i+1 < len(text) && text[i]|0x20 == 'x':
		i++
	case i+3 < len(text) && text[i]|0x20 == 'e' && text[i+1]|0x20 == 'x' && text[i+2]|0x20 == 't':
		i += 3
		if text[i] == '.' {
			i++
		}
	default:
		return false
	}
	return i < len(text) && text[i] >= '0' && text[i] <= '9'
}

// digitGroup is a run of ASCII digits in a phone candidate.
type digitGroup struct{ start, end, digits int }

// ipv4Groups returns a mask of the groups (bit k for groups[k]) that are
// part of an IPv4 address inside a longer run of digit groups, such as
// "70.100.229.154  04:28" in a signature: four groups joined by single
// dots that isDottedQuad accepts, not themselves joined by a dot to a
// fifth group. Such a run would otherwise give phone candidates made of
// an address's last groups and the figures after it. As for isDottedQuad,
// groups right after a "+" (plus) are an international number, not an
// address.
func ipv4Groups(text string, groups []digitGroup, plus bool) uint32 {
	var mask uint32
	dotted := func(k int) bool { // groups[k] and groups[k+1] are joined by one dot
		return groups[k+1].start == groups[k].end+1 && text[groups[k].end] == '.'
	}
	for k := 0; k+3 < len(groups); k++ {
		if k == 0 && plus || !isDottedQuad(text[groups[k].start:groups[k+3].end]) ||
			k > 0 && dotted(k-1) || k+4 < len(groups) && dotted(k+3) {
			continue
		}
		mask |= 0xf << k
		k += 3
	}
	return mask
}

// isDottedQuad reports whether s is written as an IPv4 address: four
// dot-separated numbers of 0 to 255 without leading zeros. Forums quote
// such addresses often (Wikipedia talk pages sign edits with them), and
// each of their digit spans would otherwise go through libphonenumber's
// Parse, the dearest step of the matcher. No phone is lost that people
// write: national formats with dots either keep a trunk prefix's leading
// zero ("02.123.45.67"), or have a group of four digits or one above 255
// ("212.555.0147"), or more groups than four.
func isDottedQuad(s string) bool {
	for part := range 4 {
		n, v := 0, 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			v = v*10 + int(s[n]-'0')
			n++
			if n > 3 {
				return false
			}
		}
		if n == 0 || v > 255 || (n > 1 && s[0] == '0') {
			return false
		}
		s = s[n:]
		if part < 3 {
			if len(s) == 0 || s[0] != '.' {
				return false
			}
			s = s[1:]
		}
	}
	return len(s) == 0
}

// nextDigit returns the position of the first ASCII digit of text at or
// after i, or len(text). Every ASCII digit is inside a token, so it skips
// from one token holding a digit to the next instead of reading every
// byte; *ti is the token to look at first, and only moves forward. Text
// past the last token of a capped tokenization is read byte by byte.
func nextDigit(text string, i int, toks []token, ti *int) int {
	for ; *ti < len(toks); *ti++ {
		tk := &toks[*ti]
		if int(tk.end) <= i || !tk.hasDigit() {
			continue
		}
		for j := max(i, int(tk.start)); j < int(tk.end); j++ {
			if text[j] >= '0' && text[j] <= '9' {
				return j
			}
		}
	}
	if len(toks) >= maxTokens {
		i = max(i, int(toks[len(toks)-1].end))
	} else {
		return len(text)
	}
	for i < len(text) && !(text[i] >= '0' && text[i] <= '9') {
		i++
	}
	return i
}

func (ks *keySet) tryPhone(sc *scratch, m hash.Hash, num string, regions []string, start, end int) int {
	if _, dup := sc.seenCnd[num]; dup {
		return 0
	}
	sc.seenCnd[num] = struct{}{}
	if !ks.tailListed(num) {
		// No listed phone ends with these digits: counted as the parses
		// it saves, so that a post is read as far as before.
		if num[0] == '+' {
			return 1
		}
		return len(regions)
	}
	if strings.HasPrefix(num, "00") {
		num = "+" + num[2:]
	}
	try := func(region string) {
		pn, err := phonenumbers.Parse(num, region)
		if err != nil || !phonenumbers.IsPossibleNumber(pn) {
			return
		}
		d := sc.digest(m, domPhone, []byte(phonenumbers.Format(pn, phonenumbers.E164)))
		ks.lookup(sc, d, streamPhone, 1, start, end)
	}
	if num[0] == '+' {
		try("")
		return 1
	}
	for _, r := range regions {
		try(r)
	}
	return len(regions)
}

// scanPlates checks one to three adjacent words joined by a space, dash or
// dot ("ABC 1234", "abc-1234", "7XYZ123"). A candidate must hold a digit
// or be written in capitals, so plain words never count as plates.
func (ks *keySet) scanPlates(sc *scratch, m hash.Hash, text string, toks []token) {
	// Most words of prose hold no digit and are not in capitals: a
	// candidate starts at most two words before such a word, which the
	// tokenizer marked.
	next := 0
	for _, j := range sc.tz.marked {
		j := int(j)
		for i := max(next, j-2); i <= j; i++ {
			// A candidate from a word with a lower-case letter is never
			// in capitals: it needs a digit within its three words.
			if tk := &toks[i]; !tk.canonOnly && (i == j || tk.seen&flagLower == 0 || digitWithin(toks, i, 3)) {
				ks.plateAt(sc, m, text, toks, i)
			}
		}
		next = j + 1
	}
}

// digitWithin reports whether one of the n tokens from toks[i] holds a
// digit.
func digitWithin(toks []token, i, n int) bool {
	for k := i; k < min(i+n, len(toks)); k++ {
		if toks[k].hasDigit() {
			return true
		}
	}
	return false
}

func nonASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// plateAt checks the plate candidates starting at token i. A candidate's
// bytes are written only once it qualifies: most candidates around an "I"
// or a number in prose do not.
func (ks *keySet) plateAt(sc *scratch, m hash.Hash, text string, toks []token, i int) {
	tz := &sc.tz
	digit, upper := false, true
	n := 0
	for k := 0; k < 3 && i+k < len(toks); k++ {
		tk := &toks[i+k]
		if tk.canonOnly {
			break
		}
		if k > 0 {
			gap := text[toks[i+k-1].end:tk.start]
			if len(gap) != 1 || (gap[0] != ' ' && gap[0] != '-' && gap[0] != '.') {
				break
			}
		}
		if n += int(tk.fe - tk.fs); n > 10 {
			break
		}
		digit = digit || tk.hasDigit()
		upper = upper && (tk.upper() || !tk.hasLetter())
		if n < 2 || !(digit || (upper && n >= 4)) {
			continue
		}
		sc.in = append(sc.in[:0], domPlate, 0)
		for q := i; q <= i+k; q++ {
			for _, b := range tz.folded(&toks[q]) {
				if b >= 'a' && b <= 'z' {
					b -= 'a' - 'A'
				}
				sc.in = append(sc.in, b)
			}
		}
		if nonASCII(sc.in[2:]) {
			sc.in = append(sc.in[:2], strings.ToUpper(string(sc.in[2:]))...)
		}
		if ks.maskOf(sc.wordCache(ks), sc.in[2:])&1 == 0 {
			continue
		}
		d := digestWith(m, sc.in, sc.sum[:0])
		ks.lookup(sc, d, streamPlate, 1, int(toks[i].start), int(tk.end))
	}
}
