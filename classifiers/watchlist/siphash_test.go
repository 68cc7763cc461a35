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
