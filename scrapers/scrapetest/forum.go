// Package scrapetest serves live fixture sites for scraper tests and
// benchmarks: a XenForo-style forum and a Telegram-style channel preview
// on loopback, in the markup the scrapers' engines read, to which posts
// can be added while a crawler watches. It records when each post became
// visible, so a benchmark can measure appearance-to-topic delay.
package scrapetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Style is the markup a Forum serves.
type Style string

// Styles.
const (
	XenForo  Style = "xenforo"
	Telegram Style = "telegram"
)

// PerPage is the posts per thread page (XenForo) or per channel page.
const PerPage = 20

type post struct {
	id     int
	author string
	text   string
	at     time.Time
}

type thread struct {
	id    int
	title string
	posts []post
}

// Forum is a live site.
type Forum struct {
	Style Style
	srv   *httptest.Server
	mu    sync.Mutex
	// threads by id; a Telegram channel is thread 1.
	threads  map[int]*thread
	nextPost int
	appeared map[string]time.Time
	// Requests counts requests other than robots.txt; NotModified the 304s.
	Requests    atomic.Int64
	NotModified atomic.Int64
}

// NewForum starts a site with threads threads of postsPer posts each
// (Telegram: one channel of threads*postsPer posts), dated in the past.
func NewForum(style Style, threads, postsPer int) *Forum {
	f := &Forum{Style: style, threads: map[int]*thread{}, appeared: map[string]time.Time{}, nextPost: 1000}
	if style == Telegram {
		postsPer *= threads
		threads = 1
	}
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	for t := 1; t <= threads; t++ {
		th := &thread{id: t, title: fmt.Sprintf("Thread number %d", t)}
		for i := 0; i < postsPer; i++ {
			f.nextPost++
			th.posts = append(th.posts, post{id: f.nextPost, author: fmt.Sprintf("user%d", f.nextPost%37), text: filler(f.nextPost), at: base.Add(time.Duration(f.nextPost) * time.Second)})
		}
		f.threads[t] = th
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// URL is the site's base URL.
func (f *Forum) URL() string { return f.srv.URL + "/" }

// Close stops the site.
func (f *Forum) Close() { f.srv.Close() }

// Entry is the listing a crawler should poll.
func (f *Forum) Entry() string {
	if f.Style == Telegram {
		return "chan"
	}
	return "forums/general.1/"
}

func filler(n int) string {
	words := []string{"the", "stream", "tonight", "was", "wild", "anyone", "saw", "what", "he", "said", "about", "moving", "again", "later", "maybe"}
	var b strings.Builder
	for i := 0; i < 24; i++ {
		b.WriteString(words[(n*7+i*3)%len(words)])
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}

// AddPost adds a post to a thread (Telegram: the channel) and returns the
// id the scraper will report (SitePostID) and when it became visible.
func (f *Forum) AddPost(threadID int, text string) (string, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Style == Telegram {
		threadID = 1
	}
	th := f.threads[threadID]
	if th == nil {
		th = &thread{id: threadID, title: fmt.Sprintf("Thread number %d", threadID)}
		f.threads[threadID] = th
	}
	f.nextPost++
	now := time.Now()
	th.posts = append(th.posts, post{id: f.nextPost, author: fmt.Sprintf("user%d", f.nextPost%37), text: text, at: now})
	id := strconv.Itoa(f.nextPost)
	if f.Style == Telegram {
		id = "chan/" + id
	}
	f.appeared[id] = now
	return id, now
}

// Appeared returns when a post added with AddPost became visible.
func (f *Forum) Appeared(sitePostID string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.appeared[sitePostID]
	return t, ok
}

// Threads returns the thread ids.
func (f *Forum) Threads() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int, 0, len(f.threads))
	for id := range f.threads {
		out = append(out, id)
	}
	sort.Ints(out)
	return out
}

func (f *Forum) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/robots.txt" {
		_, _ = w.Write([]byte("User-agent: *\nDisallow: /admin/\n"))
		return
	}
	f.Requests.Add(1)
	f.mu.Lock()
	body, ok := f.render(r)
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Header.Get("If-None-Match") == etag {
		f.NotModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(body)
}

