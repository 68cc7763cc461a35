package watchlist

import "testing"

func TestSipHashMatchesTheReferenceVectors(t *testing.T) {
	key := make([]byte, 16)
	for i := range key {
		key[i] = byte(i)
	}
	k := newSipKey(key)
	// From the SipHash paper's reference implementation (vectors.h):
	// key 00..0f, messages 00..(n-1).
	want := map[int]uint64{0: 0x726fdb47dd0e0e31, 1: 0x74f839c593dc67fd, 8: 0x93f5f5799a932462, 15: 0xa129ca6149be45e5}
	for n, w := range want {
		m := make([]byte, n)
		for i := range m {
			m[i] = byte(i)
		}
		if got := k.sum64(m); got != w {
			t.Errorf("len %d: %#x, want %#x", n, got, w)
		}
	}
}

// sipRef is SipHash-2-4 written out plainly (the message padded into
// blocks first), to check the unrolled tail of sum64 at every length.
func sipRef(k sipKey, m []byte) uint64 {
	v := [4]uint64{k.k0 ^ 0x736f6d6570736575, k.k1 ^ 0x646f72616e646f6d, k.k0 ^ 0x6c7967656e657261, k.k1 ^ 0x7465646279746573}
	rotl := func(x uint64, b uint) uint64 { return x<<b | x>>(64-b) }
	round := func() {
		v[0] += v[1]
		v[1] = rotl(v[1], 13) ^ v[0]
		v[0] = rotl(v[0], 32)
		v[2] += v[3]
		v[3] = rotl(v[3], 16) ^ v[2]
		v[0] += v[3]
		v[3] = rotl(v[3], 21) ^ v[0]
		v[2] += v[1]
		v[1] = rotl(v[1], 17) ^ v[2]
		v[2] = rotl(v[2], 32)
	}
	padded := append(append([]byte(nil), m...), make([]byte, 8-len(m)%8)...)
	padded[len(padded)-1] = byte(len(m))
	for i := 0; i < len(padded); i += 8 {
		var w uint64
		for j := 7; j >= 0; j-- {
			w = w<<8 | uint64(padded[i+j])
		}
		v[3] ^= w
		round()
		round()
		v[0] ^= w
	}
	v[2] ^= 0xff
	for range 4 {
		round()
	}
	return v[0] ^ v[1] ^ v[2] ^ v[3]
}

func TestSipHashAgreesWithAPlainVersionAtEveryLength(t *testing.T) {
	k := sipKey{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	if got := sipRef(k, []byte{0}); got != 0x74f839c593dc67fd {
		t.Fatalf("plain version is wrong: %#x", got)
	}
	for n := 0; n <= 40; n++ {
		m := make([]byte, n)
		for i := range m {
			m[i] = byte(i*7 + 3)
		}
		if got, want := k.sum64(m), sipRef(k, m); got != want {
			t.Errorf("len %d: %#x, want %#x", n, got, want)
		}
	}
}

func TestSipHashOfAPackedWordIsSipHashOfTheWord(t *testing.T) {
	k := sipKey{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	for n := 1; n <= 15; n++ {
		for seed := range 20 {
			m := make([]byte, n)
			for i := range m {
				m[i] = byte(i*31 + seed*17 + 1)
			}
			w0, w1, ok := packWord(m)
			if !ok {
				t.Fatalf("len %d does not pack", n)
			}
			if got, want := k.sum64Packed(w0, w1), sipRef(k, m); got != want {
				t.Errorf("len %d: %#x, want %#x", n, got, want)
			}
		}
	}
}
