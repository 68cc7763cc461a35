package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// scoredSeeds are lines the fast path reads and lines it must leave to the
// general decoder; the fuzz test starts from them and the normal suite runs
// them all.
func scoredSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{golden(t)[1]}
	for _, s := range []string{
		`{"schema":"scored/1","post":{"schema":"post/1","id":"forum-1.example:00aa","site":"forum-1.example","engine":"discourse","site_post_id":"7","url":"https://forum-1.example/t/1/7","thread_id":"1","thread_title":"general discussion","author":"user1","published":"2026-01-05T00:00:00Z","fetched":"2026-01-05T00:02:50Z","text":"does anyone have the address of the guy who runs that channel?","content_hash":"sha256:6fdc3dee73aebda4cfbf20f902e643f5"},"scores":{"doxxing":0.01,"swatting":0.09,"threat":0.87},"evidence":[{"signal":"threat","kind":"intent_to_harm","field":"text","start":10,"end":60,"snippet":"deserves whatever is coming to [NAME]","weight":0.87}],"entities":[{"kind":"handle","name":"@streamer1","ref":"streamer1","target":true}],"classifier":"threatwatch","version":"1.0.0","scored_at":"2026-01-05T00:15:00Z"}`,
		`{"schema":"scored/1","post":{"schema":"post/1","id":"a:1","site":"a","published":"2026-01-05T00:00:00.123456789Z","fetched":"0001-01-01T00:00:00Z","text":"quote \" slash \\ nl \n tab \t \u003cb\u003e \u00e9 é 漢字 \/","quoted":["one","two \u2028"],"backfill":true,"edited":false,"lang":"en"},"scores":{},"evidence":[],"entities":[],"classifier":"","version":""}`,
		`{"schema":"scored/1","post":{"schema":"post/1","id":"a:20","site":"a","published":"2026-01-05T00:00:00Z"},"scores":{"doxxing":1},"evidence":[{"signal":"doxxing","kind":"watchlist:address","field":"text","start":3,"end":20,"snippet":"at [ADDRESS]","unit":"other"}]}`,
		`  {"schema" : "scored/1" , "post" : { "id" : "a:2", "site" : "a", "published" : "2024-02-29T23:59:59.5Z" } , "scores" : { "threat" : 1e-1 , "doxxing" : 0 , "swatting" : -0.0 } }  `,
		`{"schema":"scored/1","post":{"id":"a:3","site":"a","published":"2026-01-05T00:00:00+02:00"},"scores":{"threat":0.5}}`,
		`{"schema":"scored/1","post":{"id":"a:4","site":"a","published":"2025-02-29T00:00:00Z"},"scores":{"threat":0.5}}`,
		`{"schema":"scored/1","post":{"id":"a:5","site":"a","published":null},"scores":{"threat":0.5}}`,
		`{"schema":"scored/1","post":{"id":"a:6","Site":"a","published":"2026-01-05T00:00:00Z"},"scores":{"threat":0.5}}`,
		`{"schema":"scored/1","post":{"id":"a:7","site":"a","site":"b","published":"2026-01-05T00:00:00Z"},"scores":{"threat":0.5}}`,
		`{"schema":"scored/1","post":{"id":"a:8","site":"a","published":"2026-01-05T00:00:00Z"},"scores":{"threat":0.5,"threat":0.7}}`,
		`{"schema":"scored/1","post":{"id":"a:9","site":"a","published":"2026-01-05T00:00:00Z","extra":1},"scores":{"threat":1.5}}`,
		`{"schema":"scored/1","post":{"id":"a:10","site":"a","published":"2026-01-05T00:00:00Z","text":"\ud83d\ude00 \udc00"},"scores":{"threat":0.5}}`,
		`{"schema":"scored/1","post":{"id":"a:11","site":"a","published":"2026-01-05T00:00:00Z","text":"bad ` + "\xff" + ` utf8"},"scores":{"threat":0.5}}`,
		`{"schema":"scored/1","post":{"id":"a:12","site":"a","published":"2026-01-05T00:00:00Z"},"scores":{"threat":01},"evidence":[{"start":1.5}]}`,
		`{"schema":"scored/1","post":{"id":"a:13","site":"a","published":"2026-01-05T00:00:00Z"},"scores":{"threat":0.5},"evidence":[{"start":-3,"end":9223372036854775807}]}`,
		`{"schema":"scored/1","post":{"id":"a:14","site":"a","published":"2026-01-05T00:00:00Z"},"scores":{"threat":0.5}} trailing`,
		`{"schema":"scored/1","post":{"id":"","site":"a"},"scores":{"threat":0.5}}`,
		`{"schema":"scored/2","post":{"id":"a:15","site":"a"}}`,
		`{"schema":"scored/1","post":{"site":"a","site_post_id":"16","text":"hash me"},"scores":{"threat":0.5}}`,
		`{"schema":"scored/1","post":{"id":"a:17","site":"a","published":"2026-01-05T00:00:00Z"},"scores":{"threat":1e400}}`,
		`{"schema":"scored/1","post":{"id":"a:18","site":"a","published":"2026-01-05T24:00:00Z"},"scores":null}`,
		`{"schema":"scored/1","post":{"id":"a:19","site":"a","backfill":tru},"scores":{}}`,
		`{"schema":"scored/1","post":{"id":"a:20","site":"a"},"entities":[{"kind":"person","name":"Ann \"A\" Lee","target":true},{"kind":"place","name":"x"}],"scores":{"threat":0.5}}`,
		`{"schema":"scored/1"`,
		`{}`,
		``,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// checkScoredDecoder decodes line with a reused and a fresh ScoredDecoder
// and with DecodeLenient, the general decoder: all must agree exactly.
func checkScoredDecoder(t *testing.T, reused *ScoredDecoder, line []byte) {
	t.Helper()
	in := bytes.Clone(line)
	want, wantErr := DecodeLenient[msg.Scored](line)
	for _, d := range []*ScoredDecoder{reused, NewScoredDecoder()} {
		got, err := d.Decode(in)
		if errLines(err) != errLines(wantErr) {
			t.Fatalf("%q:\nerror %v\nwant  %v", line, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\ngot  %#v\nwant %#v", line, got, want)
		}
	}
	// The result must not share memory with the input line.
	if got, err := reused.Decode(in); err == nil {
		for i := range in {
			in[i] = 'x'
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: the result changed with its input buffer", line)
		}
	}
}

// errLines is an error's message with its lines sorted: Validate reports
// bad scores in map order.
func errLines(err error) string {
	lines := strings.Split(fmt.Sprint(err), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestScoredDecoderAgreesWithTheGeneralDecoder(t *testing.T) {
	d := NewScoredDecoder()
	for _, line := range scoredSeeds(t) {
		checkScoredDecoder(t, d, line)
	}
}

func TestScoredDecoderTakesTheFastPathOnEncodedLines(t *testing.T) {
	d := NewScoredDecoder()
	for _, line := range scoredSeeds(t)[:4] {
		if _, ok := d.fast(line); !ok {
			t.Errorf("fell back on %s", line)
		}
	}
}

// FuzzScoredDecoder: go test -fuzz FuzzScoredDecoder ./pipeline/codec/
func FuzzScoredDecoder(f *testing.F) {
	for _, s := range scoredSeeds(f) {
		f.Add(s)
	}
	d := NewScoredDecoder()
	f.Fuzz(func(t *testing.T, line []byte) {
		checkScoredDecoder(t, d, line)
	})
}

func BenchmarkScoredDecoder(b *testing.B) {
	line := scoredSeeds(b)[1]
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	d := NewScoredDecoder()
	for range b.N {
		if _, err := d.Decode(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScoredGeneralDecoder(b *testing.B) {
	line := scoredSeeds(b)[1]
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for range b.N {
		if _, err := DecodeLenient[msg.Scored](line); err != nil {
			b.Fatal(err)
		}
	}
}
