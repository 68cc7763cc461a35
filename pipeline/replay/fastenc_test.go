package replay

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestFastLevelEncoderMatchesEncodingJSON(t *testing.T) {
	var levels []*msg.Level
	// Every level of two scenario replays...
	for _, name := range []string{"campaign", "late"} {
		r := replayFiles(t, []string{scenario(name)}, nil)
		for _, line := range bytes.Split(bytes.TrimSpace(r.levels), []byte("\n")) {
			l, err := msg.Decode[msg.Level](line)
			if err != nil {
				t.Fatal(err)
			}
			levels = append(levels, l)
		}
	}
	if len(levels) < 100 {
		t.Fatalf("only %d levels to compare", len(levels))
	}
	// ...and awkward values.
	at := time.Date(2026, 3, 2, 1, 2, 3, 4500, time.FixedZone("x", 3600))
	levels = append(levels,
		&msg.Level{Site: "a<b>&\"c\"\\ \u2028\u2029 \x01 \xff é 😀", Target: "t", Time: at, Level: 1e-7, Baseline: 1e21, Score: -0.000001,
			Name: "n", Signals: map[msg.Signal]float64{"zz": 1, msg.SignalThreat: 123456789.125, msg.SignalDoxxing: 5e-324},
			Posts: -3, Stale: true, Contributors: []msg.Contributor{{PostID: "p", URL: "https://x/?a=1&b=<2>", Thread: "T\n", Scores: map[msg.Signal]float64{}, Snippet: "\t", At: at, Weight: math.MaxFloat64}}},
		&msg.Level{Schema: msg.SchemaLevel, Site: "", Time: time.Time{}, Level: math.Copysign(0, -1)},
		&msg.Level{Site: "nan", Time: at, Level: math.NaN()},
		&msg.Level{Site: "year", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	)
	for i, l := range levels {
		c := *l
		want, werr := msg.Encode(&c)
		c2 := *l
		got, gerr := appendLevelCached(nil, &c2, nil)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("level %d: encoding/json error %v, fast error %v", i, werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("level %d differs:\n json: %s\n fast: %s", i, want, got)
		}
	}
}
