package scrapers

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// rss reads RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 feeds. An item is a post;
// its guid (or Atom id, or link) is its id; blockquotes in its HTML are
// quotes.
type rss struct {
	entries []string
	// loc is the feed's zone, for dates written without one.
	loc *time.Location
}

func newRSS(site config.Site) (Engine, error) {
	e := site.Entries
	if len(e) == 0 {
		e = []string{""} // the site URL is the feed
	}
	loc, err := siteLocation(site)
	if err != nil {
		return nil, err
	}
	return &rss{entries: e, loc: loc}, nil
}

func (r *rss) Entries() []string { return r.entries }

type feedLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Text string `xml:",chardata"`
}

// feedAuthor is RSS's author text or Atom's author element.
type feedAuthor struct {
	Text string `xml:",chardata"`
	Name string `xml:"name"`
}

// feedContent is Atom's content or summary. Of type "html" it is escaped
// markup, read as text; of type "xhtml" it is markup inline in the feed,
// whose words are in child elements: read as text, it was empty, and the
// entry's body was lost.
type feedContent struct {
	Type  string `xml:"type,attr"`
	Text  string `xml:",chardata"`
	Inner string `xml:",innerxml"`
}

func (c *feedContent) html() string {
	if strings.EqualFold(strings.TrimSpace(c.Type), "xhtml") {
		return c.Inner
	}
	// HTML put in raw, not escaped or in CDATA (invalid, and common in
	// hand-made RSS): read as character data, only the text before its
	// first element was kept, and the post took its title as its text.
	if hasElements(c.Inner) {
		return unwrapCDATA(c.Inner)
	}
	return c.Text
}

// hasElements reports whether an element's inner XML holds child elements
// (outside CDATA sections, whose markup is text to XML).
func hasElements(inner string) bool {
	for inner != "" {
		i := strings.IndexByte(inner, '<')
		if i < 0 || i+1 >= len(inner) {
			return false
		}
		rest := inner[i:]
		if strings.HasPrefix(rest, "<![CDATA[") {
			end := strings.Index(rest, "]]>")
			if end < 0 {
				return false
			}
			inner = rest[end+3:]
			continue
		}
		if c := rest[1]; c == '/' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
			return true
		}
		inner = rest[1:]
	}
	return false
}

// unwrapCDATA drops the CDATA delimiters of inner XML read as HTML: what
// is inside them is the markup itself.
func unwrapCDATA(inner string) string {
	var b strings.Builder
	for {
		before, after, ok := strings.Cut(inner, "<![CDATA[")
		b.WriteString(before)
		if !ok {
			return b.String()
		}
		body, rest, ok := strings.Cut(after, "]]>")
		b.WriteString(body)
		if !ok {
			return b.String()
		}
		inner = rest
	}
}

type feedItem struct {
	// RSS
	Title       string      `xml:"title"`
	Links       []feedLink  `xml:"link"`
	GUID        string      `xml:"guid"`
	PubDate     string      `xml:"pubDate"`
	Author      feedAuthor  `xml:"author"`
	Creator     string      `xml:"http://purl.org/dc/elements/1.1/ creator"`
	Description feedContent `xml:"description"`
	Encoded     feedContent `xml:"http://purl.org/rss/1.0/modules/content/ encoded"`
	Comments    string      `xml:"comments"`
	// Date is Dublin Core's date: the only date of an RSS 1.0 item, and
	// of many RSS 2.0 ones.
	Date string `xml:"http://purl.org/dc/elements/1.1/ date"`
	// Atom
	ID        string      `xml:"id"`
	Published string      `xml:"published"`
	Updated   string      `xml:"updated"`
	Content   feedContent `xml:"content"`
	Summary   feedContent `xml:"summary"`
}

func (it *feedItem) link() string {
	for _, l := range it.Links {
		if l.Href != "" && (l.Rel == "" || l.Rel == "alternate") {
			return l.Href
		}
	}
	for _, l := range it.Links {
		if t := strings.TrimSpace(l.Text); t != "" {
			return t
		}
	}
	return ""
}

func (r *rss) Parse(in *Input) (*Page, error) {
	var feed struct {
		XMLName xml.Name
		Title   string `xml:"title"`
		Channel *struct {
			Title string     `xml:"title"`
			Items []feedItem `xml:"item"`
		} `xml:"channel"`
		Entries []feedItem `xml:"entry"`
		Items   []feedItem `xml:"item"` // RSS 1.0 (RDF) puts items at the top
	}
	dec := xml.NewDecoder(bytes.NewReader(in.Body))
	dec.Strict = false
	dec.Entity = xml.HTMLEntity
	// The fetcher already made the body UTF-8; a declared charset is moot.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(&feed); err != nil {
		return nil, fmt.Errorf("%w: not a feed: %w", ErrBadPage, err)
	}
	var items []feedItem
	pg := &Page{}
	switch strings.ToLower(feed.XMLName.Local) {
	case "rss":
		if feed.Channel == nil {
			return nil, fmt.Errorf("%w: rss without channel", ErrMarkup)
		}
		items, pg.Title = feed.Channel.Items, feed.Channel.Title
	case "feed":
		items, pg.Title = feed.Entries, feed.Title
	case "rdf":
		items = feed.Items
		if feed.Channel != nil {
			pg.Title = feed.Channel.Title
		}
	default:
		return nil, fmt.Errorf("%w: root element %q is not rss or feed", ErrMarkup, feed.XMLName.Local)
	}
	pg.Title = strings.TrimSpace(pg.Title)
	for i := range items {
		it := &items[i]
		link := resolve(in.URL, it.link())
		id := strings.TrimSpace(it.GUID)
		if id == "" {
			id = strings.TrimSpace(it.ID)
		}
		if id == "" {
			id = link
		}
		html := ""
		for _, h := range []string{it.Encoded.html(), it.Content.html(), it.Description.html(), it.Summary.html()} {
			if strings.TrimSpace(h) != "" {
				html = h
				break
			}
		}
		p := msg.Post{SitePostID: id, URL: link, Thread: tidy(it.Title), ThreadURL: link}
		p.Author = strings.TrimSpace(it.Creator)
		if p.Author == "" {
			p.Author = strings.TrimSpace(it.Author.Name)
		}
		if p.Author == "" {
			// RSS's author is "email (Name)": keep only the name, never
			// the address.
			a := strings.TrimSpace(it.Author.Text)
			if i, j := strings.Index(a, "("), strings.LastIndex(a, ")"); i >= 0 && j > i {
				a = strings.TrimSpace(a[i+1 : j])
			} else if strings.Contains(a, "@") {
				a = ""
			}
			p.Author = a
		}
		for _, t := range []string{it.PubDate, it.Date, it.Published, it.Updated} {
			if ts, ok := parseTime(t, "", r.loc); ok {
				p.Published = ts
				break
			}
		}
		p.Text, p.Quoted = htmlFragmentText(html, "blockquote", "cite")
		if p.Text == "" && len(p.Quoted) == 0 {
			p.Text = p.Thread
		}
		if p.Text == "" {
			continue
		}
		pg.Posts = append(pg.Posts, p)
	}
	return pg, nil
}
