package watchlist

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"sync"
)

// Digest is a detail's keyed hash: the first 16 bytes of
// HMAC-SHA256(key, domain || 0x00 || normalized form). 128 bits keep
// accidental collisions out of reach (a list of a million hashes against a
// billion candidates: about 1e-24) at half the memory of the full MAC.
type Digest [16]byte

func (d Digest) hi() uint64 { return binary.BigEndian.Uint64(d[:8]) }
func (d Digest) lo() uint64 { return binary.BigEndian.Uint64(d[8:]) }

// String is the hex form stored in Redis.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

func parseDigest(s string) (Digest, bool) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, false
	}
	return d, true
}

// MinKeyBytes is the shortest HMAC key accepted: SHA-256's output size.
const MinKeyBytes = 32

// ErrKey reports a key that is missing, too short or not the one the
// stored hashes were made with.
var ErrKey = errors.New("watchlist key problem")

var keyIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ValidKeyID reports whether id can name a key (it appears in Redis keys).
func ValidKeyID(id string) bool { return keyIDPattern.MatchString(id) }

// Hasher computes keyed hashes with one key. It is safe for concurrent use.
type Hasher struct {
	id    string
	pool  sync.Pool
	check string
	// prf makes prefilter tags: SipHash-2-4 under a subkey derived from
	// the HMAC key.
	prf sipKey
}

// NewHasher returns a hasher for the key named id. The key bytes are
// copied into the HMAC state and not kept otherwise.
func NewHasher(id string, key []byte) (*Hasher, error) {
	if !ValidKeyID(id) {
		return nil, fmt.Errorf("%w: key id %q: want 1-32 of a-z, 0-9, _ and -", ErrKey, id)
	}
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("%w: key %q is %d bytes, want at least %d", ErrKey, id, len(key), MinKeyBytes)
	}
	k := append([]byte(nil), key...)
	h := &Hasher{id: id}
	h.pool.New = func() any { return hmac.New(sha256.New, k) }
	// The check value lets a process tell whether the key it was given is
	// the key the stored hashes were made with, without revealing the key.
	h.check = h.sum(domCheck, []byte("threatwatch watchlist key check")).String()
	sub := h.sum(domPrefilter, []byte("threatwatch watchlist prefilter"))
	h.prf = newSipKey(sub[:])
	return h, nil
}

const (
	domCheck     byte = 'k'
	domPrefilter byte = 'f'
)

// tagBits is the width of a prefilter tag.
const tagBits = 24

// tag is the prefilter tag of one word: 24 bits of a keyed PRF
// (SipHash-2-4, about 15 ns for a word against about 250 ns for
// HMAC-SHA256). Each word of a post is tagged, and only words whose tag
// starts some listed entry are hashed with HMAC, with the word counts that
// entry has. 24 bits collide for unrelated words often enough that a tag
// alone says little; without the key it says nothing.
func (h *Hasher) tag(w []byte) uint32 {
	return uint32(h.prf.sum64(w) >> (64 - tagBits))
}

// tagPacked is tag of a word packed by packWord.
func (h *Hasher) tagPacked(w0, w1 uint64) uint32 {
	return uint32(h.prf.sum64Packed(w0, w1) >> (64 - tagBits))
}

func (h *Hasher) tagString(w string) uint32 { return h.tag([]byte(w)) }

// ID names the key; it is stored beside the hashes it made.
func (h *Hasher) ID() string { return h.id }

// Check is the key's check value.
func (h *Hasher) Check() string { return h.check }

func (h *Hasher) sum(dom byte, data []byte) Digest {
	m := h.pool.Get().(hash.Hash)
	var buf [sha256.Size]byte
	in := make([]byte, 0, 2+len(data))
	in = append(append(in, dom, 0), data...)
	d := digestWith(m, in, buf[:0])
	h.pool.Put(m)
	return d
}

// digestWith hashes in (domain byte, 0, data) with a MAC the caller holds,
// for hot loops.
func digestWith(m hash.Hash, in []byte, scratch []byte) Digest {
	m.Reset()
	m.Write(in)
	var d Digest
	copy(d[:], m.Sum(scratch[:0]))
	return d
}

// Words hashes a word sequence joined by single spaces.
func (h *Hasher) words(w []string) Digest {
	return h.sum(domWords, joinWords(w))
}

func joinWords(w []string) []byte {
	var b []byte
	for i, x := range w {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, x...)
	}
	return b
}

// seqTag is the prefilter tag of a whole word sequence, taken over the
// bytes its HMAC is taken over (domain byte, 0, words joined by spaces):
// the zero byte keeps it apart from the tag of a single word, which holds
// none. Like the word tags it is 24 bits of the keyed PRF: without the
// key it says nothing, and with the key the HMACs say more.
func (h *Hasher) seqTag(in []byte) uint32 { return h.tag(in) }

// maxTailDigits is how many of a phone's last digits its tail tag covers:
// fewer when its national number is shorter.
const maxTailDigits = 6

// tailTag is the prefilter tag of a phone number's last digits, taken
// over the domain byte, 0 and the digits: a digit run in a post is
// parsed with libphonenumber (about 10 to 30 µs) only when the tag of its
// own last digits is listed. A phone written in any format ends with the
// same digits as its E.164 form (libphonenumber only strips or rewrites
// prefixes), so a listed phone is never turned away.
func (h *Hasher) tailTag(digits []byte) uint32 {
	var buf [2 + maxTailDigits]byte
	return h.tag(append(append(buf[:0], domPhone, 0), digits...))
}

func (h *Hasher) wordsSeqTag(w []string) uint32 {
	return h.seqTag(append([]byte{domWords, 0}, joinWords(w)...))
}

// domUnit separates the hashes that say which unit of a listed building
// is the listed one. They are never matched against a post's words: only
// when a post gives a listed street line is its unit hashed, and compared.
const domUnit byte = 'u'

// unitMarker marks a street line (as its canonical words) whose address
// names a unit, so that a post naming a unit there can be told it is
// another one.
func (h *Hasher) unitMarker(line []string) Digest { return h.sum(domUnit, unitLine(line)) }

// unitDigest is the hash of a street line and the unit of it that is
// listed (folded, as unitChain writes it).
func (h *Hasher) unitDigest(line []string, unit string) Digest {
	return h.sum(domUnit, unitInput(unitLine(line), unit))
}

// unitInput is what a unit is hashed over: the building (unitLine), a
// zero byte, the unit. The marker is the building alone.
func unitInput(line []byte, unit string) []byte {
	return append(append(line, 0), unit...)
}

// unitLine is the building a street line names, the same whichever of
// the address's forms a post gives: without a street type at the end
// ("123 main ave" and "123 main" are "123 main"), with the German
// "Straße" and the Dutch "-straat" abbreviated. So an address stores two
// unit hashes, not two for each form. (Two addresses of one person that
// differ only in the street type, "12 Oak St Apt 4" and "12 Oak Ave Apt
// 9", share a building here: a post giving either with unit 9 reads as
// the listed unit.)
func unitLine(w []string) []byte {
	if n := len(w); n >= 3 && streetSuffixes[w[n-1]] {
		w = w[:n-1]
	}
	var b []byte
	for i, x := range w {
		if i > 0 {
			b = append(b, ' ')
		}
		switch {
		case x == "strasse":
			x = "st"
		case len(x) > len("straat") && strings.HasSuffix(x, "straat"):
			x = x[:len(x)-len("aat")]
		}
		b = append(b, x...)
	}
	return b
}
