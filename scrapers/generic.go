package scrapers

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// generic reads any forum through CSS selectors from the site's config
// (scrape.sites[].selectors): vBulletin, SMF, MyBB, NodeBB, Invision and
// the rest. docs/scrapers.md has a worked example.
type generic struct {
	entries []string
	s       config.Selectors
	loc     *time.Location
	// idRE is selectors.thread_id_pattern, compiled.
	idRE *regexp.Regexp
	// bases are the site's URL and mirrors that serve it under a path.
	bases []*url.URL
}

func newGeneric(site config.Site) (Engine, error) {
	if site.Selectors == nil {
		return nil, errors.New("the generic engine needs selectors")
	}
	if len(site.Entries) == 0 {
		return nil, errors.New("the generic engine needs entries: the listing pages to watch")
	}
	loc, err := siteLocation(site)
	if err != nil {
		return nil, err
	}
	g := &generic{entries: site.Entries, s: *site.Selectors, loc: loc}
	// Compile every selector now, so a typo fails at start-up with its
	// field name, not as "markup changed" on the first page.
	for name, sel := range map[string]string{
		"thread_link": g.s.ThreadLink, "thread_row": g.s.ThreadRow, "thread_latest": g.s.ThreadLatest,
		"listing_next": g.s.ListingNext, "thread_title": g.s.ThreadTitle, "post": g.s.Post, "post_id": g.s.PostID,
		"author": g.s.Author, "time": g.s.Time, "body": g.s.Body, "quote": g.s.Quote, "quote_header": g.s.QuoteHeader,
		"permalink": g.s.Permalink, "next_page": g.s.NextPage, "deleted": g.s.Deleted,
		"thread_id": g.s.ThreadID, "server_time": g.s.ServerTime,
	} {
		if sel == "" {
			continue
		}
		if _, err := cascadia.ParseGroup(sel); err != nil {
			return nil, fmt.Errorf("selectors.%s: %q is not a CSS selector: %w", name, sel, err)
		}
	}
	if g.s.Post == "" || g.s.Body == "" {
		return nil, errors.New("selectors.post and selectors.body are required")
	}
	for _, b := range append([]string{site.URL}, site.Mirrors...) {
		if u, err := url.Parse(b); err == nil && strings.Trim(u.Path, "/") != "" {
			if !strings.HasSuffix(u.Path, "/") {
				u.Path += "/"
			}
			g.bases = append(g.bases, u)
		}
	}
	if g.s.ThreadIDPattern != "" {
		if g.idRE, err = regexp.Compile(g.s.ThreadIDPattern); err != nil {
			return nil, fmt.Errorf("selectors.thread_id_pattern: %q is not a regular expression: %w", g.s.ThreadIDPattern, err)
		}
	}
	return g, nil
}

func (g *generic) Entries() []string { return g.entries }

// genericThreadID names a thread by its URL without fragment, less the
// slug beside a numeric id where the URL's shape says which number is the
// id: a segment "<slug>.<id>" (XenForo-style, "/t/old-title.123" is
// "/t/123") and a query "<id>-<slug>" (vBulletin, "showthread.php?123-Title").
// A forum that puts the title in its URL changes the URL with the title;
// keyed by it, a renamed thread was a new one and every post of it was
// emitted again. Other numbers are left in place: one inside a slug
// ("top-10-tips") is no id, and two threads must never share one. So a
// "<slug>.<id>" slug must look like XenForo's (lower case, no dot or
// comma): "/Thread-Windows-8.1" (MyBB) and "topic,123.0" (SMF) end in a
// title's or an offset's number. A slug that starts with a number keeps
// it: "123-windows-8.1" may be an id-first slug (Invision, vBulletin)
// whose ".1" is its title's, so it is "123.1", never "1".
func genericThreadID(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	pu.Fragment, pu.RawFragment = "", ""
	out := pu.RequestURI()
	segs := strings.Split(pu.EscapedPath(), "/")
	changed := false
	for i, seg := range segs {
		m := slugDotID.FindStringSubmatch(seg)
		if m == nil || !slugLetter.MatchString(m[1]) {
			continue
		}
		segs[i], changed = m[2], true
		if lead := leadingID.FindStringSubmatch(m[1]); lead != nil {
			segs[i] = lead[1] + "." + m[2]
		}
	}
	query := pu.RawQuery
	if m := queryIDSlug.FindStringSubmatch(query); m != nil {
		query, changed = m[1], true
	}
	if !changed {
		return out
	}
	out = strings.Join(segs, "/")
	if query != "" {
		out += "?" + query
	}
	return out
}