func (f *Forum) render(r *http.Request) ([]byte, bool) {
	var b strings.Builder
	p := r.URL.Path
	switch {
	case f.Style == Telegram && p == "/s/chan":
		before, _ := strconv.Atoi(r.URL.Query().Get("before"))
		f.renderChannel(&b, before)
	case f.Style == XenForo && strings.HasPrefix(p, "/forums/general.1/"):
		page := pageOf(strings.TrimPrefix(p, "/forums/general.1/"))
		f.renderListing(&b, page)
	case f.Style == XenForo && strings.HasPrefix(p, "/threads/"):
		rest := strings.TrimPrefix(p, "/threads/")
		slug, tail, _ := strings.Cut(rest, "/")
		id, err := strconv.Atoi(slug[strings.LastIndex(slug, ".")+1:])
		th := f.threads[id]
		if err != nil || th == nil {
			return nil, false
		}
		page := pageOf(tail)
		if page > (len(th.posts)+PerPage-1)/PerPage {
			return nil, false
		}
		f.renderThread(&b, th, page)
	default:
		return nil, false
	}
	return []byte(b.String()), true
}

func pageOf(tail string) int {
	if n, err := strconv.Atoi(strings.TrimPrefix(strings.Trim(tail, "/"), "page-")); err == nil && n > 0 {
		return n
	}
	return 1
}

func head(b *strings.Builder, title, template string) {
	fmt.Fprintf(b, `<!DOCTYPE html><html id="XF" data-template="%s"><head><meta charset="utf-8"><title>%s</title></head><body><div class="p-body"><div class="p-body-inner"><div class="p-title"><h1 class="p-title-value">%s</h1></div><div class="p-body-main"><div class="p-body-pageContent">`, template, html.EscapeString(title), html.EscapeString(title))
}

func (f *Forum) renderListing(b *strings.Builder, page int) {
	ths := make([]*thread, 0, len(f.threads))
	for _, t := range f.threads {
		ths = append(ths, t)
	}
	last := func(t *thread) time.Time { return t.posts[len(t.posts)-1].at }
	sort.Slice(ths, func(i, j int) bool {
		if !last(ths[i]).Equal(last(ths[j])) {
			return last(ths[i]).After(last(ths[j]))
		}
		return ths[i].id < ths[j].id
	})
	head(b, "General", "forum_view")
	lo, hi := (page-1)*PerPage, min(page*PerPage, len(ths))
	b.WriteString(`<div class="block-container"><div class="block-body"><div class="structItemContainer">`)
	for _, t := range ths[min(lo, len(ths)):hi] {
		l := last(t)
		fmt.Fprintf(b, `<div class="structItem structItem--thread js-threadListItem-%d" data-author="%s"><div class="structItem-cell structItem-cell--main"><div class="structItem-title"><a href="/threads/thread-%d.%d/" data-tp-primary="on">%s</a></div></div><div class="structItem-cell structItem-cell--meta"><dl class="pairs pairs--justified"><dt>Replies</dt><dd>%d</dd></dl></div><div class="structItem-cell structItem-cell--latest"><a href="/threads/thread-%d.%d/latest" rel="nofollow"><time class="structItem-latestDate u-dt" dir="auto" datetime="%s" data-time="%d">%s</time></a></div></div>`,
			t.id, t.posts[0].author, t.id, t.id, html.EscapeString(t.title), len(t.posts)-1, t.id, t.id, l.UTC().Format("2006-01-02T15:04:05-0700"), l.Unix(), l.UTC().Format("Jan 2, 2006"))
	}
	b.WriteString(`</div></div></div>`)
	if hi < len(ths) {
		fmt.Fprintf(b, `<div class="pageNav"><a href="/forums/general.1/page-%d" class="pageNav-jump pageNav-jump--next">Next</a></div>`, page+1)
	}
	b.WriteString(`</div></div></div></div></body></html>`)
}

