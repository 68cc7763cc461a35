package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pageSize is how many posts a thread page (and a channel page) shows.
const pageSize = 20

// Server serves the demo sites, each on its own loopback port, as its
// engine's real pages: what a post shows depends on the wall clock.
type Server struct {
	tl  *Timeline
	now func() time.Time
	log *slog.Logger

	mu    sync.Mutex
	sched Schedule

	urls    map[string]string
	servers []*http.Server
	wg      sync.WaitGroup
}

// NewServer returns a server of tl whose world starts at origin, with the
// campaign clock running speed times faster than the wall clock once
// started. now is the wall clock (nil: time.Now).
func NewServer(tl *Timeline, origin time.Time, speed float64, now func() time.Time, log *slog.Logger) *Server {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{tl: tl, now: now, log: log, sched: Schedule{Origin: origin, Speed: speed}, urls: map[string]string{}}
}

// Timeline returns the world the server serves.
func (s *Server) Timeline() *Timeline { return s.tl }

// StartCampaign starts the campaign clock at t.
func (s *Server) StartCampaign(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sched.CampaignStart = t
}

// Schedule returns the current mapping of the timeline to the wall clock.
func (s *Server) Schedule() Schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sched
}

// Start listens on a free loopback port per site and serves until ctx
// ends or Close is called.
func (s *Server) Start(ctx context.Context) error {
	for _, site := range Sites {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.Close()
			return fmt.Errorf("cannot listen for demo site %s: %w", site, err)
		}
		srv := &http.Server{Handler: s.Handler(site), ReadHeaderTimeout: 5 * time.Second}
		s.urls[site] = "http://" + ln.Addr().String() + "/"
		s.servers = append(s.servers, srv)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("demo site stopped", "site", site, "err", err)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return nil
}

// URL returns a site's base URL (after Start).
func (s *Server) URL(site string) string { return s.urls[site] }

// Close stops every site.
func (s *Server) Close() {
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	s.wg.Wait()
}

// Handler returns the handler of one site.
func (s *Server) Handler(site string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /robots.txt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("User-agent: *\nAllow: /\n"))
	})
	switch site {
	case SiteForum:
		mux.HandleFunc("GET /forums/general.1/", s.xfForum)
		mux.HandleFunc("GET /threads/{thread}/{page...}", s.xfThread)
	case SiteBoard:
		mux.HandleFunc("GET /b/threads.json", s.ibThreads)
		mux.HandleFunc("GET /b/thread/{file}", s.ibThread)
	case SiteChannel:
		mux.HandleFunc("GET /s/"+Channel, s.tgChannel)
	}
	return mux
}

// visible is a post as published at a wall time.
type visible struct {
	Post
	At time.Time
}

// posts returns the posts of site (and thread, when not empty) published
// by now, in publication order.
func (s *Server) posts(site, thread string) []visible {
	sched := s.Schedule()
	now := s.now()
	var out []visible
	for _, p := range s.tl.Posts {
		if p.Site != site || (thread != "" && p.Thread != thread) {
			continue
		}
		at, ok := sched.At(p)
		if !ok || at.After(now) {
			continue
		}
		out = append(out, visible{p, at.UTC().Truncate(time.Second)})
	}
	return out
}

// threads returns a site's threads that have posts, latest activity first,
// with their posts.
func (s *Server) threads(site string) []threadView {
	all := s.posts(site, "")
	by := map[string][]visible{}
	for _, p := range all {
		by[p.Thread] = append(by[p.Thread], p)
	}
	var out []threadView
	for _, t := range s.tl.Threads {
		if t.Site != site || len(by[t.ID]) == 0 {
			continue
		}
		ps := by[t.ID]
		out = append(out, threadView{Thread: t, Posts: ps})
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].latest().After(out[j].latest())
	})
	return out
}

type threadView struct {
	Thread
	Posts []visible
}

func (t threadView) latest() time.Time { return t.Posts[len(t.Posts)-1].At }

func (t threadView) title() string {
	if t.Title != "" {
		return t.Title
	}
	return firstWords(t.Posts[0].Text, 8)
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}

