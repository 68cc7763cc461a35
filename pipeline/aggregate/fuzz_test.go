package aggregate

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// fuzzOps turns bytes into a run of the engine: each 4 bytes are one post
// or one advance of the clock, with time moving by -2 h to +40 h (late
// posts, silences, jumps), three sites, targets, backfill, and scores
// from 0 to a little above 1 (invalid ones included).
func fuzzOps(b []byte) []func(*Engine) []Output {
	var ops []func(*Engine) []Output
	// 256 ops of up to a day each are runs of months; longer inputs only
	// slow the fuzzer down.
	b = b[:min(len(b), 1024)]
	now := t0
	seq := 0
	for len(b) >= 4 {
		op, site, dt, sc := b[0], b[1]%3, int8(b[2]), b[3]
		b = b[4:]
		step := time.Duration(dt) * time.Minute
		if dt > 100 {
			step = time.Duration(dt-100) * time.Hour
		}
		if op%4 == 0 {
			now = now.Add(max(step, 0))
			at := now
			ops = append(ops, func(e *Engine) []Output { return e.Advance(at) })
			continue
		}
		at := now.Add(step)
		if step > 0 {
			now = at
		}
		seq++
		p := &msg.Scored{
			Schema: msg.SchemaScored,
			Post: msg.Post{Schema: msg.SchemaPost, ID: fmt.Sprintf("s%d:%d", site, seq), Site: fmt.Sprintf("s%d", site),
				URL: fmt.Sprintf("https://s%d.example/p/%d", site, seq), ThreadID: fmt.Sprint(seq % 5), Published: at,
				Backfill: op&0x10 != 0},
			Scores: map[msg.Signal]float64{msg.Signals[int(op>>5)%3]: float64(sc) / 250},
		}
		if op&0x08 != 0 {
			p.Entities = []msg.Entity{{Kind: msg.EntityPerson, Name: fmt.Sprintf("person %d", op>>6), Target: true}}
		}
		ops = append(ops, func(e *Engine) []Output { return e.Add(p) })
	}
	return ops
}

// FuzzEngine runs the aggregation on any stream of posts and clock moves:
// it never panics, every level and alert it writes is a valid message with
// finite numbers, each alert episode goes firing then resolved and never
// back, one alert has one episode open at a time, and an engine stopped
// half way and restored, from its snapshot or from the per-key saves the
// stage writes, goes on to write exactly what one that ran through writes.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{1, 0, 5, 200, 1, 0, 5, 200, 0, 0, 120, 0})
	burst := []byte{}
	for i := 0; i < 30; i++ {
		burst = append(burst, 1, 0, 60, 40, 1, 1, 0, 30, 0, 0, 30, 0)
	}
	for i := 0; i < 60; i++ {
		burst = append(burst, 9, 0, 0, 240, 0x29, 2, 1, 250)
	}
	f.Add(append(burst, 0, 0, 124, 0, 0, 0, 127, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops := fuzzOps(b)
		whole, err := NewEngine(defaults())
		if err != nil {
			t.Fatal(err)
		}
		var want []Output
		for _, op := range ops {
			want = append(want, op(whole)...)
		}
		checkOutputs(t, want)

		cut := len(ops) / 2
		e1, _ := NewEngine(defaults())
		var got []Output
		for _, op := range ops[:cut] {
			got = append(got, op(e1)...)
		}
		snap, err := e1.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		e2, _ := NewEngine(defaults())
		if err := e2.Restore(snap); err != nil {
			t.Fatalf("restore: %v", err)
		}
		for _, op := range ops[cut:] {
			got = append(got, op(e2)...)
		}
		if g, w := fmt.Sprint(flatten(got)), fmt.Sprint(flatten(want)); g != w {
			t.Fatalf("restored from a snapshot at op %d of %d, the outputs differ:\n got %s\nwant %s", cut, len(ops), g, w)
		}

		// As the stage does it: after each op only the keys that changed
		// are saved, and a new engine starts from those saves, the clock
		// and the time quiet keys were moved to.
		saved := map[string][]byte{}
		e3, _ := NewEngine(defaults())
		got = got[:0]
		for _, op := range ops[:cut] {
			got = append(got, op(e3)...)
			saveDirty(t, e3, saved)
		}
		e4, _ := NewEngine(defaults())
		if err := e4.RestoreKeys(saved, e3.Clock(), e3.Rolled()); err != nil {
			t.Fatalf("restore keys: %v", err)
		}
		for _, op := range ops[cut:] {
			got = append(got, op(e4)...)
		}
		if g, w := fmt.Sprint(flatten(got)), fmt.Sprint(flatten(want)); g != w {
			t.Fatalf("restored from per-key saves at op %d of %d, the outputs differ:\n got %s\nwant %s", cut, len(ops), g, w)
		}
	})
}

func checkOutputs(t *testing.T, outs []Output) {
	t.Helper()
	finite := func(what string, vs ...float64) {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s holds %v", what, v)
			}
		}
	}
	status := map[string]string{} // fingerprint -> last status
	open := map[string]string{}   // alert identity -> open episode's fingerprint
	for _, o := range outs {
		if l := o.Level; l != nil {
			if err := l.Validate(); err != nil {
				t.Fatalf("level %+v: %v", l, err)
			}
			finite("level", l.Level, l.Baseline, l.Score)
			continue
		}
		a := o.Alert
		if err := a.Validate(); err != nil {
			t.Fatalf("alert %+v: %v", a, err)
		}
		finite("alert", a.Level, a.Baseline)
		id := a.Labels["alertname"] + "|" + a.Labels["site"] + "|" + a.Labels["target"] + "|" + a.Labels["rule"]
		switch prev := status[a.Fingerprint]; {
		case prev == msg.StatusResolved:
			t.Fatalf("episode %s went on after it resolved (%s)", a.Fingerprint, a.Status)
		case a.Status == msg.StatusFiring && prev == "":
			if fp, ok := open[id]; ok {
				t.Fatalf("alert %s opened episode %s while %s was open", id, a.Fingerprint, fp)
			}
			open[id] = a.Fingerprint
		case a.Status == msg.StatusResolved:
			if prev != msg.StatusFiring {
				t.Fatalf("episode %s resolved without firing", a.Fingerprint)
			}
			delete(open, id)
		}
		status[a.Fingerprint] = a.Status
	}
}
