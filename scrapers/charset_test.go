package scrapers

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

func encodeIn(t testing.TB, e encoding.Encoding, s string) string {
	t.Helper()
	b, err := e.NewEncoder().String(s)
	if err != nil {
		t.Fatalf("cannot encode %q: %v", s, err)
	}
	return b
}

func TestDecodeBody(t *testing.T) {
	const ru = "Я знаю, где ты живёшь"
	cp := func(s string) string { return encodeIn(t, charmap.Windows1251, s) }
	sjis := encodeIn(t, japanese.ShiftJIS, "お前の家を知っている")
	utf16le := encodeIn(t, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), "<p>"+ru+"</p>")
	utf16be := encodeIn(t, unicode.UTF16(unicode.BigEndian, unicode.UseBOM), "<p>"+ru+"</p>")
	for _, tc := range []struct {
		name, ctype, body string
		want, from        string
	}{
		{"meta charset", "text/html", `<head><meta charset="windows-1251"></head><p>` + cp(ru), `<head><meta charset="windows-1251"></head><p>` + ru, "windows-1251"},
		{"meta charset, unquoted and upper case", "text/html", `<HEAD><META CHARSET=Windows-1251><p>` + cp(ru), `<HEAD><META CHARSET=Windows-1251><p>` + ru, "windows-1251"},
		{"meta http-equiv", "", `<meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><p>` + cp(ru), `<meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><p>` + ru, "windows-1251"},
		{"meta http-equiv, loose content", "", `<meta http-equiv=content-type content="text/html;charset='cp1251' foo"><p>` + cp(ru), `<meta http-equiv=content-type content="text/html;charset='cp1251' foo"><p>` + ru, "windows-1251"},
		{"the first of two charsets counts", "", `<meta charset="koi8-r" charset="windows-1251">` + encodeIn(t, charmap.KOI8R, ru), `<meta charset="koi8-r" charset="windows-1251">` + ru, "koi8-r"},
		{"a label the standard maps (koi8-r)", "", `<meta charset="koi8-r">` + encodeIn(t, charmap.KOI8R, ru), `<meta charset="koi8-r">` + ru, "koi8-r"},
		{"Shift_JIS", "text/html", `<meta charset="Shift_JIS"><p>` + sjis, `<meta charset="Shift_JIS"><p>お前の家を知っている`, "shift_jis"},
		{"XML declaration", "application/rss+xml", `<?xml version="1.0" encoding="windows-1251"?><rss><title>` + cp(ru) + `</title></rss>`, `<?xml version="1.0" encoding="windows-1251"?><rss><title>` + ru + `</title></rss>`, "windows-1251"},
		{"XML declaration, single quotes, leading space", "", "\n <?xml version='1.0' encoding='GBK'?><a>" + encodeIn(t, simplifiedchinese.GBK, "地址") + "</a>", "\n <?xml version='1.0' encoding='GBK'?><a>地址</a>", "gbk"},
		{"UTF-16 LE with its mark", "text/html", utf16le, "<p>" + ru + "</p>", "utf-16le"},
		{"UTF-16 BE with its mark", "text/html", utf16be, "<p>" + ru + "</p>", "utf-16be"},
		{"a UTF-8 mark is dropped", "application/json", "\xef\xbb\xbf{\"a\":\"ж\"}", "{\"a\":\"ж\"}", ""},

		// Left as they are, or repaired byte by byte as before.
		{"valid UTF-8 whatever the page says", "text/html", `<meta charset="windows-1251"><p>` + ru, `<meta charset="windows-1251"><p>` + ru, ""},
		{"a multi-byte header charset: colly converted it", "text/html; charset=shift_jis", `<meta charset="koi8-r"><p>ok` + cp("ж"), `<meta charset="koi8-r"><p>ok` + "\uFFFD", ""},
		{"a header charset on an image: not text", "image/svg+xml; charset=windows-1251", "<svg>" + cp("ж"), "<svg>\uFFFD", ""},

		// A single-byte header charset: colly leaves it to decodeBody,
		// which reads UTF-8 as UTF-8 and converts the rest.
		{"UTF-8 labelled iso-8859-1", "text/html; charset=iso-8859-1", "<p>Gartenstraße " + ru + " 🔪", "<p>Gartenstraße " + ru + " 🔪", ""},
		{"UTF-8 labelled koi8-r", "text/html; charset=KOI8-R", "<p>" + ru, "<p>" + ru, ""},
		{"ASCII labelled latin1", "text/html; charset=latin1", "<p>ok", "<p>ok", ""},
		{"Latin-1 labelled iso-8859-1", "text/html; charset=iso-8859-1", "<p>Gartenstra\xdfe caf\xe9", "<p>Gartenstraße café", "windows-1252"},
		{"the header wins over the page", "text/html; charset=windows-1251", `<meta charset="koi8-r"><p>ok` + cp("ж"), `<meta charset="koi8-r"><p>ok` + "ж", "windows-1251"},
		{"mostly UTF-8 with one Latin-1 byte keeps the header", "text/plain; charset=iso-8859-1", "Straße caf\xe9", "StraÃŸe café", "windows-1252"},
		{"no declaration", "text/html", "<p>ok " + cp("ж"), "<p>ok \uFFFD", ""},
		{"an unknown label", "text/html", `<meta charset="x-martian"><p>` + cp("ж"), `<meta charset="x-martian"><p>` + "\uFFFD", ""},
		{"a UTF-8 label on bytes that are not", "text/html", `<meta charset="utf-8"><p>ok ` + cp("ж"), `<meta charset="utf-8"><p>ok ` + "\uFFFD", ""},
		{"UTF-16 named without a mark reads as UTF-8", "text/html", `<meta charset="utf-16"><p>` + cp("ж"), `<meta charset="utf-16"><p>` + "\uFFFD", ""},
		{"a declaration past the first 1,024 bytes", "text/html", "<!--" + strings.Repeat("x", 1100) + `--><meta charset="windows-1251"><p>` + cp("ж"), "<!--" + strings.Repeat("x", 1100) + `--><meta charset="windows-1251"><p>` + "\uFFFD", ""},
		{"a charset in text, not in a meta", "text/html", `<p>charset="windows-1251" ` + cp("ж"), `<p>charset="windows-1251" ` + "\uFFFD", ""},
		{"NUL bytes still go", "text/html", `<meta charset="windows-1251"><p>a` + "\x00" + cp("ж"), `<meta charset="windows-1251"><p>a ж`, "windows-1251"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, from := decodeBody([]byte(tc.body), tc.ctype)
			if string(got) != tc.want || from != tc.from {
				t.Errorf("decodeBody = %q from %q\nwant         %q from %q", got, from, tc.want, tc.from)
			}
		})
	}
}

