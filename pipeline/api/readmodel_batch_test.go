package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// backlog returns n levels in time order, as the level stage reads them
// after an outage: at each 5 s step a level for each of sites sites and
// targets targets (spread over the sites), a stale step now and then and
// a scraper's health signal once a site's step count says so.
func backlog(start time.Time, n, sites, targets int) []*msg.Level {
	out := make([]*msg.Level, 0, n)
	for step := 0; len(out) < n; step++ {
		t := start.Add(time.Duration(step) * 5 * time.Second)
		for i := 0; i < sites+targets && len(out) < n; i++ {
			site := fmt.Sprintf("site-%03d", i%sites)
			lv := float64((step*7 + i*3) % 13)
			l := &msg.Level{Schema: msg.SchemaLevel, Site: site, Time: t, Level: lv, Baseline: 3, Score: lv / 3, Name: "normal"}
			if lv > 9 {
				l.Name = "high|severe" // a separator in a name must be cleaned
			}
			if i >= sites {
				l.Target = fmt.Sprintf("handle-%04d", i-sites)
			} else {
				l.Signals = map[msg.Signal]float64{msg.SignalThreat: lv / 13}
				l.Posts = step % 4
				if l.Posts > 0 {
					l.Contributors = []msg.Contributor{{PostID: fmt.Sprintf("p%d", step), ThreadID: "t1", Snippet: "[name] posted", At: t}}
				}
			}
			if (step+i)%11 == 0 {
				l.Stale = true
				l.Posts, l.Contributors = 0, nil
			}
			out = append(out, l)
			if i < sites && (step+i)%17 == 0 && len(out) < n {
				h := &msg.Level{Schema: msg.SchemaLevel, Site: site, Time: t.Add(time.Second), Name: "scraper_unreachable", Stale: true}
				if (step+i)%34 == 0 {
					h.Name, h.Stale = "scraper_ok", false
				}
				out = append(out, h)
			}
		}
	}
	return out
}

// countTrips counts the round trips s makes to Redis: a command or a
// pipeline each count one.
func countTrips(s *store.Store) *atomic.Int64 {
	var n atomic.Int64
	s.AddHook(tripHook{&n})
	return &n
}

type tripHook struct{ n *atomic.Int64 }