var (
	// slugDotID is "<slug>.<id>": a slug as XenForo writes one (lower
	// case letters, digits, dashes, escaped characters) before a dot and
	// the digits that end the segment.
	slugDotID = regexp.MustCompile(`^((?:[a-z0-9_-]|%[0-9A-Fa-f]{2})+)\.(\d+)$`)
	// slugLetter says a slug is words, not a number ("2.5" is no slug).
	slugLetter = regexp.MustCompile(`[a-z]|%[0-9A-Fa-f]{2}`)
	// leadingID is the number an id-first slug starts with.
	leadingID = regexp.MustCompile(`^(\d+)-`)
	// queryIDSlug is a query that is an id and a slug, no parameters.
	queryIDSlug = regexp.MustCompile(`^(\d+)-[^=&]*$`)
)

// threadID is the id of the thread at URL u: from the thread_id selector
// and attribute in its listing row (row nil: none), else from
// thread_id_pattern, else genericThreadID, on the URL below the site's.
func (g *generic) threadID(u string, row *goquery.Selection) string {
	if (g.s.ThreadID != "" || g.s.ThreadIDAttr != "") && row != nil {
		if id := lastDigits(attrOrText(g.find(row, g.s.ThreadID), g.s.ThreadIDAttr)); id != "" {
			return id
		}
	}
	u = g.belowBase(u)
	if g.idRE != nil {
		if pu, err := url.Parse(u); err == nil {
			pu.Fragment, pu.RawFragment = "", ""
			if m := g.idRE.FindStringSubmatch(pu.RequestURI()); m != nil {
				if len(m) > 1 && m[1] != "" {
					return m[1]
				}
				return m[0]
			}
		}
	}
	return genericThreadID(u)
}

// belowBase is URL u below the site's URL where the site is served under
// a path: a mirror serving it under another path has the same threads.
func (g *generic) belowBase(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	for _, b := range g.bases {
		if below, ok := underBase(b, pu); ok {
			rest, err := url.Parse("/" + below)
			if err == nil {
				rest.Fragment = pu.Fragment
				return rest.String()
			}
			break
		}
	}
	return u
}

// postIDOf is the site post id of the post at permalink u: its thread's id
// and the fragment that points at the post in the thread's page. A
// permalink with no fragment names the post in its path or query
// (Invision's "?comment=789", Discourse's "/t/slug/123/4"), so its own URL
// (slug-less) is the id, not the thread's: with the thread's id from
// thread_id_pattern, every post of the thread would have had one id.
func (g *generic) postIDOf(u string) string {
	frag := mustFragment(u)
	if frag == "" {
		return genericThreadID(g.belowBase(u)) + "#"
	}
	return g.threadID(u, nil) + "#" + frag
}

// LegacyThreadID is the id the version before thread_id, thread_id_pattern
// and slug-less ids gave the thread at u: its URL's path and query as
// they are, the site's path included.
func (g *generic) LegacyThreadID(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.RequestURI()
}

// PostIDFromLegacy re-keys a post id that version took from a permalink,
// "<its thread id>#<fragment>", as Parse takes it now. Ids read with
// post_id/post_id_attr are digits and stay as they are.
func (g *generic) PostIDFromLegacy(threadURL, old string) string {
	path, frag, ok := strings.Cut(old, "#")
	if !ok || !strings.HasPrefix(path, "/") {
		return old
	}
	base, err := url.Parse(threadURL)
	if err != nil {
		return old
	}
	ref, err := url.Parse(path)
	if err != nil {
		return old
	}
	abs := base.ResolveReference(ref)
	abs.Fragment, abs.RawFragment = frag, ""
	return g.postIDOf(abs.String())
}

func (g *generic) find(s *goquery.Selection, sel string) *goquery.Selection {
	if sel == "" {
		return s
	}
	return s.Find(sel)
}

