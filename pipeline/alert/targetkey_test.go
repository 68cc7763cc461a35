package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// A target label goes to every receiver and console user. Unkeyed, anyone
// holding one could confirm a guessed name: hash "jane roe" as the code
// does and compare. Keyed, the label is neither that hash nor another
// key's, and stays stable under one key.
func TestAKeyedTargetLabelCannotBeTestedWithoutTheKey(t *testing.T) {
	const ref = "jane roe"
	h := sha256.Sum256([]byte("threatwatch-target\x00" + ref))
	guessed := "tgt-" + hex.EncodeToString(h[:8])
	if TargetLabel(ref) != guessed || (TargetLabeler{}).Label(ref) != guessed {
		t.Fatalf("the unkeyed label is not the plain hash: the test checks nothing")
	}
	a := NewTargetLabeler("k1-0123456789abcdef")
	b := NewTargetLabeler("k2-0123456789abcdef")
	if got := a.Label(ref); got == guessed || got == b.Label(ref) || len(got) != len(guessed) {
		t.Errorf("keyed label %q: want one of the same form, unlike the plain hash %q and another key's %q", got, guessed, b.Label(ref))
	}
	if a.Label(ref) != NewTargetLabeler("k1-0123456789abcdef").Label(ref) || a.Label("") != "" {
		t.Error("a keyed label is not stable, or an empty ref has one")
	}
}
