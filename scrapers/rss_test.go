package scrapers

import (
	"slices"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// The three feed formats put an item's date and body in different places:
// RSS 1.0 (RDF), and many RSS 2.0 feeds, date items only with dc:date, in
// W3C-DTF whose seconds are optional; Atom's content of type "xhtml" is
// markup inline in the feed, not escaped text. Each item must come out
// with its own date (undated, it would count as written when it was read)
// and its own words (not its title).
func TestFeedItemsKeepTheirDateAndBodyInEveryFormat(t *testing.T) {
	type want struct {
		id        string
		published time.Time
		author    string
		text      string
		quoted    []string
	}
	for _, tc := range []struct {
		name  string
		file  string
		body  string
		title string
		want  []want
	}{
		{
			name: "an RSS 1.0 (RDF) item is dated by its dc:date", file: "rdf.xml",
			title: "Example Board (RSS 1.0)",
			want: []want{
				{id: "https://forum.example/threads/stream-tonight.12/post-131", published: time.Date(2026, 1, 10, 13, 10, 0, 0, time.UTC), author: "Finch", text: "He moved the stream to nine."},
				// W3C-DTF lets a date leave out its seconds.
				{id: "https://forum.example/threads/stream-tonight.12/post-130", published: time.Date(2026, 1, 10, 12, 45, 0, 0, time.UTC), author: "Lark", text: "Who is watching tonight?"},
			},
		},
		{
			name: "an RSS 2.0 item dated only by dc:date is dated by it",
			body: `<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Board</title>
<item><guid isPermaLink="false">post-9</guid><link>https://forum.example/p/9</link><title>Nine</title>
<dc:date>2026-01-10T12:00:00Z</dc:date><description>dated the Dublin Core way</description></item>
</channel></rss>`,
			title: "Board",
			want:  []want{{id: "post-9", published: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC), text: "dated the Dublin Core way"}},
		},
		{
			// RSS wants a description's HTML escaped or in CDATA; many
			// hand-made feeds put it in raw. Read as character data, the
			// words inside its elements were lost: all of them, or all
			// after the first <br>, the post taking its title as its text.
			name: "an RSS item whose description holds raw HTML keeps its words",
			body: `<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Board</title>
<item><guid>post-1</guid><title>One</title><description><p>Meet at <b>the station</b>.</p><blockquote>he is home by six</blockquote></description></item>
<item><guid>post-2</guid><title>Two</title><description>Line one<br>line two &amp; three</description></item>
<item><guid>post-3</guid><title>Three</title><content:encoded><div>Bring <i>the paint</i>.</div></content:encoded></item>
<item><guid>post-4</guid><title>Four</title><description>&lt;p&gt;escaped &amp;amp; fine&lt;/p&gt;</description></item>
<item><guid>post-5</guid><title>Five</title><description><![CDATA[<p>in CDATA</p>]]></description></item>
</channel></rss>`,
			title: "Board",
			want: []want{
				{id: "post-1", text: "Meet at the station.", quoted: []string{"he is home by six"}},
				{id: "post-2", text: "Line one\n\nline two & three"},
				{id: "post-3", text: "Bring the paint."},
				{id: "post-4", text: "escaped & fine"},
				{id: "post-5", text: "in CDATA"},
			},
		},
		{
			name: "an Atom entry with xhtml content keeps its words and quotes", file: "atom-xhtml.xml",
			title: "Example Discussions",
			want: []want{{
				id: "tag:forum.example,2026:post-774", published: time.Date(2026, 1, 10, 13, 55, 0, 0, time.UTC), author: "wren",
				text:   "Bring the paint. We do his car & the door.",
				quoted: []string{"Meet at the station, then we go to his place."},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := newRSS(config.Site{Name: "fx", Engine: "rss", URL: goldenBase + "/"})
			if err != nil {
				t.Fatal(err)
			}
			body := []byte(tc.body)
			if tc.file != "" {
				body = readFixture(t, "rss", tc.file)
			}
			pg := parseAt(t, e, "/feed", Listing, decoded(body))
			if pg.Title != tc.title {
				t.Errorf("title %q, want %q", pg.Title, tc.title)
			}
			if len(pg.Posts) != len(tc.want) {
				t.Fatalf("got %d posts, want %d: %+v", len(pg.Posts), len(tc.want), pg.Posts)
			}
			for i, w := range tc.want {
				p := pg.Posts[i]
				if p.SitePostID != w.id || !p.Published.Equal(w.published) || p.Author != w.author || p.Text != w.text || !slices.Equal(p.Quoted, w.quoted) {
					t.Errorf("post %d:\n got id %q published %v author %q text %q quoted %q\nwant id %q published %v author %q text %q quoted %q",
						i, p.SitePostID, p.Published, p.Author, p.Text, p.Quoted, w.id, w.published, w.author, w.text, w.quoted)
				}
			}
		})
	}
}