// FuzzDecodeBody holds the conversion to what every engine relies on: the
// result is valid UTF-8 without NUL bytes, and a body that was already
// clean UTF-8 (without a byte-order mark) is left exactly as it was.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`<meta charset="windows-1251"><p>`+"\xcf\xf0\xe8"), "text/html")
	f.Add([]byte(`<?xml version="1.0" encoding="Shift_JIS"?><a>`+"\x82\xb1\x82"), "")
	f.Add([]byte("\xff\xfe<\x00p\x00\x00\xd8"), "text/html")
	f.Add([]byte("\xfe\xff\x00<"), "")
	f.Add([]byte("\xef\xbb\xbf{}"), "application/json")
	f.Add([]byte(`<meta http-equiv="content-type" content="charset=gb18030">`+"\x81\x30\x81"), "text/html; charset")
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		got, from := decodeBody(body, ctype)
		if !utf8.Valid(got) || bytes.IndexByte(got, 0) >= 0 {
			t.Fatalf("decodeBody(%q) from %q = %q: not clean UTF-8", body, from, got)
		}
		clean := utf8.Valid(body) && bytes.IndexByte(body, 0) < 0 && !bytes.HasPrefix(body, []byte("\xef\xbb\xbf"))
		if clean && (!bytes.Equal(got, body) || from != "") {
			t.Fatalf("decodeBody changed clean UTF-8 %q to %q (from %q)", body, got, from)
		}
	})
}

var (
	utf8Meta   = regexp.MustCompile(`(?i)(charset="?)utf-8`)
	utf8XMLDec = regexp.MustCompile(`(?i)encoding="UTF-8"`)
)

