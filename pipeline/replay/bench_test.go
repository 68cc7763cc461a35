package replay

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// benchFile writes n synthetic scored posts to a file in dir.
func benchFile(b *testing.B, dir string, n int) (string, int64) {
	b.Helper()
	p := filepath.Join(dir, "scored.jsonl")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := SyntheticScored(w, n, 200, 1); err != nil {
		b.Fatal(err)
	}
	w.Flush()
	f.Close()
	st, _ := os.Stat(p)
	return p, st.Size()
}

// BenchmarkReaggregate is the figure: pre-scored posts from a file,
// end to end (read, parse, order, dedup, aggregate, detect, write alerts
// and levels to files).
func BenchmarkReaggregate(b *testing.B) {
	const n = 200000
	dir := b.TempDir()
	p, size := benchFile(b, dir, n)
	cfg := config.Default()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		src, err := Files([]string{p}, nil)
		if err != nil {
			b.Fatal(err)
		}
		eng, _ := NewAggregateEngine(cfg.Aggregate)
		af, _ := os.Create(filepath.Join(dir, "alerts.jsonl"))
		lf, _ := os.Create(filepath.Join(dir, "levels.jsonl"))
		aw, lw := NewAlertWriter(af), NewLevelWriter(lf)
		o := Options{}
		o.FromAggregate(cfg.Aggregate)
		st, err := Run(context.Background(), src, o, &Lane{Name: "bench", Engine: eng, Sinks: []Sink{aw, lw}})
		if err != nil {
			b.Fatal(err)
		}
		aw.Flush()
		lw.Flush()
		af.Close()
		lf.Close()
		if st.Records != n {
			b.Fatalf("replayed %d posts, want %d", st.Records, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "posts/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

// BenchmarkDecodeScored measures the JSON decoding of one scored line.
func BenchmarkDecodeScored(b *testing.B) {
	var buf bytes.Buffer
	if err := SyntheticScored(&buf, 1000, 50, 2); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	b.SetBytes(int64(buf.Len() / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	dec := codec.NewScoredDecoder()
	for i := range b.N {
		if _, err := decodeRecordWith(dec, lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeScoredStdlib is the same with encoding/json, for comparison.
func BenchmarkDecodeScoredStdlib(b *testing.B) {
	var buf bytes.Buffer
	if err := SyntheticScored(&buf, 1000, 50, 2); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	b.SetBytes(int64(buf.Len() / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := msg.Decode[msg.Scored](lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
}
