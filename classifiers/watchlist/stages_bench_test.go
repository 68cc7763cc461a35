package watchlist

import "testing"

// BenchmarkMatchStages splits the matcher's cost per post: tokenizing alone,
// then tokenizing plus each scanner (subtract "tokenize" for its own cost).
func BenchmarkMatchStages(b *testing.B) {
	f := syntheticFile(10000, 1)
	m := benchMatcher(b, f, 1)
	posts := benchPosts()
	s := m.snap.Load()
	ks := s.keys[0]
	for _, stage := range []string{"tokenize", "words", "handles", "emails", "phones", "plates"} {
		b.Run(stage, func(b *testing.B) {
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
					ks.scanPhones(sc, mac, text, toks, s.regions)
				case "plates":
					ks.scanPlates(sc, mac, text, toks)
				}
			}
			reportCPU(b, c0)
		})
	}
}
