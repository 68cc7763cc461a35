package aggregate

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bench"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// benchPosts makes n scored posts over sites, one every 10 ms of event
// time (100 posts/s): one in ten threatening and naming one of targets
// targets, the rest benign. Steady, so few alerts: the step is measured,
// not alert building.
func benchPosts(n, sites, targets int) []*msg.Scored {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	out := make([]*msg.Scored, n)
	for i := range out {
		s := &msg.Scored{
			Schema: msg.SchemaScored,
			Post: msg.Post{Schema: msg.SchemaPost, ID: fmt.Sprintf("p%d", i), Site: fmt.Sprintf("site-%d", i%sites),
				Published: t0.Add(time.Duration(i) * 10 * time.Millisecond)},
			Scores: map[msg.Signal]float64{msg.SignalDoxxing: 0.1, msg.SignalSwatting: 0.05, msg.SignalThreat: 0.2},
		}
		if i%10 == 0 {
			s.Scores[msg.SignalThreat] = 0.8
			s.Entities = []msg.Entity{{Kind: msg.EntityPerson, Name: "x", Ref: fmt.Sprintf("person %d", (i/10)%targets), Target: true}}
		}
		out[i] = s
	}
	return out
}

// BenchmarkEngineAdd measures the level and spike step alone: Add plus
// the per-post Advance a live stage or replay does, on one goroutine.
func BenchmarkEngineAdd(b *testing.B) {
	for _, tc := range []struct{ sites, targets int }{{50, 1000}, {500, 20000}} {
		b.Run(fmt.Sprintf("sites=%d/targets=%d", tc.sites, tc.targets), func(b *testing.B) {
			posts := benchPosts(200000, tc.sites, tc.targets)
			e, err := NewEngine(config.Default().Aggregate)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := bench.CPUTime()
			for i := 0; i < b.N; i++ {
				p := posts[i%len(posts)]
				if i >= len(posts) {
					// Later laps move on in event time.
					q := *p
					q.Post.Published = p.Post.Published.Add(time.Duration(i/len(posts)) * 2000 * time.Second)
					p = &q
				}
				e.Advance(p.Post.Published)
				e.Add(p)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
			// On a shared machine wall time includes other processes;
			// this process's CPU time (GC included) does not.
			b.ReportMetric(float64(b.N)/(bench.CPUTime()-cpu0).Seconds(), "posts/cpu-s")
		})
	}
}

// BenchmarkMemoryPerKey reports the heap held per tracked site and target.
func BenchmarkMemoryPerKey(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e, _ := NewEngine(config.Default().Aggregate)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		posts := benchPosts(60000, 1000, 20000)
		for _, p := range posts {
			e.Add(p)
		}
		posts = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		sites, targets := e.Keys()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(sites+targets), "B/key")
		b.ReportMetric(float64(sites), "sites")
		b.ReportMetric(float64(targets), "targets")
		runtime.KeepAlive(e)
	}
}

// BenchmarkCheckpointPerStep measures what the stage writes to Redis at
// each step: 1,000 sites and 5,000 targets post in the first hour, then
// for a day only 10 sites go on posting, as most of a large deployment is
// quiet most of the time. Each op is one step of event time: an Advance,
// the posts of that step, and the encoding of every key Dirty names; the
// first three hours after the burst run before the measured steps.
func BenchmarkCheckpointPerStep(b *testing.B) {
	cfg := config.Default().Aggregate
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	post := func(i int, site string, at time.Time, ref string) *msg.Scored {
		s := &msg.Scored{Schema: msg.SchemaScored,
			Post:   msg.Post{Schema: msg.SchemaPost, ID: fmt.Sprintf("p%d", i), Site: site, Published: at},
			Scores: map[msg.Signal]float64{msg.SignalThreat: 0.8}}
		if ref != "" {
			s.Entities = []msg.Entity{{Kind: msg.EntityPerson, Name: "x", Ref: ref, Target: true}}
		}
		return s
	}
	e, err := NewEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 6000; i++ {
		ref := ""
		if i < 5000 {
			ref = fmt.Sprintf("person %d", i)
		}
		e.Add(post(i, fmt.Sprintf("site-%d", i%1000), t0.Add(time.Duration(i)*600*time.Millisecond), ref))
	}
	e.ClearDirty()
	now := t0.Add(time.Hour)
	var keys, bytes, steps int
	seq := 6000
	// The first hours after the burst change every key (windows empty,
	// zero levels go out, idle targets are evicted): measured apart.
	warm := int(3 * time.Hour / cfg.Step)
	b.ResetTimer()
	for i := 0; i < b.N+warm; i++ {
		if i == warm {
			keys, bytes, steps = 0, 0, 0
		}
		now = now.Add(cfg.Step)
		e.Advance(now)
		for s := 0; s < 10; s++ {
			seq++
			e.Add(post(seq, fmt.Sprintf("site-%d", s), now.Add(-time.Minute), ""))
		}
		for _, name := range e.Dirty() {
			st, ok, err := e.KeyState(name)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				keys++
				bytes += len(st)
			}
		}
		e.ClearDirty()
		steps++
	}
	b.ReportMetric(float64(keys)/float64(steps), "keys/step")
	b.ReportMetric(float64(bytes)/float64(steps)/1024, "KiB/step")
}

// BenchmarkLateBacklog measures a backlog read late, as a scraper back
// from a five-hour outage reads it: 50 sites with a week of history at
// 20 posts an hour, then five hours of each site's posts (100 an hour,
// enough to take every hour past the excess a spike needs, so each late
// post is judged against its hour's baseline) in random order, all
// behind the sites' windows. Each op is one late post.
func BenchmarkLateBacklog(b *testing.B) {
	const sites = 50
	cfg := config.Default().Aggregate
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	now := start.Add(7*24*time.Hour + 6*time.Hour)
	rng := rand.New(rand.NewPCG(5, 5))
	var backlog []*msg.Scored
	for s := 0; s < sites; s++ {
		for i := 0; i < 5*100; i++ {
			at := now.Add(-6*time.Hour + time.Duration(rng.Int64N(int64(5*time.Hour))))
			backlog = append(backlog, &msg.Scored{Schema: msg.SchemaScored,
				Post:   msg.Post{Schema: msg.SchemaPost, ID: fmt.Sprintf("late-%d-%d", s, i), Site: fmt.Sprintf("site%d", s), Published: at, Fetched: now},
				Scores: map[msg.Signal]float64{msg.SignalThreat: 0.7}})
		}
	}
	rng.Shuffle(len(backlog), func(i, j int) { backlog[i], backlog[j] = backlog[j], backlog[i] })
	fresh := func() *Engine {
		e, err := NewEngine(cfg)
		if err != nil {
			b.Fatal(err)
		}
		for t := start; t.Before(now.Add(-6 * time.Hour)); t = t.Add(3 * time.Minute) {
			e.Advance(t)
			for s := 0; s < sites; s++ {
				e.Add(&msg.Scored{Schema: msg.SchemaScored,
					Post:   msg.Post{Schema: msg.SchemaPost, ID: fmt.Sprintf("p-%d-%d", s, t.Unix()), Site: fmt.Sprintf("site%d", s), Published: t, Fetched: t},
					Scores: map[msg.Signal]float64{msg.SignalThreat: 0.7}})
			}
		}
		e.Advance(now)
		return e
	}
	e := fresh()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%len(backlog) == 0 {
			b.StopTimer()
			e = fresh()
			b.StartTimer()
		}
		e.Add(backlog[i%len(backlog)])
	}
	b.StopTimer()
	if e.Stats().Late == 0 {
		b.Fatal("no post was late")
	}
}
