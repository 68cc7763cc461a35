package scrapers

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"

	"github.com/threatwatch/threatwatch/config"
)

// parseHTML parses a page; the HTML5 parser accepts anything, so a broken
// page yields as much document as it has.
func parseHTML(b []byte) (*goquery.Document, error) {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPage, err)
	}
	return doc, nil
}

// blockElems end a line of text.
var blockElems = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "tr": true, "blockquote": true, "pre": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "article": true,
	"section": true, "ul": true, "ol": true, "table": true, "hr": true, "dd": true, "dt": true,
}

// skipElems carry no readable text.
var skipElems = map[string]bool{"script": true, "style": true, "noscript": true, "template": true, "iframe": true}

// nodeText renders the readable text of a selection: block elements and
// <br> become line breaks, runs of spaces collapse, lines are trimmed.
func nodeText(s *goquery.Selection) string {
	var b strings.Builder
	for _, n := range s.Nodes {
		writeText(&b, n)
	}
	return tidy(b.String())
}

func writeText(b *strings.Builder, n *html.Node) {
	switch n.Type {
	case html.TextNode:
		b.WriteString(n.Data)
		return
	case html.ElementNode:
		if skipElems[n.Data] {
			return
		}
		if email, ok := cfEmailOf(n); ok {
			writeProtectedEmail(b, n, email)
			return
		}
		if n.Data == "img" {
			// Emoji images keep their meaning through alt text.
			for _, a := range n.Attr {
				if a.Key == "alt" && utf8.RuneCountInString(a.Val) <= 8 {
					b.WriteString(a.Val)
				}
			}
			return
		}
	}
	block := n.Type == html.ElementNode && blockElems[n.Data]
	if block {
		b.WriteByte('\n')
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		writeText(b, c)
	}
	if block {
		b.WriteByte('\n')
	}
}

// Cloudflare's email obfuscation (on by default for sites behind it)
// replaces every address in a page with "[email protected]" and keeps the
// address, XOR-encoded, in the element's data-cfemail attribute, or, for a
// mailto link, in the fragment of an href to /cdn-cgi/l/email-protection.
// A browser decodes it with a script; the text of a post must carry the
// address too, or neither the classifiers nor a watchlist could see an
// address a dox gives.
const cfEmailPath = "/cdn-cgi/l/email-protection"

// cfEmailOf returns the address hidden in n, if n is such an element.
func cfEmailOf(n *html.Node) (string, bool) {
	for _, a := range n.Attr {
		switch {
		case a.Key == "data-cfemail":
			return cfDecode(a.Val)
		case a.Key == "href" && n.Data == "a":
			if i := strings.Index(a.Val, cfEmailPath+"#"); i >= 0 {
				return cfDecode(a.Val[i+len(cfEmailPath)+1:])
			}
		}
	}
	return "", false
}

// cfDecode decodes the hex form: its first byte is the key every other
// byte is XORed with. The result is the address's UTF-8; for a mailto link
// it may go on with "?subject=...", which is cut. Anything that does not
// decode to one line of valid text is refused, so a page cannot smuggle
// line breaks or controls into a post this way.
func cfDecode(h string) (string, bool) {
	if len(h) < 4 || len(h)%2 != 0 || len(h) > 1024 {
		return "", false
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", false
	}
	key, out := b[0], b[1:]
	for i := range out {
		out[i] ^= key
	}
	s := string(out)
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	if s == "" || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", false
	}
	return s, true
}

// writeProtectedEmail writes what a reader of the page sees in place of
// n: the address where Cloudflare shows its placeholder, else n's own
// text followed by the address (a mailto link that reads "mail me").
func writeProtectedEmail(b *strings.Builder, n *html.Node, email string) {
	var inner strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		writeText(&inner, c)
	}
	t := inner.String()
	switch {
	case strings.Contains(t, email):
		b.WriteString(t)
	case strings.TrimSpace(t) == "" || isCFPlaceholder(t):
		b.WriteString(email)
	default:
		b.WriteString(t)
		b.WriteString(" (")
		b.WriteString(email)
		b.WriteString(")")
	}
}

