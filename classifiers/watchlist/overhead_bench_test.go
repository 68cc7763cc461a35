package watchlist

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// generatedPosts are the classifiers' benchmark posts with, in one post of
// every 50, a sentence that gives a listed person's details the way a dox
// would write them (WithDoxes).
func generatedPosts(f *File) []*msg.Post { return WithDoxes(f, benchPosts(), 50) }

// BenchmarkWatchlistOverhead scores the same posts with the production
// classifier (default settings) without and with the matcher of 10,000
// persons: with/without is what the watchlist adds to scoring. Posts are
// generated ones and, when ../shared/data is present, real comments.
func BenchmarkWatchlistOverhead(b *testing.B) {
	f := syntheticFile(10000, 1)
	m := benchMatcher(b, f, 1)
	without, err := classifiers.New(config.Default().Classify)
	if err != nil {
		b.Fatal(err)
	}
	with, err := classifiers.New(config.Default().Classify, classifiers.WithEnrichers(m))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		posts func(*testing.B) []*msg.Post
	}{
		{"posts=generated", func(*testing.B) []*msg.Post { return generatedPosts(f) }},
		{"posts=jigsaw", jigsawPosts},
	} {
		b.Run(tc.name, func(b *testing.B) {
			posts := tc.posts(b)
			b.Run("without", func(b *testing.B) { scoreLoop(b, without, posts) })
			b.Run("with", func(b *testing.B) { scoreLoop(b, with, posts) })
			b.Run("paired", func(b *testing.B) { pairedLoop(b, without, with, posts) })
			b.Run("attributed", func(b *testing.B) { attributedLoop(b, m, posts) })
		})
	}
}

// scoreLoop keeps the measured loop on one thread with a stack that will
// not move: callgrind (--toggle-collect='*watchlist.scorePosts') tracks
// calls per thread and by stack address, and a goroutine that changes
// thread or has its stack copied inside the toggled function loses the
// collection state, so the instruction count comes out wrong. Run callgrind
// with GODEBUG=gcshrinkstackoff=1 so that the GC does not shrink it back.
func scoreLoop(b *testing.B, c *classifiers.Classifier, posts []*msg.Post) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	growStack(512)
	scorePosts(b, c, posts)
}

//go:noinline
func growStack(n int) byte {
	var pad [1024]byte
	if n > 0 {
		pad[n%len(pad)] = growStack(n - 1)
	}
	return pad[0]
}

// scorePosts is the measured loop.
func scorePosts(b *testing.B, c *classifiers.Classifier, posts []*msg.Post) {
	ctx := context.Background()
	b.SetBytes(avgSize(posts))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Score(ctx, posts[i%len(posts)]); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0)
}

// pairedBlock is how many posts pairedLoop scores with one classifier
// before it switches: enough that the caches settle on the classifier in
// use, few enough (about 50 ms of work) that a change in the machine's
// speed hits both halves of a pair alike. Smaller blocks measure the
// switching: on the generated posts, blocks of 16 gave +11.5%, of 64
// +15.8%, of 256 +16.4% and of 1024 +16.5%.
const pairedBlock = 1024

// pairedLoop scores each block of posts without and with the watchlist
// and reports the overhead of each pair: on a shared machine whose speed
// drifts, separate runs of "without" and "with" minutes apart differ by
// more than the watchlist costs, while the two halves of a pair run within
// milliseconds. overhead-% is the median over the pairs; an operation is
// one post scored both ways.
func pairedLoop(b *testing.B, without, with *classifiers.Classifier, posts []*msg.Post) {
	r := pairedRuns(b, posts, nil, without, with)
	b.ReportMetric(r.perPost(0), "without-ns/post")
	b.ReportMetric(r.perPost(1), "with-ns/post")
	if len(r.times) > 0 {
		b.ReportMetric(r.medianOverhead(1, nil), "overhead-%")
	}
}

