package watchlist

import (
	"runtime"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// BenchmarkMatchStages splits the matcher's cost per post: tokenizing alone,
// then tokenizing plus each scanner (subtract "tokenize" for its own cost).
// Posts are the generated ones and, when ../shared/data is present, the
// Jigsaw comments.
func BenchmarkMatchStages(b *testing.B) {
	f := syntheticFile(10000, 1)
	m := benchMatcher(b, f, 1)
	s := m.snap.Load()
	ks := s.keys[0]
	for _, set := range []struct {
		name  string
		posts func(*testing.B) []*msg.Post
	}{
		{"posts=generated", func(*testing.B) []*msg.Post { return benchPosts() }},
		{"posts=jigsaw", jigsawPosts},
	} {
		b.Run(set.name, func(b *testing.B) {
			posts := set.posts(b)
			for _, stage := range []string{"tokenize", "words", "handles", "emails", "phones", "plates"} {
				b.Run(stage, func(b *testing.B) {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					growStack(512)
					stageLoop(b, ks, s.regions, posts, stage)
				})
			}
		})
	}
}

// stageLoop is the measured loop of BenchmarkMatchStages, on one thread
// with a grown stack like scorePosts, so that callgrind can count it
// (--toggle-collect='*watchlist.stageLoop').
//
//go:noinline
func stageLoop(b *testing.B, ks *keySet, regions []string, posts []*msg.Post, stage string) {
	sc := getScratch()
	mac := sc.mac(ks.h)
	c0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		text := posts[i%len(posts)].Text
		toks := sc.tz.tokenize(text)
		sc.found = sc.found[:0]
		switch stage {
		case "words":
			ks.scanWords(sc, mac, toks)
		case "handles":
			ks.scanHandles(sc, mac, text)
		case "emails":
			ks.scanEmails(sc, mac, text)
		case "phones":
			ks.scanPhones(sc, mac, text, toks, regions)
		case "plates":
			ks.scanPlates(sc, mac, text, toks)
		}
	}
	reportCPU(b, c0)
}
