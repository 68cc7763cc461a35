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

// pairedLoop scores each block of posts without and then with the
// watchlist and reports the overhead of each pair: on a shared machine
// whose speed drifts, separate runs of "without" and "with" minutes apart
// differ by more than the watchlist costs, while the two halves of a pair
// run within milliseconds. overhead-% is the median over the pairs; an
// operation is one post scored both ways.
func pairedLoop(b *testing.B, without, with *classifiers.Classifier, posts []*msg.Post) {
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
	var ratios []float64
	var sumWithout, sumWith time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i += pairedBlock {
		n := min(pairedBlock, b.N-i)
		tw, tm := score(without, i, n), score(with, i, n)
		sumWithout += tw
		sumWith += tm
		if n == pairedBlock {
			ratios = append(ratios, float64(tm)/float64(tw))
		}
	}
	b.ReportMetric(float64(sumWithout)/float64(b.N), "without-ns/post")
	b.ReportMetric(float64(sumWith)/float64(b.N), "with-ns/post")
	if len(ratios) > 0 {
		slices.Sort(ratios)
		b.ReportMetric((ratios[len(ratios)/2]-1)*100, "overhead-%")
	}
}
