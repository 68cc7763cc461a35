package scrapers

import (
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// XenForo 1.x, which many boards still run (and which harassment forums ran
// for years), has markup of its own: html#XenForo, thread rows
// li.discussionListItem, posts li.message in ol.messageList with their
// text in blockquote.messageText, quotes in div.bbCodeQuote, times in
// abbr.DateTime[data-time] (recent) or span.DateTime[title] (older), and
// links relative to <base href>.

// isXF1 reports whether a page is XenForo 1 markup.
func isXF1(doc *goquery.Document) bool {
	return doc.Find("html#XenForo, ol.discussionListItems, ol.messageList").Length() > 0
}

// xf1Time reads a DateTime element: the epoch in data-time when there is
// one, else the "Jan 10, 2026 at 2:00 PM" of its title, else its text
// ("Today at 2:00 PM", read against now). The title and the text are in
// the board's zone, loc.
func xf1Time(s *goquery.Selection, loc *time.Location, now time.Time) (raw string, t time.Time, ok bool) {
	if v, has := s.Attr("data-time"); has && v != "" {
		t, ok = parseTime(v, "unix", nil)
		return v, t, ok
	}
	v, _ := s.Attr("title")
	if v == "" {
		v = strings.TrimSpace(s.Text())
	}
	t, ok = parseTimeAt(v, "", loc, now)
	return v, t, ok
}

func (x *xenForo) parseXF1(in *Input, doc *goquery.Document, base *url.URL) *Page {
	pg := &Page{Title: strings.TrimSpace(doc.Find(".titleBar h1").First().Text())}
	pg.Next = resolve(base, attrOrText(doc.Find(`link[rel="next"]`), "href"))
	if pg.Next == "" {
		// The text link after the current page is "Next >"; the one before
		// it is "< Prev", the only one on a last page.
		current := false
		doc.Find(".PageNav nav").First().Find("a").EachWithBreak(func(_ int, a *goquery.Selection) bool {
			if a.HasClass("currentPage") {
				current = true
			} else if current && a.HasClass("text") {
				pg.Next = resolve(base, attrOrText(a, "href"))
				return false
			}
			return true
		})
	}
	doc.Find("li.discussionListItem").Each(func(_ int, s *goquery.Selection) {
		link := s.Find("h3.title a").First()
		href := resolve(base, attrOrText(link, "href"))
		id := xfThreadOf(href)
		if id == "" {
			return
		}
		raw, lt, _ := xf1Time(s.Find(".lastPost .DateTime").First(), x.loc, in.Fetched)
		replies := strings.TrimSpace(s.Find(".stats dl.major dd").First().Text())
		pg.Threads = append(pg.Threads, ThreadRef{
			ID: id, URL: xfThreadTail.ReplaceAllString(href, "$1"), Title: strings.TrimSpace(link.Text()),
			Marker: raw + "/" + replies, Latest: lt, Pinned: s.HasClass("sticky"),
		})
	})
	threadID, threadURL := xfPageThread(in)
	doc.Find("ol.messageList > li.message").Each(func(_ int, s *goquery.Selection) {
		if s.HasClass("deleted") || s.HasClass("placeholder") || s.HasClass("ignored") {
			return
		}
		dc, _ := s.Attr("id")
		id := lastDigits(dc)
		body := s.Find("blockquote.messageText").First()
		if id == "" || body.Length() == 0 {
			return
		}
		p := msg.Post{SitePostID: id, ThreadID: threadID, ThreadURL: threadURL, Thread: pg.Title}
		user := s.Find(".messageUserInfo a.username").First()
		p.Author, _ = s.Attr("data-author")
		if p.Author == "" {
			p.Author = strings.TrimSpace(user.Text())
		}
		p.AuthorID = lastDigits(attrOrText(user, "href"))
		if _, t, ok := xf1Time(s.Find(".messageMeta .DateTime").First(), x.loc, in.Fetched); ok {
			p.Published = t
		}
		// posts/<id>/ is XenForo 1's own permalink; it redirects to the post.
		p.URL = resolve(base, "posts/"+id+"/")
		body.Find(".messageTextEndMarker").Remove()
		xfChrome(body)
		p.Text, p.Quoted = splitQuotes(body, "div.bbCodeQuote", ".attribution")
		if p.Text == "" && len(p.Quoted) == 0 {
			return
		}
		pg.Posts = append(pg.Posts, p)
	})
	return pg
}
