package watchlist

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// syntheticFile is Synthetic, the persons every benchmark and the large
// tests use.
func syntheticFile(n int, seed uint64) *File { return Synthetic(n, seed) }

// benchPosts are the classifiers' benchmark posts (the same BenchmarkScore
// uses), so the two can be compared.
func benchPosts() []*msg.Post { return classifiers.SamplePosts(2000, 3, 1) }

// jigsawPosts reads real comments when the shared data set is present.
func jigsawPosts(b *testing.B) []*msg.Post {
	fh, err := os.Open("../../../shared/data/jigsaw_fragments.jsonl")
	if err != nil {
		b.Skip("shared data not present")
	}
	defer fh.Close()
	var out []*msg.Post
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var row struct{ ID, Text string }
		if json.Unmarshal(sc.Bytes(), &row) == nil {
			out = append(out, &msg.Post{ID: row.ID, Site: "jigsaw", Text: row.Text})
		}
	}
	return out
}

// cpuTime is this process's user+system CPU time. The machine the
// benchmarks run on is shared, so wall-clock ns/op includes waiting for a
// core; cpu-ns/op does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU nanoseconds per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func avgSize(posts []*msg.Post) int64 {
	n := 0
	for _, p := range posts {
		n += len(p.Text)
	}
	return int64(n / len(posts))
}

// BenchmarkMatch is the matcher alone, per post, against 10,000 persons
// (one key; rotation=2keys doubles the hashing).
func BenchmarkMatch(b *testing.B) {
	f := syntheticFile(10000, 1)
	for _, tc := range []struct {
		name  string
		posts func(*testing.B) []*msg.Post
		keys  int
	}{
		{"posts=sample/keys=1", func(*testing.B) []*msg.Post { return benchPosts() }, 1},
		{"posts=sample/keys=2", func(*testing.B) []*msg.Post { return benchPosts() }, 2},
		{"posts=jigsaw/keys=1", jigsawPosts, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			posts := tc.posts(b)
			m := benchMatcher(b, f, tc.keys)
			ctx := context.Background()
			b.SetBytes(avgSize(posts))
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				p := posts[i%len(posts)]
				s := &msg.Scored{Post: *p}
				if err := m.Enrich(ctx, p, s); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, c0)
		})
	}
}

func benchMatcher(b testing.TB, f *File, keys int) *Matcher {
	b.Helper()
	var hs []*Hasher
	recs := map[string][]Record{}
	for k := 0; k < keys; k++ {
		h, err := NewHasher(fmt.Sprintf("k%d", k+1), []byte(fmt.Sprintf("%d-0123456789abcdef0123456789abcdef", k)))
		if err != nil {
			b.Fatal(err)
		}
		a := &Admin{hashers: []*Hasher{h}, region: "US"}
		rs, _, err := a.hashAll(f, h)
		if err != nil {
			b.Fatal(err)
		}
		hs = append(hs, h)
		recs[h.ID()] = rs
	}
	m := newMatcher(hs, []string{"US"}, nil, nil)
	m.snap.Store(newSnapshot(1, m.regions, hs, recs))
	return m
}

// BenchmarkScoreWithWatchlist scores posts with the real classifier with
// and without the matcher of 10,000 persons: the difference is what the
// watchlist adds to scoring.
func BenchmarkScoreWithWatchlist(b *testing.B) {
	f := syntheticFile(10000, 1)
	m := benchMatcher(b, f, 1)
	posts := benchPosts()
	for _, ner := range []string{"prose", "off"} {
		for _, with := range []bool{false, true} {
			b.Run(fmt.Sprintf("ner=%s/watchlist=%v", ner, with), func(b *testing.B) {
				cfg := config.Default().Classify
				cfg.NER = ner
				var opts []classifiers.Option
				if with {
					opts = append(opts, classifiers.WithEnrichers(m))
				}
				c, err := classifiers.New(cfg, opts...)
				if err != nil {
					b.Fatal(err)
				}
				scorePosts(b, c, posts)
			})
		}
	}
}

// BenchmarkListMemory reports what 10,000 persons cost: heap of the
// loaded list in the classify process, Redis memory, and load time.
func BenchmarkListMemory(b *testing.B) {
	f := syntheticFile(10000, 1)
	h, _ := NewHasher("k1", testKey)
	a := &Admin{hashers: []*Hasher{h}, region: "US"}
	recs, hashes, err := a.hashAll(f, h)
	if err != nil {
		b.Fatal(err)
	}
	var heap float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newSnapshot(1, []string{"US"}, []*Hasher{h}, map[string][]Record{"k1": recs})
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(after.HeapAlloc) - float64(before.HeapAlloc)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(heap/1e6, "heap-MB")
	b.ReportMetric(float64(hashes), "hashes")
	b.ReportMetric(heap/float64(hashes), "heap-B/hash")

	st := redistest.New(b)
	ctx := context.Background()
	used := func() float64 {
		info := st.Info(ctx, "memory").Val()
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
				var n float64
				fmt.Sscan(v, &n)
				return n
			}
		}
		return 0
	}
	base := used()
	adm := &Admin{list: NewListStore(st, "wl"), hashers: []*Hasher{h}, region: "US", LockTTL: 60e9}
	if _, err := adm.Import(ctx, f, false); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric((used()-base)/1e6, "redis-MB")
}
