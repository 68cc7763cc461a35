package scrapers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"

	"github.com/threatwatch/threatwatch/config"
)

// max_body_bytes bounds what an engine is handed, and that is the page in
// UTF-8: a page in windows-1251 grows to twice its size when converted,
// one in Shift_JIS by half. Checked only before the conversion, a page
// just under the cap reached the engine at up to three times it. And a
// page whose conversion shrinks it (UTF-16) was cut at the cap and then
// passed the check, parsed half.
func TestMaxBodyBytesHoldsForTheConvertedPage(t *testing.T) {
	const limit = 32 << 10
	page := func(t *testing.T, meta string, body string) []byte {
		return []byte(`<html><head>` + meta + `</head><body>` + body + `</body></html>`)
	}
	cyr := func(n int) string { return strings.Repeat("Я", n) }
	for _, tc := range []struct {
		name    string
		ctype   string
		body    func(t *testing.T) []byte
		chunked bool
		want    string // "" for a page that passes
	}{
		{
			name:  "windows-1251 declared in the page, under the cap as sent, over it converted",
			ctype: "text/html",
			body: func(t *testing.T) []byte {
				return page(t, `<meta charset="windows-1251">`, encodeIn(t, charmap.Windows1251, cyr(limit*3/4)))
			},
			want: "too_large",
		},
		{
			name:  "Shift_JIS declared in the page, under the cap as sent, over it converted",
			ctype: "text/html",
			body: func(t *testing.T) []byte {
				return page(t, `<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">`, encodeIn(t, japanese.ShiftJIS, strings.Repeat("日", limit*3/8)))
			},
			want: "too_large",
		},
		{
			name:  "windows-1251 declared in the header, under the cap as sent, over it converted",
			ctype: "text/html; charset=windows-1251",
			body: func(t *testing.T) []byte {
				return page(t, "", encodeIn(t, charmap.Windows1251, cyr(limit*3/4)))
			},
			want: "too_large",
		},
		{
			name:  "UTF-16 declared in the header, over the cap as sent, under it converted",
			ctype: "text/html; charset=utf-16le",
			body: func(t *testing.T) []byte {
				return []byte(encodeIn(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), string(page(t, "", strings.Repeat("a", limit*3/4)))))
			},
			chunked: true,
			want:    "too_large",
		},
		{
			name:  "windows-1251 within the cap converted",
			ctype: "text/html",
			body: func(t *testing.T) []byte {
				return page(t, `<meta charset="windows-1251">`, encodeIn(t, charmap.Windows1251, cyr(limit/2-100)))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				if tc.chunked {
					w.(http.Flusher).Flush() // no Content-Length
				}
				_, _ = w.Write(body)
			}))
			defer srv.Close()
			f := testFetcher(t, func(c *config.Scrape, s *config.Site) { c.MaxBodyBytes = limit })
			resp, err := f.Get(context.Background(), srv.URL+"/t", Validators{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(resp.Body) > limit {
					t.Fatalf("handed on %d bytes, over the cap of %d", len(resp.Body), limit)
				}
				return
			}
			if got := fetchErrReason(err); got != tc.want {
				n := -1
				if resp != nil {
					n = len(resp.Body)
				}
				t.Fatalf("reason %q (err %v, %d bytes handed on); want %q", got, err, n, tc.want)
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("%v does not wrap ErrTooLarge", err)
			}
			if got := testutil.ToFloat64(f.metrics.Drops.WithLabelValues("t", "too_large")); got != 1 {
				t.Errorf("drops{reason=too_large} = %v, want 1", got)
			}
		})
	}
}
