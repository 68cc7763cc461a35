// Package demo is ThreatWatch's demonstration world: three simulated sites
// served on loopback by the binary itself, in the markup the real scraper
// engines read, where a harassment campaign unfolds on an accelerated clock.
//
//   - grudgeboard, a XenForo-style forum: ordinary chatter, a gaming thread
//     and a news thread about a swatting sentence (hard negatives), then the
//     campaign: a target is named, her address and phone are posted, people
//     call for her to be swatted, then threaten her.
//   - leakwire, a Telegram-style channel preview (t.me/s/<channel>) of
//     gossip and "leaks", until the campaign spreads there.
//   - chanboard, an imageboard with a 4chan-style JSON API whose general
//     thread posts violent rhetoric all day, every day, at a steady rate.
//     It must not page: its normal is hostile.
//
// Every person, address and phone number is fictional: phone numbers are in
// the reserved 555-01xx range, streets and towns are made up.
//
// The sites have days of history before the demo starts (the scrapers'
// first crawl backfills it, which is what the baselines learn from). The
// campaign then runs on its own clock, --speed times faster than real time;
// the steady board keeps posting at its real rate on the wall clock,
// because a faster hostile board would be a real spike. The timeline is a
// pure function of a seed: the same seed gives the same posts.
//
// Nothing here knows about the pipeline: the demo command points the real
// scrapers at these sites like at any others.
package demo

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Site names, as in the scrape config and every post's site field.
const (
	SiteForum   = "grudgeboard"
	SiteChannel = "leakwire"
	SiteBoard   = "chanboard"
)

// Sites lists the demo sites in display order.
var Sites = []string{SiteForum, SiteChannel, SiteBoard}

// Channel is the Telegram channel's name.
const Channel = "leakwire"

// Clock says which clock a post's Offset is on.
type Clock int

const (
	// History posts were written before the demo started: Offset is
	// negative, from the server's origin.
	History Clock = iota
	// Background posts keep the wall clock: Offset from the origin.
	Background
	// Campaign posts run on the accelerated campaign clock: Offset is
	// campaign time since the campaign started, divided by the speed on
	// the wall clock.
	Campaign
)

// Phase names the part of the story a post belongs to.
type Phase string

// The phases, in story order.
const (
	PhaseChatter   Phase = "chatter"
	PhaseGaming    Phase = "gaming"  // hard negative: violent words about a game
	PhaseNews      Phase = "news"    // hard negative: reporting on swatting
	PhaseHostile   Phase = "hostile" // the steady channel's usual rhetoric
	PhaseTarget    Phase = "target"  // a person is named and blamed
	PhaseDox       Phase = "dox"     // her address and phone are posted
	PhaseSwat      Phase = "swat"    // calls to have her swatted
	PhaseThreat    Phase = "threat"  // threats of violence
	PhaseSpread    Phase = "spread"  // the campaign reaches the second site
	PhaseAftermath Phase = "aftermath"
)

// Post is one post of the demo world.
type Post struct {
	Site string
	// Thread is the thread's id on its site (XenForo thread id, imageboard
	// OP number, Telegram channel name).
	Thread string
	// No is the post's id on its site, increasing in publication order.
	No     int64
	Author string
	Clock  Clock
	Offset time.Duration
	Text   string
	// Quote is text quoted from an earlier post, with its author.
	Quote, QuoteAuthor string
	Phase              Phase
}

// Thread is a thread of the forum or the imageboard, or the channel.
type Thread struct {
	Site, ID, Title, Slug string
}

// Timeline is the whole demo world: threads and posts, sorted per site in
// publication order.
type Timeline struct {
	Seed    uint64
	Threads []Thread
	Posts   []Post
	// CampaignLength is the campaign clock's length.
	CampaignLength time.Duration
	// History is how far back the sites' history reaches.
	History time.Duration
}

// Target is the fictional person the campaign is about.
const (
	TargetName    = "Dana Whitlock"
	TargetHandle  = "@dwhitlock_art"
	TargetAddress = "1427 Larkspur Lane, Millbrook"
	TargetPhone   = "(541) 555-0142"
)

