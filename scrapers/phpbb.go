package scrapers

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// phpBB reads phpBB 3.x (prosilver and its derivatives): forum views
// (ul.topiclist.topics li.row with a.topictitle) and topic views
// (div.post#pNNN, the body in div.content, quotes in blockquote with a
// cite header, pagination in .pagination li.next a).
type phpBB struct {
	entries []string
	// loc is the board's zone, for phpBB 3.0/3.1's dates printed without
	// one.
	loc *time.Location
}

func newPhpBB(site config.Site) (Engine, error) {
	if len(site.Entries) == 0 {
		return nil, errors.New("the phpbb engine needs entries: the forums to watch (viewforum.php?f=N)")
	}
	loc, err := siteLocation(site)
	if err != nil {
		return nil, err
	}
	return &phpBB{entries: site.Entries, loc: loc}, nil
}

func (p *phpBB) Entries() []string { return p.entries }

// phpbbParam reads a query parameter of a phpBB link (t=, p=, f=). Ids
// come from it, so bytes that decode to no UTF-8 ("t=%FF") become U+FFFD.
func phpbbParam(u, name string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.ToValidUTF8(pu.Query().Get(name), "\uFFFD")
}

// phpbbTopicURL keeps the parameters that name a topic's first page.
func phpbbTopicURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := url.Values{}
	if f := pu.Query().Get("f"); f != "" {
		q.Set("f", f)
	}
	q.Set("t", pu.Query().Get("t"))
	pu.RawQuery, pu.Fragment = q.Encode(), ""
	return pu.String()
}

