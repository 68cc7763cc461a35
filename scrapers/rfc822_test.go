package scrapers

import (
	"net/url"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// RSS 2.0 dates are RFC 822 dates, whose zones include the North American
// names (EST, PDT, ...), "UT" and "Z", and whose weekday is optional. Go
// reads a zone name it does not know as UTC, which put a post of a feed
// dated in EST five hours early.
func TestRFC822DatesKeepTheirZone(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, ok := parseTime(in, "", nil)
		if want == "" {
			if ok {
				t.Errorf("parseTime(%q) = %v, want unread", in, got)
			}
			return
		}
		w, _ := time.Parse(time.RFC3339, want)
		if !ok || !got.Equal(w) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, ok, w)
		}
	}
	f("Mon, 12 Jan 2026 14:00:00 EST", "2026-01-12T19:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 EDT", "2026-01-12T18:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 CST", "2026-01-12T20:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 MDT", "2026-01-12T20:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 PST", "2026-01-12T22:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 PDT", "2026-01-12T21:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 GMT", "2026-01-12T14:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 UT", "2026-01-12T14:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 Z", "2026-01-12T14:00:00Z")
	f("Mon, 12 Jan 2026 14:00:00 +0300", "2026-01-12T11:00:00Z")
	f("12 Jan 2026 14:00:00 EST", "2026-01-12T19:00:00Z")
	f("Mon, 12 Jan 2026 14:00 PST", "2026-01-12T22:00:00Z")
	// A zone name that is not RFC 822's and means different offsets in
	// different places is no offset at all: better unread than hours off.
	f("Mon, 12 Jan 2026 14:00:00 IST", "")

	t.Run("an RSS item dated in EST is published at that instant", func(t *testing.T) {
		feed := `<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>
<item><guid>a1</guid><link>https://feed.example/a1</link><title>One</title>
<pubDate>Mon, 12 Jan 2026 14:00:00 EST</pubDate><description>posted in the evening, Eastern</description></item>
</channel></rss>`
		e, err := newRSS(config.Site{Name: "fx", Engine: "rss", URL: "https://feed.example/"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse("https://feed.example/feed.xml")
		pg, err := e.Parse(&Input{Site: "fx", URL: u, Kind: Listing, Body: []byte(feed), Fetched: time.Now()})
		if err != nil || len(pg.Posts) != 1 {
			t.Fatalf("parse: %v, %+v", err, pg)
		}
		if want := time.Date(2026, 1, 12, 19, 0, 0, 0, time.UTC); !pg.Posts[0].Published.Equal(want) {
			t.Errorf("published %v, want %v", pg.Posts[0].Published, want)
		}
	})
}

// A generic site's own time_format with a zone name ("MST") went straight
// to Go, which reads a name its location does not know as offset zero: a
// post dated "02:00 PM EST" came out five hours early, one in "IST" at an
// offset nobody meant. RFC 822's names keep their offsets, the site's
// zone keeps its own names, and any other name leaves the post undated.
func TestASitesLayoutWithAZoneNameKeepsTheZone(t *testing.T) {
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	const layout = "01-02-2006, 03:04 PM MST"
	for _, c := range []struct {
		in   string
		loc  *time.Location
		want string // "": unread
	}{
		{"01-10-2026, 02:00 PM EST", time.UTC, "2026-01-10T19:00:00Z"},
		{"01-10-2026, 02:00 PM PDT", time.UTC, "2026-01-10T21:00:00Z"},
		{"01-10-2026, 02:00 PM GMT", time.UTC, "2026-01-10T14:00:00Z"},
		{"01-10-2026, 02:00 PM UTC", moscow, "2026-01-10T14:00:00Z"},
		{"01-10-2026, 02:00 PM MSK", moscow, "2026-01-10T11:00:00Z"},
		{"01-10-2026, 02:00 PM IST", time.UTC, ""},
		{"01-10-2026, 02:00 PM MSK", time.UTC, ""},
	} {
		got, ok := parseTime(c.in, layout, c.loc)
		if c.want == "" {
			if ok {
				t.Errorf("parseTime(%q) in %v = %v, want unread", c.in, c.loc, got)
			}
			continue
		}
		w, _ := time.Parse(time.RFC3339, c.want)
		if !ok || !got.Equal(w) {
			t.Errorf("parseTime(%q) in %v = %v, %v; want %v", c.in, c.loc, got, ok, w)
		}
	}
}
