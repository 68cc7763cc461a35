// Package scrapers collects public posts from the forum engines harassment
// campaigns use (XenForo, phpBB, Discourse, imageboards, Reddit-style
// communities, Telegram channel previews, RSS/Atom feeds, and any other
// forum through configured CSS selectors) and hands them on as msg.Post.
//
// The package has three layers:
//
//   - Engines (one file each: xenforo.go, phpbb.go, ...) are pure parse
//     functions: a fetched page in, posts and links out. They never do I/O,
//     so they are tested on saved pages in testdata/<engine>/.
//   - The Fetcher (fetch.go) is the one polite colly collector setup every
//     engine shares: robots.txt, per-host rate limits, conditional requests,
//     Retry-After, size caps, SSRF guards, UTF-8 repair.
//   - The Crawler (crawl.go) walks one site incrementally with its state in
//     Redis (state.go), and the Runner (runner.go) runs every configured site
//     under Redis leases (lease.go) so several processes share the sites.
//
// Adding an engine is one file plus one line in Engines.
package scrapers

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Kind says what a fetched page is to the crawler.
type Kind int

// Page kinds.
const (
	// Listing is an entry page (a forum, board, channel, feed) or an older
	// page reached from one.
	Listing Kind = iota
	// Thread is a page of one thread.
	Thread
)

func (k Kind) String() string {
	if k == Thread {
		return "thread"
	}
	return "listing"
}

// Input is one fetched page handed to an engine's Parse.
type Input struct {
	// Site is the site id every post gets.
	Site string
	// URL is the page's final URL (after redirects); relative links resolve
	// against it.
	URL *url.URL
	// Kind is what the crawler asked for.
	Kind Kind
	// Thread is the listing entry that led to a thread page (nil for
	// listings, or when a thread is read without one).
	Thread *ThreadRef
	// Body is the page, valid UTF-8.
	Body []byte
	// ContentType is the response's Content-Type header.
	ContentType string
	// Fetched is when the page was read; posts get it as Fetched.
	Fetched time.Time
}

// ThreadRef is a thread as a listing shows it.
type ThreadRef struct {
	// ID is the site's thread id.
	ID string `json:"id"`
	// URL is where to read the thread from its start.
	URL string `json:"url"`
	// Title is the thread title, when the listing shows it.
	Title string `json:"title,omitempty"`
	// Marker changes whenever the thread gets a post (last post time, reply
	// count, last_modified). Empty: unknown, so the thread is re-read each
	// round.
	Marker string `json:"marker,omitempty"`
	// Latest is the time of the thread's last post, when shown; the
	// backfill age bound uses it to skip old threads.
	Latest time.Time `json:"latest,omitzero"`
	// Pinned is a sticky thread or an announcement: the listing shows it
	// on top whatever its activity, so whether it moved says nothing of
	// threads pushed to the next page.
	Pinned bool `json:"pinned,omitempty"`
}

// Page is what an engine found on one page.
type Page struct {
	// Posts are the posts on the page, in page order. Engines fill every
	// field they can and leave ID and ContentHash to the crawler
	// (msg.Post.Normalize).
	Posts []msg.Post `json:"posts,omitempty"`
	// Threads are the threads a listing links to.
	Threads []ThreadRef `json:"threads,omitempty"`
	// Next is the following page in reading order: a thread's next page, or
	// a listing's next page of threads.
	Next string `json:"next,omitempty"`
	// Older is, for listings whose posts are newest first (channels, feeds,
	// JSON post streams), the page of older posts.
	Older string `json:"older,omitempty"`
	// Title is the thread or channel title, when the page shows one.
	Title string `json:"title,omitempty"`
	// Silent are a newest-first listing's items that are no posts (a
	// picture without a caption): never handed on, but recorded as read,
	// so that a page of them, all new, counts as part of a gap and the
	// walk reads the older page.
	Silent []ItemRef `json:"silent,omitempty"`
}

// ItemRef names an item of a listing that is no post (Page.Silent), as
// a post on its place would be named.
type ItemRef struct {
	SitePostID string `json:"site_post_id"`
	ThreadID   string `json:"thread_id,omitempty"`
}

// Engine parses the pages of one forum software. An Engine is built per
// site from its config by the engine's factory and must be safe for use by
// one goroutine at a time.
//
// Parse must not do I/O and must never panic, whatever the bytes: a page it
// cannot read returns an error wrapping ErrMarkup (the page lacks the
// structure the engine expects, which is how a markup change shows) or
// ErrBadPage (the page is broken: truncated JSON, an error page). An empty
// thread or listing is not an error: it returns an empty Page.
type Engine interface {
	// Entries are the listings polled each round, relative to the site's
	// base URL. Listing pages yield threads to read, posts, or both.
	Entries() []string
	// Parse reads one fetched page.
	Parse(in *Input) (*Page, error)
}

// LegacyIDs is implemented by an engine whose thread ids were given
// differently by an earlier version. The crawler calls it for a thread it
// has no state for under its id: it takes over the state kept under the
// thread's old id, once, so that after an upgrade a thread read before
// is not read again from its start as a new one, and none of its posts is
// emitted again. Both methods are pure, like Parse.
type LegacyIDs interface {
	// LegacyThreadID is the id an earlier version gave the thread at
	// threadURL (its ThreadRef.URL); "" when there is none to look for.
	// The crawler ignores one equal to the thread's id now.
	LegacyThreadID(threadURL string) string
	// PostIDFromLegacy is the site post id now of a post of that thread
	// the earlier version recorded as old (old when it is unchanged).
	PostIDFromLegacy(threadURL, old string) string
}

// Errors an engine's Parse wraps.
var (
	// ErrMarkup reports a page without the structure the engine expects:
	// the site changed its markup, or is not the engine configured.
	ErrMarkup = errors.New("page markup not recognized")
	// ErrBadPage reports a page that is broken (truncated, not JSON, an
	// error page served with 200).
	ErrBadPage = errors.New("page is broken")
)

// Factory builds an engine for one site.
type Factory struct {
	// Name is the engine name used in config (scrape.sites[].engine).
	Name string
	// New builds the engine for a site, rejecting site settings the engine
	// cannot use.
	New func(site config.Site) (Engine, error)
}

// Engines is the registry: every engine, one line each. A new engine is a
// file with its factory plus one line here; the conformance test picks it
// up by itself.
var Engines = []Factory{
	{"xenforo", newXenForo},
	{"phpbb", newPhpBB},
	{"discourse", newDiscourse},
	{"imageboard", newImageboard},
	{"reddit", newReddit},
	{"telegram", newTelegram},
	{"rss", newRSS},
	{"generic", newGeneric},
}

// EngineNames lists the registered engine names.
func EngineNames() []string {
	out := make([]string, len(Engines))
	for i, f := range Engines {
		out[i] = f.Name
	}
	return out
}

// NewEngine builds the engine a site's config names.
func NewEngine(site config.Site) (Engine, error) {
	for _, f := range Engines {
		if f.Name == site.Engine {
			return f.New(site)
		}
	}
	return nil, fmt.Errorf("unknown engine %q (known: %v)", site.Engine, EngineNames())
}

// Validate checks what config.Validate cannot: that each site's engine
// exists and accepts the site's settings. Each problem names its field path.
func Validate(c config.Scrape) error {
	var p config.Problems
	for i, s := range c.Sites {
		if _, err := NewEngine(s); err != nil {
			p.Addf(fmt.Sprintf("scrape.sites[%d].engine", i), config.ErrInvalidEnum, "%v", err)
		}
	}
	return p.Err()
}