func (p *phpBB) Parse(in *Input) (*Page, error) {
	doc, err := parseHTML(in.Body)
	if err != nil {
		return nil, err
	}
	base := docBase(in.URL, doc)
	titleLink := doc.Find("h2.topic-title a").First()
	pg := &Page{Title: strings.TrimSpace(doc.Find("h2.topic-title").First().Text())}
	if pg.Title == "" {
		// phpBB 3.0 titles a topic with a plain <h2><a>, as it does a
		// forum: only the link to a topic (t=) tells them apart.
		doc.Find("h2").EachWithBreak(func(_ int, h *goquery.Selection) bool {
			a := h.Find("a[href]").First()
			if phpbbParam(resolve(base, attrOrText(a, "href")), "t") == "" {
				return true
			}
			titleLink, pg.Title = a, strings.TrimSpace(h.Text())
			return false
		})
	}
	next := doc.Find(".pagination li.next a, .pagination a[rel='next']").First()
	pg.Next = resolve(base, attrOrText(next, "href"))
	if pg.Next == "" {
		pg.Next = resolve(base, attrOrText(doc.Find(`link[rel="next"]`), "href"))
	}
	if pg.Next == "" {
		// phpBB 3.0 has no "next" link: its pager is the page numbers, the
		// current one in <strong> and the next one the link after it.
		// Without it, only a topic's or forum's first page was ever read.
		cur := doc.Find(".pagination > span > strong").First()
		pg.Next = resolve(base, attrOrText(cur.NextAllFiltered("a").First(), "href"))
	}
	posts := doc.Find("div.post[id^='p']")
	rows := doc.Find("ul.topiclist.topics li.row, ul.topiclist li.row:has(a.topictitle)")
	if posts.Length() == 0 && rows.Length() == 0 {
		if doc.Find("#phpbb, #page-body, .forumbg, .panel").Length() == 0 {
			return nil, fmt.Errorf("%w: no phpBB page structure (#page-body)", ErrMarkup)
		}
		return pg, nil
	}
	seenRow := map[string]bool{}
	rows.Each(func(_ int, s *goquery.Selection) {
		link := s.Find("a.topictitle").First()
		href := resolve(base, attrOrText(link, "href"))
		id := phpbbParam(href, "t")
		if id == "" || seenRow[id] {
			return
		}
		seenRow[id] = true
		last := s.Find("dd.lastpost").First()
		lastPost := phpbbParam(resolve(base, attrOrText(last.Find("a[href*='p=']"), "href")), "p")
		tv, _ := last.Find("time").Attr("datetime")
		lt, _ := parseTime(tv, "", p.loc)
		if tv == "" {
			// phpBB before 3.2 prints the last post's time as text after
			// a line break: "by wolf <a><img></a> <br />Sat Jan 10, 2026
			// 2:00 pm". Without it every thread looked undated: a first
			// crawl read the whole history, however short the backfill,
			// and a listing walk never stopped at threads too old.
			lt, _ = parseTimeAt(textAfterLastBreak(last), "", p.loc, in.Fetched)
		}
		replies := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s.Find("dd.posts").Clone().Children().Remove().End().Text()), "Replies"))
		pg.Threads = append(pg.Threads, ThreadRef{
			ID: id, URL: phpbbTopicURL(href), Title: strings.TrimSpace(link.Text()),
			Marker: lastPost + "/" + tv + "/" + replies, Latest: lt,
			Pinned: s.HasClass("sticky") || s.HasClass("announce") || s.HasClass("global-announce"),
		})
	})
	threadID := ""
	if in.Thread != nil {
		threadID = in.Thread.ID
	}
	titleHref := resolve(base, attrOrText(titleLink, "href"))
	if threadID == "" {
		threadID = phpbbParam(titleHref, "t")
	}
	if threadID == "" {
		threadID = phpbbParam(in.URL.String(), "t")
	}
	threadURL := ""
	if titleHref != "" {
		threadURL = phpbbTopicURL(titleHref)
	}
	posts.Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("id")
		id = strings.TrimPrefix(id, "p")
		if !isDigits(id) {
			return
		}
		content := s.Find("div.content").First()
		if content.Length() == 0 {
			return // a soft-deleted or ignored post shows no content
		}
		po := msg.Post{SitePostID: id, ThreadID: threadID, ThreadURL: threadURL, Thread: pg.Title}
		author := s.Find(".postprofile .username, .postprofile .username-coloured").First()
		if author.Length() == 0 {
			author = s.Find("p.author .username, p.author .username-coloured").First()
		}
		if author.Length() == 0 {
			// phpBB 3.0 gives a user's link no class (only a coloured
			// name has one); a guest's name is bare text.
			author = s.Find("p.author strong a[href*='mode=viewprofile']").First()
			if author.Length() == 0 {
				author = s.Find("p.author strong").First()
			}
		}
		po.Author = strings.TrimSpace(author.Text())
		po.AuthorID = phpbbParam(resolve(base, attrOrText(author, "href")), "u")
		head := s.Find("p.author").First()
		if v, ok := head.Find("time").Attr("datetime"); ok {
			po.Published, _ = parseTime(v, "", p.loc)
		} else {
			// phpBB before 3.2 prints the time as text after "»".
			txt := head.Text()
			if i := strings.LastIndex(txt, "»"); i >= 0 {
				po.Published, _ = parseTimeAt(txt[i+len("»"):], "", p.loc, in.Fetched)
			}
		}
		po.URL = resolve(base, attrOrText(s.Find("h3 a[href*='#p'], p.author a[href*='p=']").First(), "href"))
		if po.URL == "" {
			po.URL = resolve(base, "./viewtopic.php?p="+id+"#p"+id)
		}
		po.Text, po.Quoted = splitQuotes(content, "blockquote", "cite")
		if po.Text == "" && len(po.Quoted) == 0 {
			return
		}
		pg.Posts = append(pg.Posts, po)
	})
	return pg, nil
}

// textAfterLastBreak is the text after the last <br> in s, trimmed.
func textAfterLastBreak(s *goquery.Selection) string {
	br := s.Find("br").Last()
	if br.Length() == 0 {
		return ""
	}
	var b strings.Builder
	for n := br.Nodes[0].NextSibling; n != nil; n = n.NextSibling {
		b.WriteString(goquery.NewDocumentFromNode(n).Text())
	}
	return strings.TrimSpace(b.String())
}
