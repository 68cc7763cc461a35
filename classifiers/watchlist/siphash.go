package watchlist

import (
	"encoding/binary"
	"math/bits"
)

// sipKey is a SipHash-2-4 key (Aumasson and Bernstein, 2012): a keyed PRF
// built for short inputs, used for the prefilter tags because a post's every
// word is tagged.
type sipKey struct{ k0, k1 uint64 }

func newSipKey(k []byte) sipKey {
	return sipKey{binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:16])}
}

// sipRound is one SipRound of the state.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// state is SipHash's initial state under k.
func (k sipKey) state() (v0, v1, v2, v3 uint64) {
	return k.k0 ^ 0x736f6d6570736575, k.k1 ^ 0x646f72616e646f6d, k.k0 ^ 0x6c7967656e657261, k.k1 ^ 0x7465646279746573
}

// sipFinal compresses the last block (the message's tail and its length in
// the top byte) and finalizes. The rounds are written out: with the
// finalization's rounds in a loop and each block through a helper of its
// own, a tag cost about 45 instructions more under callgrind (this call
// costs about 13).
func sipFinal(v0, v1, v2, v3, last uint64) uint64 {
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sum64 is SipHash-2-4 of m.
func (k sipKey) sum64(m []byte) uint64 {
	v0, v1, v2, v3 := k.state()
	n := len(m)
	for len(m) >= 8 {
		w := binary.LittleEndian.Uint64(m)
		v3 ^= w
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= w
		m = m[8:]
	}
	// Most words are shorter than a block: load the tail without a loop.
	last := uint64(n) << 56
	switch len(m) {
	case 7:
		last |= uint64(m[6]) << 48
		fallthrough
	case 6:
		last |= uint64(m[5]) << 40
		fallthrough
	case 5:
		last |= uint64(m[4]) << 32
		fallthrough
	case 4:
		last |= uint64(binary.LittleEndian.Uint32(m))
	case 3:
		last |= uint64(m[2]) << 16
		fallthrough
	case 2:
		last |= uint64(m[1]) << 8
		fallthrough
	case 1:
		last |= uint64(m[0])
	}
	return sipFinal(v0, v1, v2, v3, last)
}

// sum64Packed is sum64 of a word of 1 to 15 bytes packed as packWord packs
// it: that packing is SipHash's own block layout (bytes little-endian, the
// length in the top byte of the last block), so the word is not read again.
func (k sipKey) sum64Packed(w0, w1 uint64) uint64 {
	v0, v1, v2, v3 := k.state()
	if w1>>56 < 8 {
		return sipFinal(v0, v1, v2, v3, w0|w1) // w1 is the length alone
	}
	v3 ^= w0
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return sipFinal(v0^w0, v1, v2, v3, w1)
}
