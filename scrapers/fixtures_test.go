package scrapers

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// goldenBase is the site URL fixtures are parsed at for golden files.
const goldenBase = "https://forum.example"

// route is one line of testdata/<engine>/routes.txt: a page of the
// fixture site. Kinds "extra-listing" and "extra-thread" are parsed for
// golden output but not served: no link leads to them (broken pages).
type route struct {
	kind string
	path string
	file string
}

func (r route) pageKind() Kind {
	if strings.HasSuffix(r.kind, "thread") {
		return Thread
	}
	return Listing
}

func (r route) served() bool { return !strings.HasPrefix(r.kind, "extra") }

func loadRoutes(t testing.TB, engine string) []route {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", engine, "routes.txt"))
	if err != nil {
		t.Fatalf("engine %s has no fixtures: %v (every registered engine needs testdata/%s/routes.txt)", engine, err, engine)
	}
	defer f.Close()
	var out []route
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		p := strings.Fields(l)
		if len(p) != 3 {
			t.Fatalf("%s/routes.txt: bad line %q", engine, l)
		}
		out = append(out, route{kind: p[0], path: p[1], file: p[2]})
	}
	return out
}

func readFixture(t testing.TB, engine, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", engine, file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureSite reads testdata/<engine>/site.yaml, pointed at base.
func fixtureSite(t testing.TB, engine, base string) config.Site {
	t.Helper()
	var s config.Site
	b := readFixture(t, engine, "site.yaml")
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s/site.yaml: %v", engine, err)
	}
	s.URL = base + "/"
	s.AllowPrivate = true
	return s
}

// normPath keys a request by path and sorted query, as fixture routes are.
func normPath(u *url.URL) string {
	q := u.Query().Encode()
	if q == "" {
		return u.Path
	}
	return u.Path + "?" + q
}

func normRoute(p string) string {
	u, err := url.Parse(p)
	if err != nil {
		return p
	}
	return normPath(u)
}

// testSite serves an engine's fixture pages like a real site would:
// robots.txt, ETag and Last-Modified with 304s, and pages that tests can
// replace or add while it runs. It counts requests.
type testSite struct {
	*httptest.Server
	mu       sync.Mutex
	pages    map[string][]byte
	ctype    map[string]string
	mod      map[string]time.Time
	requests atomic.Int64
	// cond counts requests that carried a validator.
	cond  atomic.Int64
	log   []string
	robot string
	// hook, when set, may answer a request itself.
	hook func(w http.ResponseWriter, r *http.Request) bool
}

func newTestSite(t testing.TB, engine string) *testSite {
	t.Helper()
	ts := &testSite{pages: map[string][]byte{}, ctype: map[string]string{}, mod: map[string]time.Time{}, robot: "User-agent: *\nDisallow: /private/\n"}
	if engine != "" {
		for _, r := range loadRoutes(t, engine) {
			if r.served() {
				ts.set(r.path, readFixture(t, engine, r.file))
			}
		}
	}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

func contentType(path string, b []byte) string {
	s := strings.TrimSpace(string(b[:min(len(b), 64)]))
	switch {
	case strings.HasPrefix(s, "{") || strings.HasPrefix(s, "["):
		return "application/json; charset=utf-8"
	case strings.HasPrefix(s, "<?xml"):
		return "application/xml; charset=utf-8"
	}
	return "text/html; charset=utf-8"
}

// set replaces (or adds) a page; its Last-Modified moves on.
func (ts *testSite) set(path string, b []byte) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	p := normRoute(path)
	ts.pages[p] = b
	ts.ctype[p] = contentType(p, b)
	ts.mod[p] = time.Now().Truncate(time.Second)
}

func (ts *testSite) page(path string) []byte {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.pages[normRoute(path)]
}

func (ts *testSite) serve(w http.ResponseWriter, r *http.Request) {
	ts.requests.Add(1)
	if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
		ts.cond.Add(1)
	}
	ts.mu.Lock()
	ts.log = append(ts.log, r.URL.RequestURI())
	hook := ts.hook
	ts.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	if r.URL.Path == "/robots.txt" {
		_, _ = w.Write([]byte(ts.robot))
		return
	}
	ts.mu.Lock()
	p := normPath(r.URL)
	b, ok := ts.pages[p]
	ct, mod := ts.ctype[p], ts.mod[p]
	ts.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(b)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", ct)
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if inm == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !mod.After(t) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	_, _ = w.Write(b)
}

// requestLog returns and clears the request log.
func (ts *testSite) requestLog() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	l := ts.log
	ts.log = nil
	return l
}

func (ts *testSite) String() string { return fmt.Sprintf("testSite(%s)", ts.URL) }

// parseAt parses body with e as a page of kind at goldenBase+path, read
// at fixedFetch, failing the test on an error.
func parseAt(t testing.TB, e Engine, path string, kind Kind, body []byte) *Page {
	t.Helper()
	u, err := url.Parse(goldenBase + path)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := e.Parse(&Input{Site: "site", URL: u, Kind: kind, Body: body, Fetched: fixedFetch})
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return pg
}
