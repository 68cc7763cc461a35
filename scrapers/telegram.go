package scrapers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/PuerkitoBio/goquery"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// telegram reads public channel previews (t.me/s/<channel>): messages in
// div.tgme_widget_message[data-post="channel/123"], newest last, older
// messages with ?before=<id> (link[rel=prev] or a.tme_messages_more). A
// reply's preview of the message it answers and blockquotes are quoted
// text; a poll's text is its question and options; the channel is the
// thread.
type telegram struct{ entries []string }

func newTelegram(site config.Site) (Engine, error) {
	if len(site.Entries) == 0 {
		return nil, errors.New("the telegram engine needs entries: the channels to watch (channel names)")
	}
	tg := &telegram{}
	for _, e := range site.Entries {
		e = strings.Trim(e, "/")
		if !strings.HasPrefix(e, "s/") && !strings.Contains(e, "?") {
			e = "s/" + strings.TrimPrefix(e, "@")
		}
		tg.entries = append(tg.entries, e)
	}
	return tg, nil
}

func (tg *telegram) Entries() []string { return tg.entries }

func (tg *telegram) Parse(in *Input) (*Page, error) {
	doc, err := parseHTML(in.Body)
	if err != nil {
		return nil, err
	}
	base := docBase(in.URL, doc)
	msgs := doc.Find(".tgme_widget_message[data-post]")
	pg := &Page{Title: strings.TrimSpace(doc.Find(".tgme_channel_info_header_title").First().Text())}
	if pg.Title == "" {
		pg.Title, _ = doc.Find(`meta[property="og:title"]`).Attr("content")
	}
	if msgs.Length() == 0 && doc.Find(".tgme_channel_history, .tgme_channel_info").Length() == 0 {
		// t.me/<channel> without the message history: the preview is
		// disabled, the channel blocked or gone, or the markup changed.
		return nil, fmt.Errorf("%w: no Telegram channel preview (.tgme_channel_history): preview disabled, channel blocked, or markup changed", ErrMarkup)
	}
	var oldest int64
	msgs.Each(func(_ int, s *goquery.Selection) {
		dp, _ := s.Attr("data-post")
		channel, num, ok := strings.Cut(dp, "/")
		n, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return
		}
		// A service message ("pinned a message") has its place in the
		// channel too: left out here, the older page asked for began
		// after it and read this page's posts again.
		if oldest == 0 || n < oldest {
			oldest = n
		}
		if s.HasClass("service_message") {
			return
		}
		p := msg.Post{
			SitePostID: dp, ThreadID: channel, Thread: pg.Title,
			ThreadURL: resolve(base, "/s/"+channel),
		}
		p.Author = strings.TrimSpace(s.Find(".tgme_widget_message_from_author").First().Text())
		if p.Author == "" {
			p.Author = strings.TrimSpace(s.Find(".tgme_widget_message_owner_name").First().Text())
		}
		if fw := s.Find(".tgme_widget_message_forwarded_from_name").First(); fw.Length() > 0 {
			// A public source is a link to its message; a user who hides
			// their account is a bare name.
			p.ForwardedFrom = strings.TrimSpace(fw.Text())
			if href, ok := fw.Attr("href"); ok {
				p.ForwardedURL = resolve(base, href)
			}
		}
		date := s.Find("a.tgme_widget_message_date").First()
		p.URL = resolve(base, attrOrText(date, "href"))
		if p.URL == "" {
			p.URL = resolve(base, "/"+dp)
		}
		if v, ok := date.Find("time").Attr("datetime"); ok {
			p.Published, _ = parseTime(v, "", nil)
		}
		// The message's own text, not the one inside a reply preview.
		body := s.Find(".tgme_widget_message_text").FilterFunction(func(_ int, t *goquery.Selection) bool {
			return t.ParentsFiltered(".tgme_widget_message_reply").Length() == 0
		}).First()
		p.Text, p.Quoted = splitQuotes(body, "blockquote", "")
		if p.Text == "" {
			p.Text = tgPoll(s)
		}
		if r := strings.TrimSpace(nodeText(s.Find(".tgme_widget_message_reply .tgme_widget_message_metatext, .tgme_widget_message_reply .tgme_widget_message_text").First())); r != "" {
			p.Quoted = append([]string{r}, p.Quoted...)
		}
		if p.Text == "" && len(p.Quoted) == 0 {
			// Media without a caption: no words, but a place in the
			// channel (see Page.Silent).
			pg.Silent = append(pg.Silent, ItemRef{SitePostID: p.SitePostID, ThreadID: p.ThreadID})
			return
		}
		pg.Posts = append(pg.Posts, p)
	})
	prev := resolve(base, attrOrText(doc.Find(`link[rel="prev"]`), "href"))
	if prev == "" {
		more := doc.Find("a.tme_messages_more, .tme_messages_more").First()
		if h := resolve(base, attrOrText(more, "href")); h != "" && strings.Contains(h, "before=") {
			prev = h
		} else if b, ok := more.Attr("data-before"); ok && isDigits(b) {
			prev = tgBefore(in, b)
		}
	}
	if prev == "" && oldest > 1 {
		prev = tgBefore(in, strconv.FormatInt(oldest, 10))
	}
	pg.Older = prev
	return pg, nil
}

// tgPoll is a poll's question and options, a line each ("" when the
// message holds none): a poll has no text of its own, and what it asks
// ("whose address next?") is what a channel says.
func tgPoll(s *goquery.Selection) string {
	poll := s.Find(".tgme_widget_message_poll").FilterFunction(func(_ int, t *goquery.Selection) bool {
		return t.ParentsFiltered(".tgme_widget_message_reply").Length() == 0
	}).First()
	var lines []string
	poll.Find(".tgme_widget_message_poll_question, .tgme_widget_message_poll_option_text").Each(func(_ int, t *goquery.Selection) {
		if l := nodeText(t); l != "" {
			lines = append(lines, l)
		}
	})
	return strings.Join(lines, "\n")
}

func tgBefore(in *Input, id string) string {
	u := *in.URL
	q := u.Query()
	q.Del("after")
	q.Set("before", id)
	u.RawQuery = q.Encode()
	return u.String()
}
