package classifiers

import (
	"bytes"
	"flag"
	"hash/crc32"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "retrain model/weights.json from testdata/labelled.jsonl")

// labelledPath holds the project's own labelled posts: the training data
// of the embedded model (three quarters) and its held-out check (the rest).
const labelledPath = "testdata/labelled.jsonl"

// holdout reports whether a labelled post is kept out of training. The
// split is by a hash of the id, so adding cases never reshuffles it.
func holdout(id string) bool { return crc32.ChecksumIEEE([]byte(id))%4 == 0 }

func loadLabelled(t testing.TB) (train, held []LabelledPost) {
	t.Helper()
	f, err := os.Open(labelledPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	posts, bad, err := ReadLabelled(f, labelledPath)
	if err != nil || len(bad) > 0 {
		t.Fatalf("cannot read %s: %v %v", labelledPath, err, bad)
	}
	for _, p := range posts {
		if holdout(p.ID) {
			held = append(held, p)
		} else {
			train = append(train, p)
		}
	}
	return train, held
}

// TrainModel retrains the model from the training split. `go generate`
// and `go test -run TestModelIsReproducible -update` call it.
func trainModel(t testing.TB) []byte {
	train, _ := loadLabelled(t)
	m, err := Train(train, TrainOptions{Version: "1", Data: labelledPath + " (crc32(id)%4 != 0)"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestModelIsReproducible(t *testing.T) {
	b := trainModel(t)
	if *update {
		if err := os.WriteFile("model/weights.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(b, embeddedWeights) {
		t.Fatalf("model/weights.json is not what training on %s gives; run go test -run TestModelIsReproducible -update", labelledPath)
	}
}