func writeHTML(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

var esc = html.EscapeString

// --- XenForo ---------------------------------------------------------------

func xfThreadPath(t Thread) string { return "/threads/" + t.Slug + "." + t.ID + "/" }

func xfTime(t time.Time) string {
	return fmt.Sprintf(`<time class="u-dt" dir="auto" datetime="%s" data-time="%d" data-timestamp="%d">%s</time>`,
		t.Format("2006-01-02T15:04:05-0700"), t.Unix(), t.Unix(), t.Format("Jan 2, 2006"))
}

func xfPage(title, template, body string) string {
	return `<!DOCTYPE html>
<html id="XF" lang="en-US" dir="LTR" data-app="public" data-template="` + template + `" class="has-no-js template-` + template + `">
<head><meta charset="utf-8" /><title>` + esc(title) + ` | Grudgeboard</title></head>
<body data-template="` + template + `">
<div class="p-pageWrapper" id="top">
<div class="p-body"><div class="p-body-inner">
<div class="p-body-header"><div class="p-title "><h1 class="p-title-value">` + esc(title) + `</h1></div></div>
<div class="p-body-main"><div class="p-body-content"><div class="p-body-pageContent">
` + body + `
</div></div></div>
</div></div>
</div>
</body>
</html>
`
}

func (s *Server) xfForum(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString(`<div class="block-container"><div class="block-body"><div class="structItemContainer">`)
	for _, t := range s.threads(SiteForum) {
		first, last := t.Posts[0], t.Posts[len(t.Posts)-1]
		path := xfThreadPath(t.Thread)
		fmt.Fprintf(&b, `
<div class="structItem structItem--thread js-inlineModContainer js-threadListItem-%s" data-author="%s">
	<div class="structItem-cell structItem-cell--main">
		<div class="structItem-title"><a href="%s" data-tp-primary="on">%s</a></div>
		<div class="structItem-minor"><ul class="structItem-parts"><li><a class="username">%s</a></li><li class="structItem-startDate"><a href="%s">%s</a></li></ul></div>
	</div>
	<div class="structItem-cell structItem-cell--meta"><dl class="pairs pairs--justified"><dt>Replies</dt><dd>%d</dd></dl></div>
	<div class="structItem-cell structItem-cell--latest"><a href="%slatest" rel="nofollow"><time class="structItem-latestDate u-dt" datetime="%s" data-time="%d">%s</time></a><div class="structItem-minor"><a class="username">%s</a></div></div>
</div>`, esc(t.ID), esc(first.Author), path, esc(t.title()), esc(first.Author), path, xfTime(first.At),
			len(t.Posts)-1, path, last.At.Format("2006-01-02T15:04:05-0700"), last.At.Unix(), last.At.Format("Jan 2, 2006"), esc(last.Author))
	}
	b.WriteString(`</div></div></div>`)
	writeHTML(w, xfPage("General discussion", "forum_view", b.String()))
}

func (s *Server) xfThread(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("thread")
	dot := strings.LastIndexByte(ref, '.')
	id := ref[dot+1:]
	var th *threadView
	for _, t := range s.threads(SiteForum) {
		if t.ID == id {
			th = &t
			break
		}
	}
	if th == nil {
		http.NotFound(w, r)
		return
	}
	page := 1
	if rest := strings.Trim(r.PathValue("page"), "/"); rest != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(rest, "page-"))
		if err != nil || !strings.HasPrefix(rest, "page-") || n < 1 {
			http.NotFound(w, r)
			return
		}
		page = n
	}
	pages := (len(th.Posts) + pageSize - 1) / pageSize
	if page > pages {
		http.NotFound(w, r)
		return
	}
	path := xfThreadPath(th.Thread)
	var b strings.Builder
	if page < pages {
		fmt.Fprintf(&b, `<nav class="pageNavWrapper"><div class="pageNav"><a href="%spage-%d" class="pageNav-jump pageNav-jump--next">Next</a></div></nav>`, path, page+1)
	}
	b.WriteString(`<div class="block block--messages"><div class="block-container"><div class="block-body js-replyNewMessageContainer">`)
	for _, p := range th.Posts[(page-1)*pageSize : min(page*pageSize, len(th.Posts))] {
		uid := userID(p.Author)
		fmt.Fprintf(&b, `
<article class="message message--post js-post" data-author="%s" data-content="post-%d" id="js-post-%d">
	<div class="message-inner">
		<div class="message-cell message-cell--user"><section class="message-user"><div class="message-userDetails">
			<h4 class="message-name"><a href="/members/%d/" class="username" data-user-id="%d">%s</a></h4>
		</div></section></div>
		<div class="message-cell message-cell--main"><div class="message-main">
			<header class="message-attribution message-attribution--split">
				<ul class="message-attribution-main listInline"><li class="u-concealed"><a href="%spost-%d" rel="nofollow">%s</a></li></ul>
				<ul class="message-attribution-opposite"><li><a href="%spost-%d" class="message-attribution-gadget" rel="nofollow">Share</a></li></ul>
			</header>
			<div class="message-content"><article class="message-body js-selectToQuote"><div class="bbWrapper">%s%s</div></article></div>
		</div></div>
	</div>
</article>`, esc(p.Author), p.No, p.No, uid, uid, esc(p.Author), path, p.No, xfTime(p.At), path, p.No, xfQuote(p.Post), xfText(p.Text))
	}
	b.WriteString(`</div></div></div>`)
	writeHTML(w, xfPage(th.title(), "thread_view", b.String()))
}

func xfQuote(p Post) string {
	if p.Quote == "" {
		return ""
	}
	return `<blockquote class="bbCodeBlock bbCodeBlock--expandable bbCodeBlock--quote" data-quote="` + esc(p.QuoteAuthor) + `">
	<div class="bbCodeBlock-title"><a class="bbCodeBlock-sourceJump">` + esc(p.QuoteAuthor) + ` said:</a></div>
	<div class="bbCodeBlock-content"><div class="bbCodeBlock-expandContent">` + esc(p.Quote) + `</div></div>
</blockquote>
`
}

