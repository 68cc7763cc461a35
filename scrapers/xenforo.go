package scrapers

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// xenForo reads XenForo 2.x public pages: forum views and "what's new"
// lists (div.structItem--thread rows) and thread views (article.message
// posts, quotes in blockquote.bbCodeBlock--quote, pagination in
// a.pageNav-jump--next or link[rel=next]). XenForo 1.x pages are read by
// parseXF1 (xenforo1.go).
type xenForo struct {
	entries []string
	// loc is the board's zone, for XenForo 1's dates printed without one.
	loc *time.Location
}

func newXenForo(site config.Site) (Engine, error) {
	e := site.Entries
	if len(e) == 0 {
		e = []string{"whats-new/posts/"}
	}
	loc, err := siteLocation(site)
	if err != nil {
		return nil, err
	}
	return &xenForo{entries: e, loc: loc}, nil
}

func (x *xenForo) Entries() []string { return x.entries }

// xfThreadID finds the thread id in /threads/some-title.123/page-2.
var xfThreadID = regexp.MustCompile(`/threads/(?:[^/]*\.)?(\d+)(?:/|$|\?|#)`)

func xfThreadOf(u string) string {
	if m := xfThreadID.FindStringSubmatch(u); m != nil {
		return m[1]
	}
	return ""
}

// xfPageThread is the thread a page belongs to: the id the crawler gave
// (or the page URL's), and the URL of its first page.
func xfPageThread(in *Input) (id, firstPage string) {
	if in.Thread != nil {
		id = in.Thread.ID
	}
	if id == "" {
		id = xfThreadOf(in.URL.String())
	}
	return id, xfThreadTail.ReplaceAllString(in.URL.String(), "$1")
}

// xfThreadBase cuts a thread URL to its first page.
var xfThreadTail = regexp.MustCompile(`(/threads/[^/?#]+/).*$`)

func (x *xenForo) Parse(in *Input) (*Page, error) {
	doc, err := parseHTML(in.Body)
	if err != nil {
		return nil, err
	}
	base := docBase(in.URL, doc)
	if isXF1(doc) {
		return x.parseXF1(in, doc, base), nil
	}
	pg := &Page{Title: strings.TrimSpace(doc.Find("h1.p-title-value").First().Text())}
	pg.Next = resolve(base, attrOrText(doc.Find("a.pageNav-jump--next"), "href"))
	if pg.Next == "" {
		pg.Next = resolve(base, attrOrText(doc.Find(`link[rel="next"]`), "href"))
	}
	messages := doc.Find("article.message")
	rows := doc.Find(".structItem--thread")
	if messages.Length() == 0 && rows.Length() == 0 {
		// A XenForo page (html#XF, the p-body container) with nothing in
		// it is an empty forum or thread; anything else is not XenForo.
		if doc.Find("#XF, .p-body-pageContent, .p-body-main").Length() == 0 {
			return nil, fmt.Errorf("%w: no XenForo page structure (html#XF, .p-body-main)", ErrMarkup)
		}
		return pg, nil
	}
	rows.Each(func(_ int, s *goquery.Selection) {
		link := s.Find(".structItem-title a[data-tp-primary]").First()
		if link.Length() == 0 {
			link = s.Find(".structItem-title a").Last()
		}
		href := resolve(base, attrOrText(link, "href"))
		id := xfThreadOf(href)
		if id == "" {
			return
		}
		href = xfThreadTail.ReplaceAllString(href, "$1")
		latest := s.Find(".structItem-latestDate").First()
		ts, _ := latest.Attr("data-time")
		if ts == "" {
			ts, _ = latest.Attr("datetime")
		}
		lt, _ := parseTime(ts, "", x.loc)
		replies := strings.TrimSpace(s.Find(".structItem-cell--meta dd").First().Text())
		pg.Threads = append(pg.Threads, ThreadRef{
			ID: id, URL: href, Title: strings.TrimSpace(link.Text()),
			Marker: ts + "/" + replies, Latest: lt,
			Pinned: s.Find(".structItem-status--sticky").Length() > 0 || s.ParentsFiltered(".structItemContainer-group--sticky").Length() > 0,
		})
	})
	threadID, threadURL := xfPageThread(in)
	messages.Each(func(_ int, s *goquery.Selection) {
		if s.HasClass("message--deleted") || s.HasClass("message--ignored") || s.Find(".message-body").Length() == 0 {
			return
		}
		dc, _ := s.Attr("data-content")
		if dc == "" {
			dc, _ = s.Attr("id")
		}
		id := lastDigits(dc)
		if id == "" {
			return
		}
		p := msg.Post{SitePostID: id, ThreadID: threadID, ThreadURL: threadURL, Thread: pg.Title}
		user := s.Find(".message-name .username, .message-userDetails .username").First()
		p.Author, _ = s.Attr("data-author")
		if p.Author == "" {
			p.Author = strings.TrimSpace(user.Text())
		}
		p.AuthorID, _ = user.Attr("data-user-id")
		tm := s.Find(".message-attribution-main time, .message-attribution time").First()
		for _, a := range []string{"data-time", "datetime"} {
			if v, ok := tm.Attr(a); ok {
				if t, ok := parseTime(v, "", x.loc); ok {
					p.Published = t
					break
				}
			}
		}
		perma := s.Find("a.message-attribution-gadget").First()
		if perma.Length() == 0 {
			perma = s.Find(".message-attribution-main a[href*='post']").First()
		}
		p.URL = resolve(base, attrOrText(perma, "href"))
		if p.URL == "" && threadURL != "" {
			p.URL = threadURL + "post-" + id
		}
		body := s.Find(".message-body .bbWrapper").First()
		if body.Length() == 0 {
			body = s.Find(".message-body").First()
		}
		xfChrome(body)
		p.Text, p.Quoted = splitQuotes(body, "blockquote.bbCodeBlock--quote, blockquote.bbCodeBlock[data-quote]", ".bbCodeBlock-title")
		if p.Text == "" && len(p.Quoted) == 0 {
			return // nothing written: an attachment-only or emptied post
		}
		pg.Posts = append(pg.Posts, p)
	})
	return pg, nil
}

// xfChrome takes the board's buttons out of a post's body (in place): a
// spoiler's toggle ("Spoiler", "Spoiler: <title>") and the "Click to
// expand..." link of a long block read as words the author wrote, in the
// text or in a quote. A spoiler's content stays, and so does the title its
// author gave it, on a line of its own. Both XenForo 2 and 1 markup.
func xfChrome(body *goquery.Selection) {
	body.Find(".bbCodeSpoiler-button, .bbCodeSpoilerButton").Each(func(_ int, b *goquery.Selection) {
		title := nodeText(b.Find(".bbCodeSpoiler-button-title").First())
		if title == "" {
			// XenForo 1: "Spoiler<span class="SpoilerTitle">: title</span>".
			title = strings.TrimSpace(strings.TrimPrefix(nodeText(b.Find(".SpoilerTitle").First()), ":"))
		}
		if title == "" {
			b.Remove()
			return
		}
		line := &html.Node{Type: html.ElementNode, Data: "div"}
		line.AppendChild(&html.Node{Type: html.TextNode, Data: title})
		b.ReplaceWithNodes(line)
	})
	body.Find(".bbCodeBlock-expandLink, .quoteExpand").Remove()
}