// legacyPage re-encodes a fixture page, declares the encoding only in the
// markup (as a forum that does not set the header does), and puts words
// of the encoding's language into the text so that there is something to
// lose. It returns the page as served and the same page in UTF-8 with the
// same text, for the reference site.
func legacyPage(t *testing.T, page []byte, enc encoding.Encoding, label, words string) (legacy, reference []byte) {
	t.Helper()
	s := strings.NewReplacer(" to ", " to "+words+" ", " is ", " is "+words+" ").Replace(string(page))
	switch {
	case utf8XMLDec.MatchString(s):
		s = utf8XMLDec.ReplaceAllString(s, `encoding="`+label+`"`)
	case utf8Meta.MatchString(s):
		s = utf8Meta.ReplaceAllString(s, `${1}`+label)
	case strings.Contains(s, "<head>"):
		s = strings.Replace(s, "<head>", `<head><meta charset="`+label+`">`, 1)
	default:
		t.Fatalf("no place to declare the charset in %.80q", s)
	}
	// Characters the encoding lacks (an emoji) become its replacement byte
	// on both sites, so the two hold the same text.
	l, err := encoding.ReplaceUnsupported(enc.NewEncoder()).String(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := enc.NewDecoder().String(l)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(l), []byte(r)
}

// A forum that names its charset only in its pages (<meta charset>, an
// XML declaration) or by a byte-order mark is read as a browser reads it:
// every engine yields the same posts as from the same site served in plain
// UTF-8. Before, each character over 0x7F of such a page became U+FFFD,
// and a JSON page behind a UTF-8 mark did not parse.
func TestCrawlReadsACharsetDeclaredInThePage(t *testing.T) {
	for _, tc := range []struct {
		engine, label, words, ctype string
		enc                         encoding.Encoding
	}{
		{"rss", "windows-1251", "я знаю твой адрес", "application/rss+xml", charmap.Windows1251},
		{"phpbb", "windows-1251", "я знаю твой адрес", "text/html", charmap.Windows1251},
		{"xenforo", "Shift_JIS", "お前の住所を知っている", "text/html", japanese.ShiftJIS},
		{"generic", "GBK", "我知道你的地址", "text/html", simplifiedchinese.GBK},
		// JSON in UTF-8 behind a byte-order mark, which encoding/json
		// refuses: the engines saw a broken page.
		{"reddit", "", "", "application/json", nil},
		{"discourse", "", "", "application/json", nil},
		{"imageboard", "", "", "application/json", nil},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			ref, leg := newTestSite(t, tc.engine), newTestSite(t, tc.engine)
			for _, r := range loadRoutes(t, tc.engine) {
				if !r.served() {
					continue
				}
				var l, u []byte
				if tc.enc == nil {
					u = readFixture(t, tc.engine, r.file)
					l = append([]byte("\xef\xbb\xbf"), u...)
				} else {
					l, u = legacyPage(t, readFixture(t, tc.engine, r.file), tc.enc, tc.label, tc.words)
				}
				ref.set(r.path, u)
				leg.set(r.path, l)
				leg.mu.Lock()
				leg.ctype[normRoute(r.path)] = tc.ctype
				leg.mu.Unlock()
			}
			want := crawlTexts(t, tc.engine, ref)
			got := crawlTexts(t, tc.engine, leg)
			if len(want) == 0 {
				t.Fatal("the reference site yielded no posts")
			}
			native := 0
			for id, w := range want {
				if strings.Contains(w, tc.words) {
					native++
				}
				if g, ok := got[id]; !ok || g != w {
					t.Errorf("post %s:\n got %q\nwant %q", id, g, w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d posts, want %d", len(got), len(want))
			}
			if native == 0 && tc.words != "" {
				t.Errorf("no post carries the %s words: the test tests nothing", tc.label)
			}
		})
	}
}

// crawlTexts crawls a site once and returns, by each post's id on the
// site, what it says and where it is (its links without the test server's
// host, which differs from site to site).
func crawlTexts(t *testing.T, engine string, ts *testSite) map[string]string {
	t.Helper()
	h := newHarness(t, engine, ts, nil)
	doRound(t, h)
	out := map[string]string{}
	for _, p := range h.posts() {
		if strings.ContainsRune(p.Text+p.Thread+p.Author, utf8.RuneError) {
			t.Errorf("post %s has U+FFFD: %q", p.SitePostID, p.Text)
		}
		out[p.SitePostID] = strings.Join(append([]string{p.Author, p.Thread, p.ThreadID,
			strings.TrimPrefix(p.URL, ts.URL), strings.TrimPrefix(p.ThreadURL, ts.URL), p.Text}, p.Quoted...), "\n")
	}
	return out
}

// The fetcher is where the conversion happens, whatever engine reads the
// page: a page with <meta charset> only reaches it converted.
func TestFetcherConvertsADeclaredCharset(t *testing.T) {
	body := `<html><head><meta charset="windows-1251"></head><body>` + encodeIn(t, charmap.Windows1251, "Привет") + `</body></html>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	r, err := testFetcher(t, nil).Get(context.Background(), srv.URL+"/", Validators{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.Body), "<body>Привет</body>") || r.Charset != "windows-1251" {
		t.Fatalf("body %q converted from %q", r.Body, r.Charset)
	}
}

func TestContentCharset(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"text/html; charset=windows-1251", "windows-1251"},
		{"text/html;CHARSET = 'koi8-r' ; x", "koi8-r"},
		{`text/html; charset="shift_jis`, ""},
		{"charsetx; charset=gbk", "gbk"},
		{"text/html; charset=euc-jp;x", "euc-jp"},
		{"text/html; charset=", ""},
		{"text/html", ""},
		{"İİ charset=koi8-r", "koi8-r"},
	} {
		if got := contentCharset(tc.in); got != tc.want {
			t.Errorf("contentCharset(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