// Options shape the timeline.
type Options struct {
	// History is how far back the history reaches; the baselines need a
	// day of it before they may page. Default 30h.
	History time.Duration
	// SteadyPerHour is the hostile board's posting rate. Default 30.
	SteadyPerHour float64
	// Background is how long the hostile board keeps posting after the
	// origin. Default 2h.
	Background time.Duration
}

func (o *Options) defaults() {
	if o.History <= 0 {
		o.History = 30 * time.Hour
	}
	if o.SteadyPerHour <= 0 {
		o.SteadyPerHour = 30
	}
	if o.Background <= 0 {
		o.Background = 2 * time.Hour
	}
}

// Build makes the timeline of a seed.
func Build(seed uint64, o Options) *Timeline {
	o.defaults()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	tl := &Timeline{Seed: seed, History: o.History, CampaignLength: 180 * time.Minute}
	b := &builder{r: r, tl: tl}

	general := b.thread(SiteForum, "1", "General chat: what are you up to?")
	gaming := b.thread(SiteForum, "2", "Raid night: Ashfall citadel, who's in?")
	news := b.thread(SiteForum, "3", "Man sentenced for swatting calls")
	campaign := b.thread(SiteForum, "4", "Remember the artist who got our server nuked?")
	channel := b.thread(SiteChannel, Channel, "Leakwire")
	board := b.thread(SiteBoard, "1000", "/b/ general: burn it all down")

	// History. Each site's first post in crawl order is its oldest (the
	// forum's general thread is listed first and read from page 1, the
	// board's general thread from its opening post), because a baseline is
	// counted from the first hour the pipeline sees of a site.
	b.spread(general, History, -o.History, -5*time.Minute, 10*time.Minute, PhaseChatter, chatter)
	b.spread(gaming, History, -o.History+6*time.Hour, -20*time.Minute, 40*time.Minute, PhaseGaming, gamingTalk)
	b.spread(channel, History, -o.History+2*time.Hour, -10*time.Minute, 25*time.Minute, PhaseChatter, channelTalk)
	every := time.Duration(float64(time.Hour) / o.SteadyPerHour)
	b.spread(board, History, -o.History, -time.Second, every, PhaseHostile, hostile)
	b.spread(board, Background, every/2, o.Background, every, PhaseHostile, hostile)

	// The campaign, on its own clock (campaign minutes).
	m := func(x float64) time.Duration { return time.Duration(x * float64(time.Minute)) }
	b.spread(general, Campaign, 0, tl.CampaignLength, 6*time.Minute, PhaseChatter, chatter)
	b.spread(gaming, Campaign, m(3), m(120), 9*time.Minute, PhaseGaming, gamingTalk)
	b.spread(channel, Campaign, m(4), tl.CampaignLength, 20*time.Minute, PhaseChatter, channelTalk)
	b.script(news, m(15), 5, PhaseNews, newsThread)
	b.script(campaign, m(35), 4, PhaseTarget, targetNamed)
	b.script(campaign, m(55), 3, PhaseDox, doxxing)
	b.script(campaign, m(75), 3, PhaseSwat, swatCalls)
	b.script(campaign, m(95), 3, PhaseThreat, threats)
	b.script(channel, m(110), 3, PhaseSpread, spreadChannel)
	b.script(campaign, m(150), 8, PhaseAftermath, aftermath)

	b.number()
	return tl
}

type builder struct {
	r  *rand.Rand
	tl *Timeline
}

func (b *builder) thread(site, id, title string) Thread {
	t := Thread{Site: site, ID: id, Title: title, Slug: slug(title)}
	b.tl.Threads = append(b.tl.Threads, t)
	return t
}

func slug(title string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
		if sb.Len() >= 40 {
			break
		}
	}
	return strings.TrimSuffix(sb.String(), "-")
}

