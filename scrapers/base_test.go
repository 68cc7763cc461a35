package scrapers

import (
	"net/url"
	"strings"
	"testing"
)

func TestDocBase(t *testing.T) {
	page, _ := url.Parse("https://forum.example/forums/general.2/page-3")
	for _, tc := range []struct{ html, want string }{
		{`<head><base href="https://forum.example/"></head>`, "https://forum.example/"},
		{`<head><base href="/community/"></head>`, "https://forum.example/community/"},
		{`<head><base target="_blank"><base href="../"></head>`, "https://forum.example/forums/"},
		{`<head><base href="/a/"><base href="/b/"></head>`, "https://forum.example/a/"},
		{`<head><base href="javascript:alert(1)"></head>`, page.String()},
		{`<head><base href="https://[::1"></head>`, page.String()},
		{`<head></head><p>no base</p>`, page.String()},
	} {
		doc, err := parseHTML([]byte(tc.html))
		if err != nil {
			t.Fatal(err)
		}
		if got := docBase(page, doc).String(); got != tc.want {
			t.Errorf("%s: base %s, want %s", tc.html, got, tc.want)
		}
	}
}

// A XenForo 1 board writes its links relative to <base href> ("threads/
// slug.10/" on a listing at /forums/general.2/). Resolved against the
// page's own URL they pointed below the listing, and no thread was found.
func TestCrawlResolvesLinksAgainstBaseHref(t *testing.T) {
	ref, based := newTestSite(t, "xenforo"), newTestSite(t, "xenforo")
	for _, r := range loadRoutes(t, "xenforo") {
		if !r.served() {
			continue
		}
		page := string(readFixture(t, "xenforo", r.file))
		if !strings.Contains(page, "<head>") {
			t.Fatalf("%s has no <head>", r.file)
		}
		page = strings.ReplaceAll(page, `href="/`, `href="`)
		based.set(r.path, []byte(strings.Replace(page, "<head>", `<head><base href="/">`, 1)))
	}
	want, got := crawlTexts(t, "xenforo", ref), crawlTexts(t, "xenforo", based)
	if len(want) == 0 {
		t.Fatal("the reference site yielded no posts")
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			t.Errorf("post %s:\n got %q\nwant %q", id, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d posts, want %d", len(got), len(want))
	}
}
