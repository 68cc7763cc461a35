package api

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// busySites plays another writer that changes every site summary just
// before each script that would store one reaches Redis, for as long as
// on is set.
type busySites struct {
	s  *store.Store
	m  *ReadModel
	on atomic.Bool
	n  atomic.Int64
}

func (h *busySites) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *busySites) isSiteWrite(c redis.Cmder) bool {
	a := c.Args()
	return len(a) > 1 && a[0] == "evalsha" &&
		(a[1] == siteBatchScript.Hash() || a[1] == siteScript.Hash() || a[1] == healthScript.Hash())
}

func (h *busySites) touch(ctx context.Context, cmds ...redis.Cmder) {
	if !h.on.Load() {
		return
	}
	for _, c := range cmds {
		if !h.isSiteWrite(c) {
			continue
		}
		// What another replica's write leaves: a different summary.
		sum := fmt.Sprintf(`{"site":"forum-a","level":%d}`, h.n.Add(1))
		_ = h.s.HSet(context.WithoutCancel(ctx), h.m.k("sites"), "forum-a", sum).Err()
		return
	}
}

func (h *busySites) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.touch(ctx, cmd)
		return next(ctx, cmd)
	}
}

func (h *busySites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.touch(ctx, cmds...)
		return next(ctx, cmds)
	}
}

func TestALevelWhoseSiteKeepsChangingIsRetriedNotDropped(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	lh := h.srv.LevelStage("levels").Handler.(*levelHandler)
	busy := &busySites{s: h.store, m: h.srv.model}
	// Loaded, the scripts always go by digest, where busy sees them.
	for _, s := range []*redis.Script{siteBatchScript, siteScript, healthScript, casScript, hourlyScript} {
		if err := s.Load(ctx, h.store).Err(); err != nil {
			t.Fatal(err)
		}
	}
	h.store.AddHook(busy)
	busy.on.Store(true)

	l := &msg.Level{Schema: msg.SchemaLevel, Site: "forum-a", Time: h.now, Level: 7, Baseline: 2, Name: "high"}
	if _, err := lh.Handle(ctx, l, pipeline.Meta{Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	err := lh.Checkpoint(ctx, map[int]int64{0: 1})
	if err == nil {
		t.Fatal("checkpoint = nil while every write of the site was beaten by another writer: the level is committed without being stored")
	}
	if class, _ := pipeline.Classify(err); class != pipeline.Transient {
		t.Fatalf("checkpoint err = %v, class %v; want transient, so the runner backs off and calls it again", err, class)
	}
	if len(lh.pending) != 1 {
		t.Fatalf("%d levels held after a failed checkpoint, want 1", len(lh.pending))
	}

	// The other writer stops: the runner's next call stores the level.
	busy.on.Store(false)
	if err := lh.Checkpoint(ctx, map[int]int64{0: 1}); err != nil {
		t.Fatalf("checkpoint once the site is quiet: %v", err)
	}
	s, err := h.srv.model.siteSummary(ctx, "forum-a")
	if err != nil || s == nil || s.Level != 7 {
		t.Fatalf("forum-a = %+v, %v; want level 7", s, err)
	}
}

// pipeSizes records the most commands one round trip carried.
type pipeSizes struct{ max atomic.Int64 }

func (h *pipeSizes) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *pipeSizes) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *pipeSizes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for n := int64(len(cmds)); ; {
			m := h.max.Load()
			if n <= m || h.max.CompareAndSwap(m, n) {
				break
			}
		}
		return next(ctx, cmds)
	}
}

func TestAHugeBatchIsStoredInBoundedRoundTrips(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	lh := h.srv.LevelStage("levels").Handler.(*levelHandler)
	sizes := &pipeSizes{}
	h.store.AddHook(sizes)

	// runner.batch_size allows 100,000: one pipeline for all of them is
	// read back under a single read deadline, and a batch Redis cannot
	// answer within it times out on every retry.
	ls := backlog(h.now.Add(-time.Hour), 3*maxLevelsPerWrite, 20, 200)
	for i, l := range ls {
		if _, err := lh.Handle(ctx, l, pipeline.Meta{Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := lh.Checkpoint(ctx, map[int]int64{0: int64(len(ls) - 1)}); err != nil {
		t.Fatal(err)
	}
	// Per level at most 7 commands (series, hourly, target and its
	// indexes), per site 3 reads.
	if limit := int64(10 * maxLevelsPerWrite); sizes.max.Load() > limit {
		t.Fatalf("one round trip carried %d commands, want at most %d", sizes.max.Load(), limit)
	}
	if got := cap(lh.pending); got > 0 {
		for i, l := range lh.pending[:got] {
			if l != nil {
				t.Fatalf("level %d of the stored batch is still referenced after the checkpoint", i)
			}
		}
	}
	s, err := h.srv.model.siteSummary(ctx, "site-000")
	if err != nil || s == nil {
		t.Fatalf("site-000 = %+v, %v; want it stored", s, err)
	}
}