// attributedLoop splits what pairedLoop measures: with the matcher's
// Enrich timed inside scoring (enrich-%), the rest of scoring's change
// (rest-%: the classifier's own code slowed by the matcher's use of the
// caches and branch predictors), and a classifier with an enricher that
// does nothing (noop-%: what calling an enricher costs, and a check that
// the pairing itself is unbiased: it should be about 0).
func attributedLoop(b *testing.B, m *Matcher, posts []*msg.Post) {
	te := &timedEnricher{m: m}
	cs := make([]*classifiers.Classifier, 3)
	for i, o := range [][]classifiers.Option{nil, {classifiers.WithEnrichers(noopEnricher{})}, {classifiers.WithEnrichers(te)}} {
		c, err := classifiers.New(config.Default().Classify, o...)
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = c
	}
	r := pairedRuns(b, posts, te.block, cs...)
	b.ReportMetric(r.perPost(0), "without-ns/post")
	if len(r.times) == 0 {
		return // no full block: nothing to pair (the overheads need -benchtime of 1024x or more)
	}
	b.ReportMetric(r.medianOverhead(1, nil), "noop-%")
	b.ReportMetric(r.medianOverhead(2, nil), "overhead-%")
	b.ReportMetric(r.medianOverhead(2, te.spent), "rest-%")
	var enrich []float64
	for k, d := range te.spent {
		enrich = append(enrich, float64(d)/float64(r.times[k][0])*100)
	}
	b.ReportMetric(median(enrich), "enrich-%")
}

// pairs holds, for each block of posts, the time each classifier took to
// score it.
type pairs struct {
	times [][]time.Duration // [full block][classifier]
	sum   []time.Duration   // [classifier], over every block
	n     int               // posts each classifier scored
}

// pairedRuns scores each block of pairedBlock posts with every classifier
// in turn. The order rotates from one block to the next, so that no
// classifier always runs first after the switch: the one that runs right
// after another has to load its code and tables again, and a fixed order
// would charge that to one side only. done, when given, is called after
// each block, with whether the block was full (and kept).
func pairedRuns(b *testing.B, posts []*msg.Post, done func(full bool), cs ...*classifiers.Classifier) pairs {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	score := func(c *classifiers.Classifier, from, n int) time.Duration {
		t0 := time.Now()
		for i := from; i < from+n; i++ {
			if _, err := c.Score(ctx, posts[i%len(posts)]); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	p := pairs{sum: make([]time.Duration, len(cs))}
	b.ResetTimer()
	for i, blk := 0, 0; i < b.N; i, blk = i+pairedBlock, blk+1 {
		n := min(pairedBlock, b.N-i)
		ts := make([]time.Duration, len(cs))
		for k := range cs {
			c := (blk + k) % len(cs)
			ts[c] = score(cs[c], i, n)
			p.sum[c] += ts[c]
		}
		p.n += n
		if n == pairedBlock {
			p.times = append(p.times, ts)
		}
		if done != nil {
			done(n == pairedBlock)
		}
	}
	return p
}

func (p pairs) perPost(c int) float64 { return float64(p.sum[c]) / float64(max(p.n, 1)) }

// medianOverhead is the median over the blocks of how much longer
// classifier c took than classifier 0, in percent; less[k], when given,
// is taken off c's time of block k first.
func (p pairs) medianOverhead(c int, less []time.Duration) float64 {
	var rs []float64
	for k, ts := range p.times {
		t := ts[c]
		if less != nil {
			t -= less[k]
		}
		rs = append(rs, (float64(t)/float64(ts[0])-1)*100)
	}
	return median(rs)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

type noopEnricher struct{}

func (noopEnricher) Enrich(context.Context, *msg.Post, *msg.Scored) error { return nil }

// timedEnricher times the matcher's Enrich inside scoring, per block of
// pairedRuns.
type timedEnricher struct {
	m     *Matcher
	cur   time.Duration
	spent []time.Duration
}

func (t *timedEnricher) Enrich(ctx context.Context, p *msg.Post, s *msg.Scored) error {
	t0 := time.Now()
	err := t.m.Enrich(ctx, p, s)
	t.cur += time.Since(t0)
	return err
}

// block ends a block of pairedRuns: a full block's time is kept.
func (t *timedEnricher) block(full bool) {
	if full {
		t.spent = append(t.spent, t.cur)
	}
	t.cur = 0
}