func (h tripHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h tripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h tripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkApplyLevels applies a backlog of levels of 50 sites and 500
// targets, in time order, on a real redis-server.
func BenchmarkApplyLevels(b *testing.B) {
	srv := redistest.Start(b)
	now := time.Now().UTC().Truncate(time.Minute)
	run := func(b *testing.B, apply func(ctx context.Context, m *ReadModel, ls []*msg.Level) error) {
		st := redistest.Connect(b, srv)
		m := NewReadModel(st, 48*time.Hour, 30*24*time.Hour, 24*time.Hour)
		m.now = func() time.Time { return now }
		ls := backlog(now.Add(-24*time.Hour), b.N, 50, 500)
		trips := countTrips(st)
		b.ReportAllocs()
		b.ResetTimer()
		if err := apply(context.Background(), m, ls); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "levels/s")
		b.ReportMetric(float64(trips.Load())/float64(b.N), "trips/level")
	}
	b.Run("one by one", func(b *testing.B) {
		run(b, func(ctx context.Context, m *ReadModel, ls []*msg.Level) error {
			for _, l := range ls {
				if _, err := m.ApplyLevel(ctx, l); err != nil {
					return err
				}
			}
			return nil
		})
	})
	b.Run("in batches of 1000", func(b *testing.B) {
		run(b, func(ctx context.Context, m *ReadModel, ls []*msg.Level) error {
			for chunk := range slices.Chunk(ls, 1000) {
				if _, err := m.ApplyLevels(ctx, chunk); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// dumpKeys returns every key s's prefix holds, without the prefix, with
// its value as Redis returns it: hashes as sorted field=value lines,
// sorted sets in rank order with scores; and whether it expires.
func dumpKeys(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := s.Keys(ctx, s.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		var v string
		switch typ := s.Type(ctx, k).Val(); typ {
		case "string":
			v = s.Get(ctx, k).Val()
		case "hash":
			var lines []string
			for f, fv := range s.HGetAll(ctx, k).Val() {
				lines = append(lines, f+"="+fv)
			}
			slices.Sort(lines)
			v = strings.Join(lines, "\n")
		case "zset":
			for _, z := range s.ZRangeWithScores(ctx, k, 0, -1).Val() {
				v += fmt.Sprintf("%v %v\n", z.Score, z.Member)
			}
		default:
			t.Fatalf("key %s is a %s: teach dumpKeys to read it", k, typ)
		}
		if s.TTL(ctx, k).Val() > 0 {
			v += "\n(expires)"
		}
		out[strings.TrimPrefix(k, s.Prefix)] = v
	}
	return out
}

func TestApplyLevelsStoresWhatApplyingEachInTurnStores(t *testing.T) {
	srv := redistest.Start(t)
	// Fixed, so the backlog (about 8 minutes of steps) crosses 11:00,
	// where the new hourly buckets trim the raw tier before 11:00.
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inOrder := backlog(now.Add(-63*time.Minute), 3000, 7, 20)
	// Late and repeated levels: shuffled within windows of 40, a tenth
	// sent twice.
	rng := rand.New(rand.NewPCG(1, 2))
	var shuffled []*msg.Level
	for w := range slices.Chunk(inOrder, 40) {
		w = slices.Clone(w)
		rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
		for _, l := range w {
			shuffled = append(shuffled, l)
			if rng.IntN(10) == 0 {
				shuffled = append(shuffled, l)
			}
		}
	}
	cases := []struct {
		name   string
		levels []*msg.Level
		// before is applied one by one to both read models first.
		before []*msg.Level
		flush  bool // Redis forgets its scripts before the batches
	}{
		{name: "levels in time order", levels: inOrder},
		{name: "late and repeated levels", levels: shuffled},
		{name: "onto a read model already holding later levels", levels: inOrder[:2000], before: inOrder[1500:]},
		{name: "after Redis forgot its scripts", levels: inOrder[:500], flush: true},
	}
	for _, c := range cases {
		for _, size := range []int{1, 3, 64, len(c.levels)} {
			t.Run(fmt.Sprintf("%s, batches of %d", c.name, size), func(t *testing.T) {
				ctx := context.Background()
				one, batched := redistest.Connect(t, srv), redistest.Connect(t, srv)
				m1 := NewReadModel(one, time.Hour, 30*24*time.Hour, 24*time.Hour)
				m2 := NewReadModel(batched, time.Hour, 30*24*time.Hour, 24*time.Hour)
				m1.now = func() time.Time { return now }
				m2.now = m1.now
				for _, l := range c.before {
					for _, m := range []*ReadModel{m1, m2} {
						if _, err := m.ApplyLevel(ctx, l); err != nil {
							t.Fatal(err)
						}
					}
				}
				if c.flush {
					if err := batched.ScriptFlush(ctx).Err(); err != nil {
						t.Fatal(err)
					}
				}
				var want, got []bool
				for _, l := range c.levels {
					cur, err := m1.ApplyLevel(ctx, l)
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, cur)
				}
				for chunk := range slices.Chunk(c.levels, size) {
					cur, err := m2.ApplyLevels(ctx, chunk)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, cur...)
				}
				wantKeys, gotKeys := dumpKeys(t, one), dumpKeys(t, batched)
				if len(wantKeys) < 7*2+20*4+6 { // series of each key, targets, site hashes
					t.Fatalf("one by one left only %d keys: the test applies too little", len(wantKeys))
				}
				for k, v := range wantKeys {
					if gotKeys[k] != v {
						t.Errorf("key %s:\nbatched:     %.300q\none by one:  %.300q", k, gotKeys[k], v)
					}
				}
				for k := range gotKeys {
					if _, ok := wantKeys[k]; !ok {
						t.Errorf("key %s is stored only by the batches", k)
					}
				}
				if !slices.Equal(got, want) {
					for i := range want {
						if got[i] != want[i] {
							t.Errorf("level %d (%s %q at %v): current %v, one by one %v", i, c.levels[i].Site, c.levels[i].Name, c.levels[i].Time, got[i], want[i])
							break
						}
					}
				}
			})
		}
	}
}

func TestApplyLevelsRefusesALevelWithoutTimeBeforeWritingAnything(t *testing.T) {
	st := redistest.New(t)
	m := NewReadModel(st, time.Hour, 24*time.Hour, 24*time.Hour)
	ls := backlog(time.Now().Add(-time.Minute), 5, 2, 2)
	ls[3] = &msg.Level{Schema: msg.SchemaLevel, Site: "site-000"}
	if _, err := m.ApplyLevels(context.Background(), ls); !errors.Is(err, msg.ErrInvalid) {
		t.Fatalf("err = %v, want msg.ErrInvalid", err)
	}
	if n := st.DBSize(context.Background()).Val(); n != 0 {
		t.Fatalf("Redis holds %d keys after a refused batch, want 0", n)
	}
}

// beforeSiteWrite runs f once, just before the first pipeline that
// stores a batch's site state goes to Redis.
type beforeSiteWrite struct {
	f    func()
	done atomic.Bool
}

func (h *beforeSiteWrite) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *beforeSiteWrite) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *beforeSiteWrite) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if a := c.Args(); len(a) > 1 && a[0] == "evalsha" && a[1] == siteBatchScript.Hash() && h.done.CompareAndSwap(false, true) {
				h.f()
				break
			}
		}
		return next(ctx, cmds)
	}
}