func (f *Forum) renderThread(b *strings.Builder, t *thread, page int) {
	head(b, t.title, "thread_view")
	lo, hi := (page-1)*PerPage, min(page*PerPage, len(t.posts))
	b.WriteString(`<div class="block-container"><div class="block-body js-replyNewMessageContainer">`)
	for i, p := range t.posts[lo:hi] {
		fmt.Fprintf(b, `<article class="message message--post js-post js-inlineModContainer" data-author="%s" data-content="post-%d" id="js-post-%d"><div class="message-inner"><div class="message-cell message-cell--user"><h4 class="message-name"><a href="/members/%s.%d/" class="username" data-user-id="%d">%s</a></h4></div><div class="message-cell message-cell--main"><header class="message-attribution"><ul class="message-attribution-main listInline"><li class="u-concealed"><a href="/threads/thread-%d.%d/post-%d" rel="nofollow"><time class="u-dt" datetime="%s" data-time="%d">%s</time></a></li></ul><ul class="message-attribution-opposite"><li><a href="/threads/thread-%d.%d/post-%d">#%d</a></li></ul></header><div class="message-content"><article class="message-body js-selectToQuote"><div class="bbWrapper">%s</div></article></div></div></div></article>`,
			p.author, p.id, p.id, p.author, p.id%37, p.id%37, p.author, t.id, t.id, p.id, p.at.UTC().Format("2006-01-02T15:04:05-0700"), p.at.Unix(), p.at.UTC().Format("Jan 2, 2006"), t.id, t.id, p.id, lo+i+1, html.EscapeString(p.text))
	}
	b.WriteString(`</div></div>`)
	if hi < len(t.posts) {
		fmt.Fprintf(b, `<div class="pageNav"><a href="/threads/thread-%d.%d/page-%d" class="pageNav-jump pageNav-jump--next">Next</a></div>`, t.id, t.id, page+1)
	}
	b.WriteString(`</div></div></div></div></body></html>`)
}

func (f *Forum) renderChannel(b *strings.Builder, before int) {
	ps := f.threads[1].posts
	end := len(ps)
	if before > 0 {
		end = sort.Search(len(ps), func(i int) bool { return ps[i].id >= before })
	}
	start := max(0, end-PerPage)
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Channel</title><meta property="og:title" content="Channel">`)
	if start > 0 {
		fmt.Fprintf(b, `<link rel="prev" href="/s/chan?before=%d">`, ps[start].id)
	}
	b.WriteString(`</head><body><main class="tgme_main"><section class="tgme_right_column"><div class="tgme_channel_info"><div class="tgme_channel_info_header_title"><span dir="auto">Channel</span></div></div></section><section class="tgme_channel_history js-message_history">`)
	if start > 0 {
		fmt.Fprintf(b, `<div class="tgme_widget_message_centered js-messages_more_wrap"><a href="/s/chan?before=%d" class="tme_messages_more js-messages_more" data-before="%d"></a></div>`, ps[start].id, ps[start].id)
	}
	for _, p := range ps[start:end] {
		fmt.Fprintf(b, `<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message js-widget_message" data-post="chan/%d"><div class="tgme_widget_message_bubble"><div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" href="https://t.me/chan"><span dir="auto">Channel</span></a></div><div class="tgme_widget_message_text js-message_text" dir="auto">%s</div><div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info short js-message_info"><span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/chan/%d"><time datetime="%s" class="time">%s</time></a></span></div></div></div></div></div>`,
			p.id, html.EscapeString(p.text), p.id, p.at.UTC().Format(time.RFC3339), p.at.UTC().Format("15:04"))
	}
	b.WriteString(`</section></main></body></html>`)
}