// spread adds posts from from to to about every gap apart (jittered),
// with texts from gen.
func (b *builder) spread(t Thread, c Clock, from, to, gap time.Duration, ph Phase, gen func(r *rand.Rand) (text, quote string)) {
	for at := from; at < to; {
		text, quote := gen(b.r)
		b.tl.Posts = append(b.tl.Posts, Post{
			Site: t.Site, Thread: t.ID, Author: author(b.r, ph), Clock: c, Offset: at,
			Text: text, Quote: quote, QuoteAuthor: quoteAuthor(b.r, quote), Phase: ph,
		})
		at += gap/2 + time.Duration(b.r.Int64N(int64(gap)))
	}
}

// script adds a scripted exchange starting at from, one line about every
// gap campaign minutes. Lines are said by the campaign's regulars.
func (b *builder) script(t Thread, from time.Duration, gapMinutes float64, ph Phase, lines []line) {
	at := from
	for _, l := range lines {
		b.tl.Posts = append(b.tl.Posts, Post{
			Site: t.Site, Thread: t.ID, Author: l.who, Clock: Campaign, Offset: at,
			Text: l.text, Quote: l.quote, QuoteAuthor: l.quoteWho, Phase: ph,
		})
		jitter := 0.5 + b.r.Float64()
		at += time.Duration(gapMinutes * jitter * float64(time.Minute))
	}
}

// number sorts each site's posts into publication order (history, then the
// clock its live posts run on) and numbers them.
func (b *builder) number() {
	order := func(p Post) int {
		if p.Clock == History {
			return 0
		}
		return 1
	}
	sort.SliceStable(b.tl.Posts, func(i, j int) bool {
		p, q := b.tl.Posts[i], b.tl.Posts[j]
		if p.Site != q.Site {
			return siteIndex(p.Site) < siteIndex(q.Site)
		}
		if order(p) != order(q) {
			return order(p) < order(q)
		}
		return p.Offset < q.Offset
	})
	next := map[string]int64{SiteForum: 5001, SiteBoard: 90000, SiteChannel: 1}
	for i := range b.tl.Posts {
		p := &b.tl.Posts[i]
		p.No = next[p.Site]
		next[p.Site]++
	}
	// An imageboard thread's id is its first post's number.
	firstNo := map[string]int64{}
	for i := range b.tl.Posts {
		p := &b.tl.Posts[i]
		if p.Site != SiteBoard {
			continue
		}
		if _, ok := firstNo[p.Thread]; !ok {
			firstNo[p.Thread] = p.No
		}
	}
	for i := range b.tl.Threads {
		t := &b.tl.Threads[i]
		if n, ok := firstNo[t.ID]; ok && t.Site == SiteBoard {
			old := t.ID
			t.ID = fmt.Sprint(n)
			for j := range b.tl.Posts {
				if b.tl.Posts[j].Site == SiteBoard && b.tl.Posts[j].Thread == old {
					b.tl.Posts[j].Thread = t.ID
				}
			}
		}
	}
}

func siteIndex(s string) int {
	for i, x := range Sites {
		if x == s {
			return i
		}
	}
	return len(Sites)
}

// Schedule maps the timeline's clocks to the wall clock.
type Schedule struct {
	// Origin is when the demo world started: history lies before it,
	// background posts count from it.
	Origin time.Time
	// CampaignStart is when the campaign clock started (zero: not yet).
	CampaignStart time.Time
	// Speed is campaign time per wall time.
	Speed float64
}

// At returns when p is published on the wall clock, and false for a
// campaign post while the campaign has not started.
func (s Schedule) At(p Post) (time.Time, bool) {
	switch p.Clock {
	case Campaign:
		if s.CampaignStart.IsZero() {
			return time.Time{}, false
		}
		sp := s.Speed
		if sp <= 0 {
			sp = 1
		}
		return s.CampaignStart.Add(time.Duration(float64(p.Offset) / sp)), true
	default:
		return s.Origin.Add(p.Offset), true
	}
}

// CampaignEnd is when the campaign clock reaches the end of the timeline
// on the wall clock.
func (s Schedule) CampaignEnd(tl *Timeline) time.Time {
	sp := s.Speed
	if sp <= 0 {
		sp = 1
	}
	return s.CampaignStart.Add(time.Duration(float64(tl.CampaignLength) / sp))
}
