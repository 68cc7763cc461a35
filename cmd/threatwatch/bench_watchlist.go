package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/classifiers/watchlist"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bench"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// benchPersons is the size of the list the target names.
const benchPersons = 10000

// benchWatchlist measures what a watchlist of 10,000 protected persons
// costs the classify stage, on the production path: the list is imported
// into Redis by the admin code under a namespace of its own and a random
// key (never printed), loaded by the classify stage's loader, and the same
// posts (the classify benchmark's mix, one in 50 with a listed person's
// details written as a dox would) are scored without and with it, alone
// and as the posts->scored stage. The namespace is deleted at the end.
func benchWatchlist(ctx context.Context, b *benchEnv) ([]bench.Result, error) {
	return benchWatchlistN(ctx, b, benchPersons)
}

func benchWatchlistN(ctx context.Context, b *benchEnv, persons int) (res []bench.Result, err error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	wl := b.proc.cfg.Watchlist
	wl.Keys = []config.WatchlistKey{{ID: "bench", Secret: config.NewSecret(hex.EncodeToString(secret))}}
	wl.Namespace = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if len(wl.PhoneRegions) == 0 {
		wl.PhoneRegions = []string{"US"}
	}
	list := watchlist.NewListStore(b.proc.store, wl.Namespace)
	defer func() {
		if perr := list.Purge(context.WithoutCancel(ctx)); perr != nil && err == nil {
			err = perr
		}
	}()

	f := watchlist.Synthetic(persons, 1)
	admin, err := watchlist.NewAdmin(wl, b.proc.store)
	if err != nil {
		return nil, err
	}
	var sum watchlist.Summary
	imp, err := measure("watchlist import", persons, func() (err error) {
		sum, err = admin.Import(ctx, f, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot import the synthetic list: %w", err)
	}
	imp.Note = fmt.Sprintf("(%d persons, %d hashes written to Redis; a msg is a person)", sum.Persons, sum.Hashes)

	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var m *watchlist.Matcher
	var heap0, heap1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heap0)
	load, err := measure("watchlist load", persons, func() (err error) {
		m, err = watchlist.Open(lctx, wl, b.proc.store, slog.New(slog.DiscardHandler), nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot load the synthetic list: %w", err)
	}
	runtime.GC()
	runtime.ReadMemStats(&heap1)
	st := m.Stats()
	load.Note = fmt.Sprintf("(%d persons, %d hashes; the loaded list holds %.1f MB of heap)", st.Persons, st.Hashes,
		float64(int64(heap1.HeapAlloc)-int64(heap0.HeapAlloc))/1e6)

	posts := watchlist.WithDoxes(f, classifiers.SamplePosts(min(b.n, 50000), 3, 7), 50)
	without, err := classifiers.New(b.proc.cfg.Classify)
	if err != nil {
		return nil, err
	}
	with, err := classifiers.New(b.proc.cfg.Classify, classifiers.WithEnrichers(m))
	if err != nil {
		return nil, err
	}
	aloneWithout, aloneWith, err := scorePaired(ctx, posts, without, with)
	if err != nil {
		return nil, err
	}
	stageWithout, stageWith, err := stagePaired(ctx, b, posts, without, with)
	if err != nil {
		return nil, err
	}
	runtime.KeepAlive(m)
	return []bench.Result{imp, load, aloneWithout, aloneWith, stageWithout, stageWith}, nil
}

// scorePaired scores posts alone (one goroutine, no broker) without and
// with the watchlist, in alternating blocks of 1,024 posts: separate runs
// seconds apart differ by more than the watchlist costs on a shared
// machine, while the two halves of a block run within milliseconds.
func scorePaired(ctx context.Context, posts []*msg.Post, without, with *classifiers.Classifier) (bench.Result, bench.Result, error) {
	const block = 1024
	var wall, cpu [2]time.Duration
	var mallocs, bytes [2]uint64
	var ratios []float64
	var ms0, ms1 runtime.MemStats
	cs := [2]*classifiers.Classifier{without, with}
	for i := 0; i < len(posts); i += block {
		part := posts[i:min(i+block, len(posts))]
		var w [2]time.Duration
		for _, k := range pairOrder(i / block) {
			runtime.ReadMemStats(&ms0)
			c0, t0 := bench.CPUTime(), time.Now()
			for _, p := range part {
				if _, err := cs[k].Score(ctx, p); err != nil {
					return bench.Result{}, bench.Result{}, err
				}
			}
			w[k] = time.Since(t0)
			wall[k] += w[k]
			cpu[k] += bench.CPUTime() - c0
			runtime.ReadMemStats(&ms1)
			mallocs[k] += ms1.Mallocs - ms0.Mallocs
			bytes[k] += ms1.TotalAlloc - ms0.TotalAlloc
		}
		if len(part) == block {
			ratios = append(ratios, float64(w[1])/float64(w[0]))
		}
	}
	n := len(posts)
	var r [2]bench.Result
	for k, name := range []string{"score alone, no watchlist", "score alone, watchlist"} {
		r[k] = bench.Result{Name: name, Messages: n, Elapsed: wall[k], CPUPerOp: cpu[k] / time.Duration(n),
			AllocsPerOp: float64(mallocs[k]) / float64(n), BytesPerOp: float64(bytes[k]) / float64(n)}
	}
	r[1].Note = addedNote(r[1], r[0], ratios)
	return r[0], r[1], nil
}

// stagePaired runs the classify stage without and with the watchlist (in
// alternating order) on each eighth of posts in turn, on topics of its own
// each time, and adds up the runs: like scorePaired, so that a change in
// the machine's speed hits both alike.
func stagePaired(ctx context.Context, b *benchEnv, posts []*msg.Post, without, with *classifiers.Classifier) (bench.Result, bench.Result, error) {
	const rounds = 8
	var ratios []float64
	var cpu [2]time.Duration
	var mallocs, bytes [2]float64
	sum := [2]bench.Result{{Name: "classify stage, no watchlist"}, {Name: "classify stage, watchlist"}}
	step := (len(posts) + rounds - 1) / rounds
	cs := [2]*classifiers.Classifier{without, with}
	for i := 0; i < len(posts); i += step {
		part := posts[i:min(i+step, len(posts))]
		var per [2]time.Duration
		for _, k := range pairOrder(i / step) {
			r, err := classifyStage(ctx, b, part, cs[k], sum[k].Name)
			if err != nil {
				return bench.Result{}, bench.Result{}, err
			}
			sum[k].Messages += r.Messages
			sum[k].Elapsed += r.Elapsed
			cpu[k] += r.CPUPerOp * time.Duration(r.Messages)
			mallocs[k] += r.AllocsPerOp * float64(r.Messages)
			bytes[k] += r.BytesPerOp * float64(r.Messages)
			per[k] = r.CPUPerOp
		}
		if per[0] > 0 {
			ratios = append(ratios, float64(per[1])/float64(per[0]))
		}
	}
	for k := range sum {
		n := max(sum[k].Messages, 1)
		sum[k].CPUPerOp = cpu[k] / time.Duration(n)
		sum[k].AllocsPerOp = mallocs[k] / float64(n)
		sum[k].BytesPerOp = bytes[k] / float64(n)
	}
	sum[1].Note = addedNote(sum[1], sum[0], ratios)
	return sum[0], sum[1], nil
}

// pairOrder is the order in which pair n runs without (0) and with (1) the
// watchlist: it alternates, since whichever runs second after the switch
// finds the caches holding the other's code and tables, and the first
// inherits them from the last pair; a fixed order would charge that to one
// side only.
func pairOrder(n int) [2]int {
	if n%2 == 0 {
		return [2]int{0, 1}
	}
	return [2]int{1, 0}
}

// addedNote says how much more with took than without: in CPU per post
// over the whole run, and as the median of the paired ratios, which a
// drifting machine moves least.
func addedNote(with, without bench.Result, ratios []float64) string {
	if without.CPUPerOp <= 0 {
		return ""
	}
	d := with.CPUPerOp - without.CPUPerOp
	note := fmt.Sprintf("(watchlist adds %.1f µs CPU a post, %+.1f%%", float64(d.Nanoseconds())/1e3, 100*float64(d)/float64(without.CPUPerOp))
	if len(ratios) > 0 {
		slices.Sort(ratios)
		note += fmt.Sprintf("; median of %d pairs %+.1f%%", len(ratios), 100*(ratios[len(ratios)/2]-1))
	}
	return note + ")"
}
