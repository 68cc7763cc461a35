package replay

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// The scenario files under testdata/scenarios are made by this generator,
// deterministically (fixed seeds), and committed. Regenerate them with
//
//	go test ./pipeline/replay -run TestGenerateScenarios -regen
//
// and then refresh the goldens with -update.
var regen = flag.Bool("regen", false, "regenerate the scenario input files")

var scenarioStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// scenarioGen writes scored posts of made-up forum sites.
type scenarioGen struct {
	rng   *rand.Rand
	posts []*msg.Scored
	n     int
}

func newScenarioGen(seed uint64) *scenarioGen {
	return &scenarioGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// rhythm is a site's daily rhythm: busier in the evening, quiet at night.
func rhythm(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	return 1 + 0.6*math.Sin(2*math.Pi*(h-14)/24)
}

// poisson draws a count with mean m (Knuth; m is small here).
func (g *scenarioGen) poisson(m float64) int {
	if m <= 0 {
		return 0
	}
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= g.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

type postKind int

const (
	benign postKind = iota
	hostile
	doxx
)

// post adds one scored post.
func (g *scenarioGen) post(site string, t time.Time, kind postKind, target string) *msg.Scored {
	g.n++
	p := msg.Post{
		Schema: msg.SchemaPost, Site: site, Engine: "testforum", SitePostID: fmt.Sprint(g.n),
		URL: fmt.Sprintf("https://%s/t/%d/p/%d", site, g.n%97, g.n), ThreadID: fmt.Sprint(g.n % 97),
		Thread: "general discussion", Author: fmt.Sprintf("user%d", g.rng.IntN(300)),
		Published: t, Fetched: t.Add(time.Duration(1+g.rng.IntN(600)) * time.Second),
	}
	s := &msg.Scored{Schema: msg.SchemaScored, Classifier: "threatwatch", Version: "test-1",
		Scores: map[msg.Signal]float64{}}
	low := func() float64 { return math.Round(g.rng.Float64()*0.3*100) / 100 }
	for _, sig := range msg.Signals {
		s.Scores[sig] = low()
	}
	switch kind {
	case benign:
		p.Text = "anyone else think the new patch broke matchmaking again"
	case hostile:
		p.Text = "people like him should be hurt, someone needs to teach him a lesson"
		s.Scores[msg.SignalThreat] = math.Round((0.6+0.35*g.rng.Float64())*100) / 100
		s.Evidence = []msg.Span{{Signal: msg.SignalThreat, Kind: "intent_to_harm", Field: "text", Start: 0, End: 30,
			Snippet: "people like him should be hurt", Weight: s.Scores[msg.SignalThreat]}}
	case doxx:
		p.Thread = "Jane Roe exposed"
		p.Text = "Jane Roe lives at 12 Elm Street, call her at 555-201-3344, go pay her a visit"
		s.Scores[msg.SignalDoxxing] = math.Round((0.7+0.29*g.rng.Float64())*100) / 100
		s.Scores[msg.SignalThreat] = math.Round((0.5+0.4*g.rng.Float64())*100) / 100
		s.Evidence = []msg.Span{{Signal: msg.SignalDoxxing, Kind: "street_address", Field: "text", Start: 9, End: 32,
			Snippet: "[NAME] lives at [ADDRESS], call her at [PHONE]", Weight: s.Scores[msg.SignalDoxxing]}}
	}
	if target != "" {
		s.Entities = []msg.Entity{{Kind: msg.EntityPerson, Name: target, Ref: msg.TargetRef(target), Target: true}}
	}
	p.Normalize()
	s.Post = p
	g.posts = append(g.posts, s)
	return s
}

// background adds a site's ordinary traffic: perHour posts on average,
// a share of them hostile.
func (g *scenarioGen) background(site string, from, to time.Time, perHour, hostileShare float64) {
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		n := g.poisson(perHour * rhythm(h))
		for range n {
			t := h.Add(time.Duration(g.rng.Int64N(int64(time.Hour)))).Truncate(time.Second)
			if !t.Before(to) {
				continue
			}
			k := benign
			if g.rng.Float64() < hostileShare {
				k = hostile
			}
			g.post(site, t, k, "")
		}
	}
}

func (g *scenarioGen) sorted() []*msg.Scored {
	out := slices.Clone(g.posts)
	slices.SortStableFunc(out, func(a, b *msg.Scored) int {
		if c := a.Post.Published.Compare(b.Post.Published); c != 0 {
			return c
		}
		switch {
		case a.Post.ID < b.Post.ID:
			return -1
		case a.Post.ID > b.Post.ID:
			return 1
		}
		return 0
	})
	return out
}

func encodeLines(t testing.TB, posts []*msg.Scored) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := msg.NewWriter(&buf)
	for _, p := range posts {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeScenario(t *testing.T, name string, data []byte) {
	t.Helper()
	p := filepath.Join("testdata", "scenarios", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	switch filepath.Ext(name) {
	case ".gz":
		zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
		zw.Write(data)
		zw.Close()
	case ".zst":
		zw, _ := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
		zw.Write(data)
		zw.Close()
	default:
		out.Write(data)
	}
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGenerateScenarios writes the scenario files (only with -regen).
func TestGenerateScenarios(t *testing.T) {
	if !*regen {
		t.Skip("run with -regen to rewrite testdata/scenarios")
	}
	days := func(n int) time.Time { return scenarioStart.Add(time.Duration(n) * 24 * time.Hour) }

	// A quiet site: little traffic, almost nothing hostile.
	g := newScenarioGen(1)
	g.background("quiet.example", scenarioStart, days(5), 6, 0.01)
	writeScenario(t, "quiet.jsonl.gz", encodeLines(t, g.sorted()))

	// A hostile but steady site: a third of its posts threaten, every day
	// alike. That is its normal; it must not page.
	g = newScenarioGen(2)
	g.background("hostile.example", scenarioStart, days(5), 30, 0.33)
	writeScenario(t, "hostile.jsonl.zst", encodeLines(t, g.sorted()))

	// A campaign: three ordinary days, then 48 hours in which doxxing posts
	// about one person grow from one an hour to forty an hour.
	g = newScenarioGen(3)
	g.background("campaign.example", scenarioStart, days(5), 12, 0.03)
	for h := 0; h < 48; h++ {
		at := days(3).Add(time.Duration(h) * time.Hour)
		n := g.poisson(1 + 39*float64(h)/47)
		for range n {
			g.post("campaign.example", at.Add(time.Duration(g.rng.Int64N(int64(time.Hour)))).Truncate(time.Second), doxx, "Jane Roe")
		}
	}
	writeScenario(t, "campaign.jsonl.gz", encodeLines(t, g.sorted()))

	// A site that goes dark: four ordinary days, then nothing.
	g = newScenarioGen(4)
	g.background("dark.example", scenarioStart, days(4), 15, 0.05)
	writeScenario(t, "dark.jsonl.gz", encodeLines(t, g.sorted()))

	// Late and out-of-order posts: a site with a burst, written in the
	// order a scraper crawling several threads would find them (shuffled
	// within 20 minutes), plus five posts that arrive three hours late.
	g = newScenarioGen(5)
	g.background("late.example", scenarioStart, days(3), 10, 0.05)
	for h := 0; h < 6; h++ {
		at := days(2).Add(time.Duration(h+12) * time.Hour)
		for range 15 + 5*h {
			g.post("late.example", at.Add(time.Duration(g.rng.Int64N(int64(time.Hour)))).Truncate(time.Second), hostile, "")
		}
	}
	posts := g.sorted()
	type placed struct {
		at time.Time
		s  *msg.Scored
	}
	var order []placed
	for _, s := range posts {
		order = append(order, placed{at: s.Post.Published.Add(time.Duration(g.rng.Int64N(int64(20 * time.Minute)))), s: s})
	}
	for i := range 5 {
		s := g.post("late.example", days(2).Add(time.Duration(13+i)*time.Hour+17*time.Minute), hostile, "")
		s.Post.SitePostID = fmt.Sprintf("verylate-%d", i)
		s.Post.ID = ""
		s.Post.ContentHash = ""
		s.Post.Normalize()
		order = append(order, placed{at: s.Post.Published.Add(3 * time.Hour), s: s})
	}
	slices.SortStableFunc(order, func(a, b placed) int { return a.at.Compare(b.at) })
	var late []*msg.Scored
	for _, p := range order {
		late = append(late, p.s)
	}
	writeScenario(t, "late.jsonl", encodeLines(t, late))

	// Duplicates: the same posts scraped twice, right away (identical
	// lines) or ten minutes later from a mirror (another fetch time).
	g = newScenarioGen(6)
	g.background("dupes.example", scenarioStart, days(3), 10, 0.05)
	for h := 0; h < 4; h++ {
		at := days(2).Add(time.Duration(h+9) * time.Hour)
		for range 20 + 10*h {
			g.post("dupes.example", at.Add(time.Duration(g.rng.Int64N(int64(time.Hour)))).Truncate(time.Second), hostile, "")
		}
	}
	var dup []*msg.Scored
	for _, s := range g.sorted() {
		dup = append(dup, s)
		switch r := g.rng.Float64(); {
		case r < 0.10:
			dup = append(dup, s)
		case r < 0.15:
			c := *s
			c.Post.Fetched = c.Post.Fetched.Add(10 * time.Minute)
			dup = append(dup, &c)
		}
	}
	writeScenario(t, "dupes.jsonl", encodeLines(t, dup))
}
