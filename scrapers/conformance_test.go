package scrapers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

var fixedFetch = time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)

type goldenResult struct {
	Page  *Page  `json:"page,omitempty"`
	Error string `json:"error,omitempty"`
}

func parseFixture(t testing.TB, eng Engine, engine string, r route) (*Page, error) {
	u, _ := url.Parse(goldenBase + r.path)
	in := &Input{Site: "fixture", URL: u, Kind: r.pageKind(), Body: decoded(readFixture(t, engine, r.file)), Fetched: fixedFetch}
	return eng.Parse(in)
}

// TestConformance runs every registered engine through the same checks;
// a new engine is covered the moment it is added to Engines.
func TestConformance(t *testing.T) {
	for _, f := range Engines {
		t.Run(f.Name, func(t *testing.T) {
			routes := loadRoutes(t, f.Name)
			site := fixtureSite(t, f.Name, goldenBase)
			if site.Engine != f.Name {
				t.Fatalf("site.yaml names engine %q", site.Engine)
			}
			eng, err := f.New(site)
			if err != nil {
				t.Fatalf("factory: %v", err)
			}
			t.Run("parses every fixture as its golden file says", func(t *testing.T) {
				for _, r := range routes {
					pg, err := parseFixture(t, eng, f.Name, r)
					res := goldenResult{Page: pg}
					if err != nil {
						res = goldenResult{Error: err.Error()}
					}
					got, _ := json.MarshalIndent(res, "", "  ")
					got = append(got, '\n')
					gp := filepath.Join("testdata", f.Name, strings.TrimSuffix(r.file, filepath.Ext(r.file))+".golden.json")
					if *update {
						if err := os.WriteFile(gp, got, 0o644); err != nil {
							t.Fatal(err)
						}
						continue
					}
					want, err := os.ReadFile(gp)
					if err != nil {
						t.Fatalf("%v (run go test -update)", err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s: parse differs from %s (go test -update to accept):\n%s", r.file, gp, firstDiff(string(want), string(got)))
					}
				}
			})
			t.Run("fills the fields every post needs", func(t *testing.T) {
				total := 0
				for _, r := range routes {
					pg, err := parseFixture(t, eng, f.Name, r)
					if err != nil {
						continue
					}
					checkPage(t, r, pg)
					total += len(pg.Posts)
				}
				if total == 0 {
					t.Fatal("no fixture yields a post")
				}
			})
			t.Run("never panics on broken or hostile bytes", func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, 2))
				inputs := [][]byte{nil, {}, []byte("{"), []byte("["), []byte("<html>"), []byte("null"), []byte("\x00\xff\xfe"), []byte(`{"posts":null}`), []byte(`[{"threads":[{"no":"x"}]}]`), []byte("<rss><channel><item>")}
				for _, r := range routes {
					b := readFixture(t, f.Name, r.file)
					for _, cut := range []int{1, len(b) / 3, len(b) / 2, len(b) - 1} {
						if cut > 0 && cut < len(b) {
							inputs = append(inputs, b[:cut])
						}
					}
					garbled := bytes.Clone(b)
					for i := 0; i < len(garbled)/50; i++ {
						garbled[rng.IntN(len(garbled))] = byte(rng.IntN(256))
					}
					inputs = append(inputs, garbled)
				}
				u, _ := url.Parse(goldenBase + "/x")
				for i, b := range inputs {
					for _, k := range []Kind{Listing, Thread} {
						func() {
							defer func() {
								if p := recover(); p != nil {
									t.Errorf("input %d (%d bytes, %v): panic: %v", i, len(b), k, p)
								}
							}()
							_, _ = eng.Parse(&Input{Site: "fixture", URL: u, Kind: k, Body: decoded(b), Fetched: fixedFetch})
						}()
					}
				}
			})
			t.Run("crawls its fixture site once and then finds nothing new", func(t *testing.T) {
				want := map[string]bool{}
				for _, r := range routes {
					if !r.served() {
						continue
					}
					pg, err := parseFixture(t, eng, f.Name, r)
					if err != nil {
						continue
					}
					for _, p := range pg.Posts {
						want[p.SitePostID] = true
					}
				}
				ts := newTestSite(t, f.Name)
				h := newHarness(t, f.Name, ts, nil)
				st, err := h.c.Round(context.Background())
				if err != nil {
					t.Fatalf("first round: %v", err)
				}
				got := h.posts()
				ids := map[string]bool{}
				for _, p := range got {
					if ids[p.ID] {
						t.Errorf("post %s emitted twice", p.SitePostID)
					}
					ids[p.ID] = true
					if !p.Backfill {
						t.Errorf("post %s of the first crawl not marked backfill", p.SitePostID)
					}
					if p.Site != "fx" || p.Engine != f.Name || p.ContentHash == "" || p.Fetched.IsZero() {
						t.Errorf("post %s lacks crawler fields: site %q engine %q hash %q", p.SitePostID, p.Site, p.Engine, p.ContentHash)
					}
					if err := p.Validate(); err != nil {
						t.Errorf("post %s: %v", p.SitePostID, err)
					}
					delete(want, p.SitePostID)
				}
				for id := range want {
					t.Errorf("post %s of a served fixture page was not collected", id)
				}
				if st.Posts != len(got) || len(got) == 0 {
					t.Errorf("round stats say %d posts, sink got %d", st.Posts, len(got))
				}
				h.reset()
				st2, err := h.c.Round(context.Background())
				if err != nil {
					t.Fatalf("second round: %v", err)
				}
				if n := len(h.posts()); n != 0 {
					t.Errorf("second round over an unchanged site emitted %d posts", n)
				}
				if st2.NotModified == 0 {
					t.Errorf("second round made no conditional request that came back 304 (%+v)", st2)
				}
				if h.c.Health().State != HealthOK {
					t.Errorf("health %q after good rounds", h.c.Health().State)
				}
			})
		})
	}
}

