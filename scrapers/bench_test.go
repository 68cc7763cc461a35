package scrapers

import (
	"net/url"
	"testing"
	"time"
)

// BenchmarkParse measures each engine's parsing of its fixture pages:
// pages/s, posts/s, bytes/s and allocations.
func BenchmarkParse(b *testing.B) {
	for _, f := range Engines {
		b.Run(f.Name, func(b *testing.B) {
			eng, err := f.New(fixtureSite(b, f.Name, goldenBase))
			if err != nil {
				b.Fatal(err)
			}
			var ins []*Input
			size, posts := 0, 0
			for _, r := range loadRoutes(b, f.Name) {
				if !r.served() {
					continue
				}
				u, _ := url.Parse(goldenBase + r.path)
				in := &Input{Site: "bench", URL: u, Kind: r.pageKind(), Body: readFixture(b, f.Name, r.file), Fetched: time.Now()}
				pg, err := eng.Parse(in)
				if err != nil {
					b.Fatalf("%s: %v", r.file, err)
				}
				posts += len(pg.Posts)
				size += len(in.Body)
				ins = append(ins, in)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, in := range ins {
					if _, err := eng.Parse(in); err != nil {
						b.Fatal(err)
					}
				}
			}
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(len(ins)*b.N)/s, "pages/s")
			b.ReportMetric(float64(posts*b.N)/s, "posts/s")
		})
	}
}
