package scrapers

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// A UTF-8 page whose header says iso-8859-1 (a common server default) was
// converted by the header into mojibake: "Gartenstraße" reached the
// classifiers and the redaction as "GartenstraÃ\u009fe", Cyrillic and
// emoji unreadable. Bytes that are all valid UTF-8, with some over 0x7F,
// are almost never text in a single-byte encoding, so such a page is read
// as UTF-8; a page that really is in Latin-1 is still converted by its
// header.
func TestCrawlReadsUTF8MislabelledAsLatin1(t *testing.T) {
	const words = "Gartenstraße 12, я знаю твой адрес 🔪"
	for _, tc := range []struct {
		engine, ctype string
	}{
		{"phpbb", "text/html; charset=iso-8859-1"},
		{"xenforo", "text/html; charset=ISO-8859-1"},
		{"generic", "text/html; charset=latin1"},
		{"rss", "application/rss+xml; charset=windows-1252"},
		{"discourse", "application/json; charset=iso-8859-1"},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			ref, mis := newTestSite(t, tc.engine), newTestSite(t, tc.engine)
			for _, r := range loadRoutes(t, tc.engine) {
				if !r.served() {
					continue
				}
				u := []byte(strings.NewReplacer(" to ", " to "+words+" ", " is ", " is "+words+" ").Replace(string(readFixture(t, tc.engine, r.file))))
				ref.set(r.path, u)
				mis.set(r.path, u)
				mis.mu.Lock()
				mis.ctype[normRoute(r.path)] = tc.ctype
				mis.mu.Unlock()
			}
			assertSameTexts(t, crawlTexts(t, tc.engine, ref), crawlTexts(t, tc.engine, mis), words)
		})
	}
}

// A page really in Latin-1 (bytes such as 0xDF and 0xE9, not valid UTF-8)
// keeps its header's charset, whatever its markup says.
func TestCrawlReadsARealLatin1PageByItsHeader(t *testing.T) {
	const words = "Gartenstraße 12, café «ici»"
	for _, tc := range []struct {
		engine, ctype string
	}{
		{"phpbb", "text/html; charset=iso-8859-1"},
		{"generic", "text/html; charset=latin1"},
		{"rss", "application/rss+xml; charset=ISO-8859-1"},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			ref, leg := newTestSite(t, tc.engine), newTestSite(t, tc.engine)
			for _, r := range loadRoutes(t, tc.engine) {
				if !r.served() {
					continue
				}
				// The markup says utf-8 as before: the header wins.
				l, u := legacyPage(t, readFixture(t, tc.engine, r.file), charmap.Windows1252, "utf-8", words)
				ref.set(r.path, u)
				leg.set(r.path, l)
				leg.mu.Lock()
				leg.ctype[normRoute(r.path)] = tc.ctype
				leg.mu.Unlock()
			}
			assertSameTexts(t, crawlTexts(t, tc.engine, ref), crawlTexts(t, tc.engine, leg), words)
		})
	}
}

func assertSameTexts(t *testing.T, want, got map[string]string, words string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("the reference site yielded no posts")
	}
	native := 0
	for id, w := range want {
		if strings.Contains(w, words) {
			native++
		}
		if g, ok := got[id]; !ok || g != w {
			t.Errorf("post %s:\n got %q\nwant %q", id, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d posts, want %d", len(got), len(want))
	}
	if native == 0 {
		t.Error("no post carries the words: the test tests nothing")
	}
}

// The fetcher hands an engine the page as UTF-8 in both cases, says which
// it converted, and logs a mislabelled page at debug level without a word
// of its text.
func TestFetcherReadsASingleByteHeaderCharset(t *testing.T) {
	const text = "Gartenstraße, Привет 🔪"
	latin1, err := charmap.Windows1252.NewEncoder().String("Gartenstraße, café")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ctype, body string
		want, from        string
		logged            bool
	}{
		{"UTF-8 labelled iso-8859-1", "text/html; charset=iso-8859-1", "<p>" + text, "<p>" + text, "", true},
		{"UTF-8 labelled windows-1251", "text/html; charset=windows-1251", "<p>" + text, "<p>" + text, "", true},
		{"ASCII labelled iso-8859-1", "text/html; charset=iso-8859-1", "<p>ok", "<p>ok", "", false},
		{"Latin-1 labelled iso-8859-1", "text/html; charset=iso-8859-1", "<p>" + latin1, "<p>Gartenstraße, café", "windows-1252", false},
		{"windows-1251 labelled so", "text/html; charset=windows-1251", "<p>" + encodeIn(t, charmap.Windows1251, "Привет"), "<p>Привет", "windows-1251", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			var logs bytes.Buffer
			f := testFetcher(t, nil)
			f.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			r, err := f.Get(context.Background(), srv.URL+"/", Validators{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logs.String(), "read as UTF-8"); got != tc.logged {
				t.Errorf("logged %v, want %v: %q", got, tc.logged, logs.String())
			}
			for _, w := range []string{"Gartenstra", "Привет", "café", "caf"} {
				if strings.Contains(logs.String(), w) {
					t.Errorf("the log holds page text %q: %q", w, logs.String())
				}
			}
			if string(r.Body) != tc.want || r.Charset != tc.from || r.ContentType != tc.ctype {
				t.Errorf("body %q from %q (Content-Type %q)\nwant %q from %q (Content-Type %q)", r.Body, r.Charset, r.ContentType, tc.want, tc.from, tc.ctype)
			}
		})
	}
}