func checkPage(t *testing.T, r route, pg *Page) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range pg.Posts {
		where := r.file + " post " + p.SitePostID
		if p.SitePostID == "" {
			t.Errorf("%s: post without site id", r.file)
			continue
		}
		if seen[p.SitePostID] {
			t.Errorf("%s: duplicate post id", where)
		}
		seen[p.SitePostID] = true
		if u, err := url.Parse(p.URL); err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") {
			t.Errorf("%s: URL %q is not absolute http(s)", where, p.URL)
		}
		if p.Published.Year() < 2000 || p.Published.Year() > 2100 {
			t.Errorf("%s: published %v", where, p.Published)
		}
		if p.Text == "" && len(p.Quoted) == 0 {
			t.Errorf("%s: no text", where)
		}
		if p.ThreadID == "" && r.pageKind() == Thread {
			t.Errorf("%s: no thread id on a thread page", where)
		}
		for _, s := range append([]string{p.Text, p.Author, p.Thread}, p.Quoted...) {
			if !utf8.ValidString(s) {
				t.Errorf("%s: invalid UTF-8", where)
			}
			if strings.Contains(s, "alert(1)") || strings.Contains(s, "<div") || strings.Contains(s, "<br") {
				t.Errorf("%s: markup or script text leaked: %q", where, s)
			}
		}
		for _, q := range p.Quoted {
			if len(q) > 24 && strings.Contains(p.Text, q) {
				t.Errorf("%s: quoted text also in own text: %q", where, q)
			}
		}
	}
	for _, th := range pg.Threads {
		if th.ID == "" || th.URL == "" {
			t.Errorf("%s: thread without id or URL: %+v", r.file, th)
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return "(same lines, different bytes)"
}

// harness is a crawler over a test site with a real Redis and a sink
// that keeps what it gets.
type harness struct {
	t     testing.TB
	c     *Crawler
	cfg   *config.Scrape
	store *store.Store
	mu    sync.Mutex
	got   []msg.Post
	fail  error
}

func testScrapeConfig() *config.Scrape {
	c := config.Default().Scrape
	c.RateLimit.Delay = 0
	c.Backfill.MaxAge = 100 * 365 * 24 * time.Hour
	c.Backfill.MaxPages = 50
	c.RequestTimeout = 5 * time.Second
	c.StaleAfter = time.Minute
	return &c
}

func newHarness(t testing.TB, engine string, ts *testSite, s *store.Store) *harness {
	t.Helper()
	if s == nil {
		s = redistest.New(t)
	}
	h := &harness{t: t, cfg: testScrapeConfig(), store: s}
	site := fixtureSite(t, engine, ts.URL)
	site.Name = "fx"
	h.cfg.Sites = []config.Site{site}
	h.build(site)
	return h
}

func (h *harness) build(site config.Site) {
	h.t.Helper()
	c, err := NewCrawler(h.cfg, site, h.store, h.sink, Options{Log: discardLog()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
}

func (h *harness) sink(_ context.Context, posts []msg.Post) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return h.fail
	}
	h.got = append(h.got, posts...)
	return nil
}

func (h *harness) posts() []msg.Post {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]msg.Post(nil), h.got...)
}

func (h *harness) reset() {
	h.mu.Lock()
	h.got = nil
	h.mu.Unlock()
}

// decoded is a body as the fetcher hands it to an engine.
func decoded(b []byte) []byte {
	out, _ := decodeBody(b, "")
	return out
}