func TestABatchDoesNotOverwriteASiteWrittenWhileItWasFolded(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Minute)
	ls := backlog(now.Add(-time.Hour), 200, 3, 0)
	// Another replica records an outage of site-001 later than the whole
	// batch while the batch is folded.
	outage := &msg.Level{Schema: msg.SchemaLevel, Site: "site-001", Time: now, Name: "scraper_blocked", Stale: true}

	batched := redistest.Connect(t, srv)
	other, err := store.Open(config.Redis{URL: config.NewSecret(srv.URL), KeyPrefix: batched.Prefix}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	m := NewReadModel(batched, 2*time.Hour, 24*time.Hour, 24*time.Hour)
	mo := NewReadModel(other, 2*time.Hour, 24*time.Hour, 24*time.Hour)
	hook := &beforeSiteWrite{f: func() {
		if _, err := mo.ApplyLevel(ctx, outage); err != nil {
			t.Error(err)
		}
	}}
	batched.AddHook(hook)
	if _, err := m.ApplyLevels(ctx, ls); err != nil {
		t.Fatal(err)
	}
	if !hook.done.Load() {
		t.Fatal("the batch stored no site state")
	}

	want := redistest.Connect(t, srv)
	mw := NewReadModel(want, 2*time.Hour, 24*time.Hour, 24*time.Hour)
	for _, l := range append([]*msg.Level{outage}, ls...) {
		if _, err := mw.ApplyLevel(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	wantKeys, gotKeys := dumpKeys(t, want), dumpKeys(t, batched)
	for _, k := range []string{"api:sites", "api:sites:t", "api:sites:ht", "api:sites:contrib"} {
		if gotKeys[k] != wantKeys[k] {
			t.Errorf("key %s:\nbatched:   %q\nwant:      %q", k, gotKeys[k], wantKeys[k])
		}
	}
	s, err := m.siteSummary(ctx, "site-001")
	if err != nil || s == nil || !s.Health.Stale || s.Health.StaleReason != StaleScraper {
		t.Fatalf("site-001 = %+v, %v: the outage written meanwhile was lost", s, err)
	}
}

func TestTheLevelStageStoresABatchAtItsCheckpoint(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	lh := h.srv.LevelStage("levels").Handler.(*levelHandler)
	now := h.now
	meta := pipeline.Meta{Time: time.Now()}
	if _, err := lh.Handle(ctx, &msg.Level{Schema: msg.SchemaLevel, Site: "forum-x"}, meta); !errors.Is(err, msg.ErrInvalid) {
		t.Fatalf("a level without time: err = %v, want msg.ErrInvalid (dead-lettered)", err)
	}
	for _, site := range []string{"forum-a", "forum-b", "forum-c"} {
		if _, err := lh.Handle(ctx, &msg.Level{Schema: msg.SchemaLevel, Site: site, Time: now, Level: 5, Baseline: 2, Name: "elevated"}, meta); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := h.srv.model.SiteKnown(ctx, "forum-a"); ok {
		t.Fatal("a level was stored before the batch's checkpoint")
	}
	// A stored summary that cannot be decoded fails the batch for good:
	// the other levels are still stored, and the stage goes on.
	if err := h.store.HSet(ctx, h.srv.model.k("sites"), "forum-b", "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	if err := lh.Checkpoint(ctx, map[int]int64{0: 3}); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	for _, site := range []string{"forum-a", "forum-c"} {
		s, err := h.srv.model.siteSummary(ctx, site)
		if err != nil || s == nil || s.Level != 5 {
			t.Fatalf("%s = %+v, %v; want level 5", site, s, err)
		}
	}
	if len(lh.pending) != 0 {
		t.Fatalf("%d levels still held after the checkpoint", len(lh.pending))
	}
	if err := lh.Checkpoint(ctx, nil); err != nil {
		t.Fatalf("an empty checkpoint: %v", err)
	}
}