func (g *generic) Parse(in *Input) (*Page, error) {
	doc, err := parseHTML(in.Body)
	if err != nil {
		return nil, err
	}
	base := docBase(in.URL, doc)
	s := g.s
	pg := &Page{}
	// Relative dates are the board's: read against its clock where the
	// page shows it.
	now := in.Fetched
	if s.ServerTime != "" && !now.IsZero() {
		if el := doc.Find(s.ServerTime).First(); el.Length() > 0 {
			shown := strings.TrimSpace(el.Text())
			if a, ok := el.Attr("datetime"); ok {
				shown = a
			}
			now = boardNow(shown, s.TimeFormat, g.loc, now)
		}
	}
	if s.ThreadTitle != "" {
		pg.Title = strings.TrimSpace(doc.Find(s.ThreadTitle).First().Text())
	}
	// Listing: threads, optionally per row with a latest marker.
	if s.ThreadLink != "" {
		seen := map[string]bool{}
		add := func(link, row *goquery.Selection) {
			href := resolve(base, attrOrText(link, "href"))
			if href == "" {
				return
			}
			scope := row
			if scope == nil {
				scope = link
			}
			id := g.threadID(href, scope)
			if seen[id] {
				return
			}
			seen[id] = true
			t := ThreadRef{ID: id, URL: href, Title: strings.TrimSpace(link.Text())}
			if row != nil && s.ThreadLatest != "" {
				v := g.timeOf(row.Find(s.ThreadLatest).First())
				t.Marker = v
				t.Latest, _ = parseTimeOnBoard(v, s.TimeFormat, g.loc, now, in.Fetched)
			}
			pg.Threads = append(pg.Threads, t)
		}
		if s.ThreadRow != "" {
			doc.Find(s.ThreadRow).Each(func(_ int, row *goquery.Selection) {
				add(row.Find(s.ThreadLink).First(), row)
			})
		} else {
			doc.Find(s.ThreadLink).Each(func(_ int, l *goquery.Selection) { add(l, nil) })
		}
		if s.ListingNext != "" {
			pg.Next = resolve(base, attrOrText(doc.Find(s.ListingNext), "href"))
		}
	}
	posts := doc.Find(s.Post)
	threadID, threadURL := "", ""
	if in.Thread != nil {
		threadID, threadURL = in.Thread.ID, in.Thread.URL
	} else {
		// Read without its listing row: the page itself names the thread.
		threadID, threadURL = g.threadID(in.URL.String(), nil), in.URL.String()
	}
	posts.Each(func(_ int, ps *goquery.Selection) {
		if s.Deleted != "" && (ps.Is(s.Deleted) || ps.Find(s.Deleted).Length() > 0) {
			return
		}
		p := msg.Post{ThreadID: threadID, ThreadURL: threadURL, Thread: pg.Title}
		if s.Permalink != "" {
			p.URL = resolve(base, attrOrText(ps.Find(s.Permalink), "href"))
		}
		if s.PostID != "" || s.PostIDAttr != "" {
			p.SitePostID = lastDigits(attrOrText(g.find(ps, s.PostID), s.PostIDAttr))
		}
		if p.SitePostID == "" && p.URL != "" {
			p.SitePostID = g.postIDOf(p.URL)
		}
		if p.SitePostID == "" {
			return
		}
		if s.Author != "" {
			p.Author = strings.TrimSpace(ps.Find(s.Author).First().Text())
		}
		if s.Time != "" {
			p.Published, _ = parseTimeOnBoard(g.timeOf(ps.Find(s.Time).First()), s.TimeFormat, g.loc, now, in.Fetched)
		}
		p.Text, p.Quoted = splitQuotes(ps.Find(s.Body).First(), s.Quote, s.QuoteHeader)
		if p.Text == "" && len(p.Quoted) == 0 {
			return
		}
		if p.URL == "" {
			u := *in.URL
			u.Fragment = p.SitePostID
			p.URL = u.String()
		}
		pg.Posts = append(pg.Posts, p)
	})
	if s.NextPage != "" && posts.Length() > 0 {
		pg.Next = resolve(base, attrOrText(doc.Find(s.NextPage), "href"))
	}
	if len(pg.Posts) == 0 && len(pg.Threads) == 0 {
		// A thread page always has its first post and a listing its
		// threads: selectors that match nothing mean the markup moved.
		return nil, fmt.Errorf("%w: selectors matched no posts (%q) and no thread links (%q)", ErrMarkup, s.Post, s.ThreadLink)
	}
	return pg, nil
}

// timeOf is the time an element shows: its time_attr attribute, or its
// text where it has none (boards that put the absolute time in a title
// only on recent posts, whose text is relative).
func (g *generic) timeOf(el *goquery.Selection) string {
	if g.s.TimeAttr != "" {
		if a, ok := el.Attr(g.s.TimeAttr); ok {
			return strings.TrimSpace(a)
		}
	}
	return strings.TrimSpace(el.Text())
}

func mustFragment(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.Fragment
}
