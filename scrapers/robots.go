package scrapers

import (
	"bytes"
	"io"
	"net/url"
	"time"

	"github.com/temoto/robotstxt"
)

// Colly reads robots.txt with temoto/robotstxt, which refuses the whole
// file when one line is wrong: a Disallow or a Crawl-delay before the
// first User-agent, a Crawl-delay that is not a number. Colly then fails
// every request to the site, so one sloppy line made a forum unreadable
// (as "unreachable"). RFC 9309 says to use the lines that parse and
// ignore the rest; robotsBody does that on the body's way to colly, and
// reads the Crawl-delay, which colly drops.

// maxCrawlDelay bounds the Crawl-delay taken from a robots.txt: a larger
// value (or one too large for a time.Duration, which wraps negative) is
// read as this. At ten minutes between requests a site is still polled.
const maxCrawlDelay = 10 * time.Minute

// maxRobotsBytes is how much of a robots.txt is read: RFC 9309 lets a
// crawler stop at 500 KiB, and it bounds the line-by-line cleaning of a
// file the parser refused.
const maxRobotsBytes = 500 << 10

// robotsBody hands colly a robots.txt without the lines the parser would
// refuse, and sets the host's Crawl-delay for our User-Agent in the
// limiter. A 4xx passes unchanged (colly reads it as "allow all", as RFC
// 9309 says); a 5xx or 429 is answered by Fetcher.robotsUnreachable.
type robotsBody struct {
	r    io.ReadCloser
	f    *Fetcher
	host string
	// limHost is host as the limiter names it (limiterHost).
	limHost string
	out     *bytes.Reader
	err     error
}

func (b *robotsBody) Read(p []byte) (int, error) {
	if b.out == nil {
		raw, err := io.ReadAll(io.LimitReader(b.r, maxRobotsBytes+1))
		if len(raw) > maxRobotsBytes {
			// Cut at the limit: the last line is partial, and a cut
			// "Allow: /forum/private-x" would be "Allow: /fo".
			raw = raw[:maxRobotsBytes]
			raw = raw[:bytes.LastIndexByte(raw, '\n')+1]
		}
		clean := lenientRobots(raw)
		b.out = bytes.NewReader(clean)
		if err != nil {
			// Colly fails the request on this error; a partial file must
			// not change the host's Crawl-delay either.
			b.err = err
		} else {
			rules, _ := robotstxt.FromBytes(clean) // nil only for what the parser refuses, which cleaning removed
			d := crawlDelayOf(rules, b.f.site.UserAgent)
			b.f.lim.SetCrawlDelay(b.limHost, b.f.site.Name, d)
			b.f.metrics.CrawlDelay.WithLabelValues(b.f.site.Name).Set(d.Seconds())
			b.f.robotsMu.Lock()
			if b.f.lastRobots == nil {
				b.f.lastRobots = map[string]robotsCopy{}
			}
			b.f.lastRobots[b.host] = robotsCopy{body: clean, rules: rules}
			b.f.robotsMu.Unlock()
		}
	}
	n, err := b.out.Read(p)
	if err == io.EOF && b.err != nil {
		return n, b.err
	}
	return n, err
}

func (b *robotsBody) Close() error { return b.r.Close() }

// crawlDelay is the Crawl-delay a robots.txt gives agent: that of the
// group that matches agent most closely, 0 when there is none.
func crawlDelay(body []byte, agent string) time.Duration {
	r, err := robotstxt.FromBytes(body)
	if err != nil {
		return 0
	}
	return crawlDelayOf(r, agent)
}

// crawlDelayOf is crawlDelay of parsed rules (nil: none).
func crawlDelayOf(r *robotstxt.RobotsData, agent string) time.Duration {
	if r == nil {
		return 0
	}
	d := r.FindGroup(agent).CrawlDelay
	if d < 0 || d > maxCrawlDelay {
		d = maxCrawlDelay
	}
	return d
}

// lenientRobots returns a robots.txt as it is when the parser takes it,
// and otherwise without each line the parser refuses. Lines are judged one
// by one by the parser itself, so what it keeps is exactly what it reads.
func lenientRobots(body []byte) []byte {
	if _, err := robotstxt.FromBytes(body); err == nil {
		return body
	}
	var out bytes.Buffer
	inGroup := false
	for _, line := range bytes.FieldsFunc(body, func(r rune) bool { return r == '\n' || r == '\r' }) {
		// Each line is judged as it reads inside a file: with its newline,
		// which the parser reads as a token of its own, and with a line
		// after it (a comment at the very end of a file swallows that
		// token). The Sitemap line is taken in any place.
		line = append(line[:len(line):len(line)], '\n')
		var probe []byte
		if inGroup {
			probe = append(probe, "User-agent: *\n"...)
		}
		probe = append(append(probe, line...), "Sitemap: /s\n"...)
		if _, err := robotstxt.FromBytes(probe); err != nil {
			continue
		}
		out.Write(line)
		// A line that lets a rule follow it opens a group (a User-agent
		// line); after it, rules are in a group until the file ends.
		if !inGroup {
			if _, err := robotstxt.FromBytes(append(line[:len(line):len(line)], "Disallow: /\n"...)); err == nil {
				inGroup = true
			}
		}
	}
	return out.Bytes()
}

// robotsCopy is a host's robots.txt as last read in full: cleaned, and
// parsed.
type robotsCopy struct {
	body  []byte
	rules *robotstxt.RobotsData
}

// robotsAllow reports whether the host's robots.txt, as last read, lets
// our User-Agent fetch u. Colly checks it only for the page asked for, not
// for where a redirect leads. A host whose robots.txt was not read (a
// redirect to another host) is allowed here; the guard still applies.
func (f *Fetcher) robotsAllow(u *url.URL) bool {
	f.robotsMu.Lock()
	rules := f.lastRobots[u.Host].rules
	f.robotsMu.Unlock()
	if rules == nil {
		return true
	}
	p := u.EscapedPath()
	if u.RawQuery != "" {
		p += "?" + u.Query().Encode() // as colly tests the page itself
	}
	return rules.FindGroup(f.site.UserAgent).Test(p)
}