// isCFPlaceholder reports Cloudflare's "[email protected]" (its space is
// a non-breaking one in the page, which strings.Fields splits on).
func isCFPlaceholder(t string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(t), " "), "[email protected]")
}

var spaceRun = regexp.MustCompile(`[ \t\f\v\x{00a0}\x{200b}]+`)

// tidy collapses spaces, trims lines and drops blank runs.
func tidy(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := false
	for _, l := range lines {
		l = strings.TrimSpace(spaceRun.ReplaceAllString(l, " "))
		if l == "" {
			if !blank && len(out) > 0 {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// splitQuotes removes the elements quoteSel matches from a copy of body and
// returns the remaining text and each quote's text. header, if set, matches
// a quote's attribution line ("bob said:"), which is dropped from the
// quote. Nested quotes stay inside their outer quote.
func splitQuotes(body *goquery.Selection, quoteSel, header string) (string, []string) {
	if body.Length() == 0 {
		return "", nil
	}
	c := body.First().Clone()
	var quotes []string
	if quoteSel != "" {
		c.Find(quoteSel).Each(func(_ int, q *goquery.Selection) {
			if q.ParentsFiltered(quoteSel).Length() > 0 {
				return // nested: part of the outer quote's text
			}
			qc := q.Clone()
			if header != "" {
				qc.Find(header).Remove()
			}
			// "Click to expand..." links are chrome, not quoted words.
			qc.Find(".bbCodeBlock-expandLink").Remove()
			if t := nodeText(qc); t != "" {
				quotes = append(quotes, t)
			}
			q.Remove()
		})
	}
	return nodeText(c), quotes
}

// docBase is the URL a page's relative links resolve against, as in a
// browser: the first <base href> (itself resolved against the page's URL)
// when that is an http(s) URL, else the page's URL. XenForo 1 and
// vBulletin pages set it and write their links relative to it
// ("threads/slug.12/"), which against the page's own URL would point
// below the listing.
func docBase(page *url.URL, doc *goquery.Document) *url.URL {
	href, ok := doc.Find("base[href]").First().Attr("href")
	if !ok {
		return page
	}
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil {
		return page
	}
	if page != nil {
		u = page.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return page
	}
	return u
}

// resolve makes ref absolute against base; "" for an unusable ref.
func resolve(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || strings.HasPrefix(ref, "javascript:") || strings.HasPrefix(ref, "#") && base == nil {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return ""
	}
	return u.String()
}

var digitsRE = regexp.MustCompile(`\d+`)

// lastDigits returns the last run of digits in s ("post-1234" -> "1234").
func lastDigits(s string) string {
	m := digitsRE.FindAllString(s, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

// timeLayouts are the formats forums print times in, tried in order.
var timeLayouts = []string{
	time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z0700",
	// W3C-DTF (dc:date) may leave out the seconds.
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02",
	time.RFC1123Z, time.RFC1123, time.RFC850, time.ANSIC, "Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST", "Mon Jan 02, 2006 3:04 pm", "Mon Jan 2, 2006 3:04 pm",
	"Jan 2, 2006 at 3:04 PM", "Jan 2, 2006 3:04 PM", "Jan 2, 2006", "January 2, 2006, 03:04:05 PM",
	"02 Jan 2006 15:04", "2 Jan 2006 15:04", "01/02/2006 15:04", "02.01.2006 15:04", "02.01.2006, 15:04",
	// RFC 822 (RSS 2.0) without the weekday or the seconds, which it
	// makes optional.
	"2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04 -0700", "2 Jan 2006 15:04 -0700",
}

// rfc822Zones are the zone names RFC 822 defines (RSS 2.0 dates use them).
// Go reads a zone name its location does not know as UTC: an item dated
// "14:00:00 EST" came out five hours early.
var rfc822Zones = map[string]string{
	"UT": "+0000", "GMT": "+0000", "Z": "+0000",
	"EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500",
	"MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700",
}

// numericZone replaces a trailing RFC 822 zone name with its offset.
func numericZone(s string) string {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return s
	}
	if off, ok := rfc822Zones[strings.ToUpper(s[i+1:])]; ok {
		return s[:i+1] + off
	}
	return s
}

// siteLocation is the zone a site's pages print times in when they show
// no offset: the site's time_zone, or the generic engine's older
// selectors.time_zone (config validation refuses the two disagreeing),
// else UTC.
func siteLocation(site config.Site) (*time.Location, error) {
	name, field := site.TimeZone, "time_zone"
	if site.Selectors != nil && site.Selectors.TimeZone != "" {
		name, field = site.Selectors.TimeZone, "selectors.time_zone"
	}
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return loc, nil
}

// parseTime reads a time in layout ("unix" for epoch seconds, "" to try the
// common layouts); times without an offset are read in loc.
func parseTime(s, layout string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if loc == nil {
		loc = time.UTC
	}
	if layout == "unix" || (layout == "" && isDigits(s) && len(s) >= 9 && len(s) <= 11) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	if t, ok := parseTimeAs(s, layout, loc); ok {
		return t, true
	}
	// A date in the board's language: its month and weekday names in
	// English, in the forms the layout asks for ("Jan" or "January", "Mon"
	// or "Monday"); the common layouts take the short forms and "January".
	forms := [][2]bool{{false, false}, {true, false}}
	if layout != "" {
		forms = [][2]bool{{strings.Contains(layout, "January"), strings.Contains(layout, "Monday")}}
	}
	for _, f := range forms {
		if e, changed := inEnglish(s, f[0], f[1]); changed {
			if t, ok := parseTimeAs(e, layout, loc); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// parseTimeAs reads s in layout, or in each of timeLayouts when layout is
// empty.
func parseTimeAs(s, layout string, loc *time.Location) (time.Time, bool) {
	if layout != "" {
		t, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			return time.Time{}, false
		}
		if strings.Contains(layout, "MST") && t.Location() != loc {
			// A site's own layout with a zone name: Go gives a name loc
			// does not know offset zero, so "2:00 PM EST" came out five
			// hours early. RFC 822's names are known; any other is
			// ambiguous (IST, BST), and no date beats a wrong one.
			name, off := t.Zone()
			if z, ok := rfc822Zones[strings.ToUpper(name)]; ok && off == 0 {
				o, _ := strconv.Atoi(z)
				off = (o/100*60 + o%100) * 60
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone(name, off))
			} else if off == 0 && name != "UTC" && name != "GMT" {
				return time.Time{}, false
			}
		}
		return t.UTC(), true
	}
	s = numericZone(s)
	for _, l := range timeLayouts {
		t, err := time.ParseInLocation(l, s, loc)
		if err != nil {
			continue
		}
		if strings.Contains(l, "MST") && t.Location() != loc {
			// A zone name neither RFC 822's nor loc's: Go gives it offset
			// zero. Names like IST or BST mean different offsets in
			// different places; better no date than one hours off.
			if name, off := t.Zone(); off == 0 && name != "UTC" && name != "GMT" {
				continue
			}
		}
		return t.UTC(), true
	}
	return time.Time{}, false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// attrOrText returns the attribute attr of the first match, or its text
// when attr is empty.
func attrOrText(s *goquery.Selection, attr string) string {
	s = s.First()
	if attr != "" {
		v, _ := s.Attr(attr)
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(s.Text())
}

// htmlFragmentText renders an HTML fragment (a JSON API's "cooked" or
// "com" field) to text, with quoteSel blocks kept apart.
func htmlFragmentText(frag, quoteSel, header string) (string, []string) {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<div id=\"tw-root\">" + frag + "</div>"))
	if err != nil {
		return tidy(frag), nil
	}
	return splitQuotes(doc.Find("#tw-root"), quoteSel, header)
}
