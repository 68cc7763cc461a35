package main

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bench"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// e2eFirst and e2eSyllables make fictional people, a different one for
// every alerting post, so that each post opens an alert episode of its own.
var e2eFirst = []string{"Alba", "Brent", "Cora", "Dane", "Edie", "Fitz", "Gwen", "Hale", "Iris", "Jory", "Kira", "Lars"}
var e2eSyllables = []string{"bar", "ven", "tor", "mel", "dun", "ris", "kal", "fen", "lor", "mag"}

// e2eName is the i-th fictional person (unique for i < 12,000).
func e2eName(i int) string {
	last := e2eSyllables[i%10] + e2eSyllables[(i/10)%10] + e2eSyllables[(i/100)%10]
	return e2eFirst[(i/1000)%len(e2eFirst)] + " " + strings.ToUpper(last[:1]) + last[1:]
}

// benchE2E measures what on-call feels: the delay from a post's arrival on
// the posts topic to its alert on the alerts topic, through the real
// classify and aggregate stages, at a steady 1,000 posts/s of mostly
// ordinary chatter with a few posts that dox and call for swatting a named
// person (which the default override rule pages on at once).
func benchE2E(ctx context.Context, b *benchEnv) ([]bench.Result, error) {
	p := b.proc
	rate := 1000
	total := min(b.n, 30*rate)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	var running sync.WaitGroup
	// Stop the stages before the process closes its connections.
	defer running.Wait()
	defer cancel()
	for _, s := range stages {
		if s.name == "classify" || s.name == "aggregate" {
			running.Add(1)
			go func() {
				defer running.Done()
				if err := s.run(ctx, p); err != nil && ctx.Err() == nil {
					errc <- fmt.Errorf("%s: %w", s.name, err)
				}
			}()
		}
	}
	// Read the alerts topic from its end as it is now.
	alerts := p.topic(p.cfg.Topics.Alerts)
	parts, err := p.bus.Partitions(ctx, alerts)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	for _, part := range parts {
		r := p.bus.PartitionReader(alerts, part)
		if err := r.SetOffset(kafka.LastOffset); err != nil {
			return nil, err
		}
		go func() {
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				got := time.Now()
				a, err := msg.Decode[msg.Alert](m.Value)
				if err != nil || a.Status != msg.StatusFiring {
					continue
				}
				// An alert's latency is from the newest alerting post it
				// carries: the one that made it fire.
				mu.Lock()
				var newest time.Time
				for _, ev := range a.Evidence {
					if t0, ok := sent[ev.PostID]; ok {
						newest = later(newest, t0)
						delete(sent, ev.PostID)
					}
				}
				if !newest.IsZero() {
					lat = append(lat, got.Sub(newest))
				}
				mu.Unlock()
			}
		}()
	}
	// Let the stages join their groups before the clock starts.
	time.Sleep(3 * time.Second)
	prod := pipeline.NewProducer(p.bus, "bench-e2e", nil, p.log)
	defer prod.Close()
	posts := p.topic(p.cfg.Topics.Posts)
	// One batch every 100 ms: a synchronous send per batch keeps the rate
	// even when one send takes tens of milliseconds.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	perTick := rate / 10
	triggers := 0
	// CPU and allocations are the whole process's (both stages, the
	// embedded broker, this producer), from the first post until the last
	// alert is in: what 1,000 posts/s cost the machine.
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := bench.CPUTime()
	start := time.Now()
	for i := 0; i < total; {
		select {
		case err := <-errc:
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		var outs []pipeline.Output
		now := time.Now().UTC()
		for k := 0; k < perTick && i < total; k, i = k+1, i+1 {
			post := &msg.Post{Site: fmt.Sprintf("e2e-site-%d", i%8), SitePostID: fmt.Sprint(i), Engine: "bench", Published: now, Fetched: now}
			if i%50 == 25 {
				post.Text = fmt.Sprintf("%s lives at %d Maple Street, Springfield, her number is 555-01%02d. Someone call in a hostage situation at her house tonight and send SWAT.",
					e2eName(triggers), 100+triggers, triggers%100)
				triggers++
			} else {
				post.Text = "anyone up for ranked tonight? the new patch nerfed the shotgun again and the map rotation is worse than last season"
			}
			post.Normalize()
			outs = append(outs, pipeline.Output{Topic: posts, Msg: post})
		}
		if err := prod.Send(ctx, outs...); err != nil {
			return nil, err
		}
		mu.Lock()
		for _, o := range outs {
			if po := o.Msg.(*msg.Post); po.Text[0] != 'a' {
				sent[po.ID] = time.Now()
			}
		}
		mu.Unlock()
	}
	elapsed := time.Since(start)
	// Give the last alerts time to arrive.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= triggers {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpu := bench.CPUTime() - cpu0
	runtime.ReadMemStats(&ms1)
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return nil, fmt.Errorf("no alert arrived for any of %d alerting posts", triggers)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	return []bench.Result{{
		Name: "e2e posts->alerts", Messages: total, Elapsed: elapsed,
		AllocsPerOp: float64(ms1.Mallocs-ms0.Mallocs) / float64(total),
		BytesPerOp:  float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(total),
		CPUPerOp:    cpu / time.Duration(total),
		Note: fmt.Sprintf("(%d posts/s offered; %d alerts for %d alerting posts; latency p50 %s, p90 %s, p99 %s, max %s)",
			rate, len(lat), triggers, q(0.5).Round(time.Millisecond), q(0.9).Round(time.Millisecond), q(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond)),
	}}, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
