package scrapers

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEngineParse holds every registered engine to the Engine contract on
// any bytes: Parse never panics, a failure wraps ErrMarkup or ErrBadPage,
// and what a page yields is valid UTF-8 with links the crawler can follow
// (absolute http or https). The seeds are the engines' fixtures, so the
// fuzzer starts from real markup and mutates it. The first byte of the
// input picks the engine and the page kind.
func FuzzEngineParse(f *testing.F) {
	type fixtureEngine struct {
		name string
		eng  Engine
	}
	var engines []fixtureEngine
	for i, fac := range Engines {
		eng, err := fac.New(fixtureSite(f, fac.Name, goldenBase))
		if err != nil {
			f.Fatalf("%s: %v", fac.Name, err)
		}
		engines = append(engines, fixtureEngine{fac.Name, eng})
		for _, r := range loadRoutes(f, fac.Name) {
			sel := byte(i << 1)
			if r.pageKind() == Thread {
				sel |= 1
			}
			f.Add(sel, r.path, readFixture(f, fac.Name, r.file))
		}
	}
	f.Fuzz(func(t *testing.T, sel byte, path string, body []byte) {
		e := engines[int(sel>>1)%len(engines)]
		kind := Listing
		if sel&1 == 1 {
			kind = Thread
		}
		u, err := url.Parse(goldenBase + "/" + strings.TrimPrefix(path, "/"))
		if err != nil {
			return
		}
		// The fetcher converts the page to UTF-8 and repairs its URL before
		// any engine sees them.
		text, _ := decodeBody(body, "")
		pg, err := e.eng.Parse(&Input{Site: "fuzz", URL: cleanURL(u), Kind: kind, Body: text, Fetched: fixedFetch})
		if err != nil {
			if !errors.Is(err, ErrMarkup) && !errors.Is(err, ErrBadPage) {
				t.Fatalf("%s: error %q wraps neither ErrMarkup nor ErrBadPage", e.name, err)
			}
			return
		}
		if pg == nil {
			t.Fatalf("%s: nil page without an error", e.name)
		}
		link := func(what, s string, optional bool) {
			if s == "" && optional {
				return
			}
			l, err := url.Parse(s)
			if err != nil || !l.IsAbs() || (l.Scheme != "http" && l.Scheme != "https") || l.Host == "" {
				t.Fatalf("%s: %s %q is not an absolute http(s) URL", e.name, what, s)
			}
		}
		for _, p := range pg.Posts {
			for _, s := range append([]string{p.SitePostID, p.Text, p.Author, p.Thread, p.ThreadID, p.URL}, p.Quoted...) {
				if !utf8.ValidString(s) {
					t.Fatalf("%s: post %q has invalid UTF-8", e.name, p.SitePostID)
				}
			}
			link("post URL", p.URL, true)
		}
		for _, th := range pg.Threads {
			if !utf8.ValidString(th.ID) || !utf8.ValidString(th.Title) {
				t.Fatalf("%s: thread %q has invalid UTF-8", e.name, th.ID)
			}
			link("thread URL", th.URL, false)
		}
		link("next page", pg.Next, true)
		link("older page", pg.Older, true)
	})
}