func xfText(s string) string { return strings.ReplaceAll(esc(s), "\n", "<br />\n") }

// userID gives each author a stable member id.
func userID(name string) int {
	h := 0
	for _, r := range name {
		h = (h*31 + int(r)) % 9973
	}
	return 100 + h
}

// --- Imageboard (4chan JSON API) ---------------------------------------------

type ibPost struct {
	No           int64  `json:"no"`
	Resto        int64  `json:"resto"`
	Time         int64  `json:"time"`
	Name         string `json:"name"`
	Sub          string `json:"sub,omitempty"`
	Com          string `json:"com,omitempty"`
	LastModified int64  `json:"last_modified,omitempty"`
	Replies      int    `json:"replies,omitempty"`
}

func (s *Server) ibThreads(w http.ResponseWriter, _ *http.Request) {
	type page struct {
		Page    int      `json:"page"`
		Threads []ibPost `json:"threads"`
	}
	pg := page{Page: 1, Threads: []ibPost{}}
	for _, t := range s.threads(SiteBoard) {
		no, _ := strconv.ParseInt(t.ID, 10, 64)
		pg.Threads = append(pg.Threads, ibPost{No: no, LastModified: t.latest().Unix(), Replies: len(t.Posts) - 1})
	}
	writeJSON(w, []page{pg})
}

func (s *Server) ibThread(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	id, ok := strings.CutSuffix(file, ".json")
	if !ok {
		http.NotFound(w, r)
		return
	}
	var th *threadView
	for _, t := range s.threads(SiteBoard) {
		if t.ID == id {
			th = &t
			break
		}
	}
	if th == nil {
		http.NotFound(w, r)
		return
	}
	op, _ := strconv.ParseInt(th.ID, 10, 64)
	out := struct {
		Posts []ibPost `json:"posts"`
	}{}
	for i, p := range th.Posts {
		ip := ibPost{No: p.No, Time: p.At.Unix(), Name: p.Author, Com: ibCom(p.Post)}
		if i == 0 {
			ip.Sub = th.Title
		} else {
			ip.Resto = op
		}
		out.Posts = append(out.Posts, ip)
	}
	writeJSON(w, out)
}

// ibCom is a post's comment HTML: greentext quote lines, then the text.
func ibCom(p Post) string {
	var b strings.Builder
	if p.Quote != "" {
		b.WriteString(`<span class="quote">&gt;` + esc(p.Quote) + `</span><br>`)
	}
	b.WriteString(strings.ReplaceAll(esc(p.Text), "\n", "<br>"))
	return b.String()
}

// --- Telegram channel preview (t.me/s/<channel>) ------------------------------

func (s *Server) tgChannel(w http.ResponseWriter, r *http.Request) {
	all := s.posts(SiteChannel, Channel)
	end := len(all)
	if b := r.URL.Query().Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			http.Error(w, "bad before", http.StatusBadRequest)
			return
		}
		end = sort.Search(len(all), func(i int) bool { return all[i].No >= n })
	}
	start := max(0, end-pageSize)
	page := all[start:end]
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Leakwire – Telegram</title>
<meta property="og:title" content="Leakwire">`)
	if start > 0 {
		fmt.Fprintf(&b, `<link rel="prev" href="/s/%s?before=%d">`, Channel, page[0].No)
	}
	b.WriteString(`</head>
<body class="widget_frame_base tgme_webpage_body"><main class="tgme_main">
<section class="tgme_right_column"><div class="tgme_channel_info"><div class="tgme_channel_info_header"><div class="tgme_channel_info_header_title"><span dir="auto">Leakwire</span></div><div class="tgme_channel_info_header_username"><a href="/` + Channel + `">@` + Channel + `</a></div></div></div></section>
<section class="tgme_channel_history js-message_history">
`)
	if start > 0 {
		fmt.Fprintf(&b, `<div class="tgme_widget_message_centered js-messages_more_wrap"><a href="/s/%s?before=%d" class="tme_messages_more js-messages_more" data-before="%d"></a></div>`, Channel, page[0].No, page[0].No)
	}
	for _, p := range page {
		fmt.Fprintf(&b, `<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message js-widget_message" data-post="%s/%d">
  <div class="tgme_widget_message_bubble">
    <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" href="/%s"><span dir="auto">%s</span></a></div>
    <div class="tgme_widget_message_text js-message_text" dir="auto">%s%s</div>
    <div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info short js-message_info"><span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="/%s/%d"><time datetime="%s" class="time">%s</time></a></span></div></div>
  </div>
</div></div>
`, Channel, p.No, Channel, esc(p.Author), tgQuote(p.Post), strings.ReplaceAll(esc(p.Text), "\n", "<br/>"), Channel, p.No, p.At.Format(time.RFC3339), p.At.Format("15:04"))
	}
	b.WriteString("</section></main></body></html>\n")
	writeHTML(w, b.String())
}

// tgQuote renders quoted text as a channel post's blockquote.
func tgQuote(p Post) string {
	if p.Quote == "" {
		return ""
	}
	return "<blockquote>" + esc(p.Quote) + "</blockquote>"
}
