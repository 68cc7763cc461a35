package scrapers

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// reddit reads Reddit-style JSON listings: <community>/new.json
// (submissions, kind t3) and <community>/comments.json (comments, kind
// t1), newest first, older pages with ?after=<fullname>. Bodies are
// Markdown; lines starting with ">" are quotes.
type reddit struct{ entries []string }

func newReddit(site config.Site) (Engine, error) {
	if len(site.Entries) == 0 {
		return nil, errors.New("the reddit engine needs entries: the communities to watch (r/name)")
	}
	rd := &reddit{}
	for _, e := range site.Entries {
		e = strings.Trim(e, "/")
		if strings.Contains(e, ".json") {
			// Without raw_json=1 Reddit escapes &, < and > in every body,
			// and a quote written "&gt; ..." is no quote.
			if !strings.Contains(e, "raw_json=") {
				sep := "?"
				if strings.Contains(e, "?") {
					sep = "&"
				}
				e += sep + "raw_json=1"
			}
			rd.entries = append(rd.entries, e)
			continue
		}
		rd.entries = append(rd.entries, e+"/new.json?limit=100&raw_json=1", e+"/comments.json?limit=100&raw_json=1")
	}
	return rd, nil
}

func (rd *reddit) Entries() []string { return rd.entries }

type redditThing struct {
	Kind string `json:"kind"`
	Data struct {
		ID         string  `json:"id"`
		Name       string  `json:"name"`
		Author     string  `json:"author"`
		AuthorFull string  `json:"author_fullname"`
		Created    float64 `json:"created_utc"`
		Title      string  `json:"title"`
		Selftext   string  `json:"selftext"`
		Body       string  `json:"body"`
		Permalink  string  `json:"permalink"`
		LinkID     string  `json:"link_id"`
		LinkTitle  string  `json:"link_title"`
		URL        string  `json:"url"`
	} `json:"data"`
}

func (rd *reddit) Parse(in *Input) (*Page, error) {
	var l struct {
		Kind string `json:"kind"`
		Data *struct {
			After    string        `json:"after"`
			Children []redditThing `json:"children"`
		} `json:"data"`
	}
	if err := json.Unmarshal(in.Body, &l); err != nil {
		return nil, fmt.Errorf("%w: not a JSON listing: %w", ErrBadPage, err)
	}
	if l.Kind != "Listing" || l.Data == nil {
		return nil, fmt.Errorf("%w: not a Reddit listing (kind %q)", ErrMarkup, l.Kind)
	}
	pg := &Page{}
	for _, c := range l.Data.Children {
		d := c.Data
		if d.ID == "" {
			continue
		}
		p := msg.Post{
			SitePostID: d.Name, Author: d.Author, AuthorID: d.AuthorFull,
			Published: time.Unix(int64(d.Created), 0).UTC(),
			URL:       resolve(in.URL, d.Permalink),
		}
		if d.Author == "[deleted]" {
			// A deleted account's posts stay up (a throwaway that posts
			// and deletes itself): their words count, the placeholder is
			// no one's name.
			p.Author, p.AuthorID = "", ""
		}
		if p.SitePostID == "" {
			p.SitePostID = c.Kind + "_" + d.ID
		}
		var body string
		switch c.Kind {
		case "t3":
			p.ThreadID, p.Thread, p.ThreadURL = d.ID, d.Title, p.URL
			body = d.Title
			// A removed or deleted self post's text is Reddit's
			// placeholder, no word of the poster's; its title stays up.
			if d.Selftext != "" && d.Selftext != "[removed]" && d.Selftext != "[deleted]" {
				body += "\n\n" + d.Selftext
			}
		case "t1":
			p.ThreadID = strings.TrimPrefix(d.LinkID, "t3_")
			p.Thread = d.LinkTitle
			if i := strings.Index(d.Permalink, "/comments/"); i >= 0 {
				// /r/x/comments/<id>/<slug>/<comment>/ -> the thread's URL
				parts := strings.SplitN(d.Permalink[i+len("/comments/"):], "/", 3)
				if len(parts) >= 2 {
					p.ThreadURL = resolve(in.URL, d.Permalink[:i]+"/comments/"+parts[0]+"/"+parts[1]+"/")
				}
			}
			body = d.Body
		default:
			continue
		}
		if body == "[removed]" || body == "[deleted]" {
			continue
		}
		p.Text, p.Quoted = markdownQuotes(body)
		if p.Text == "" && len(p.Quoted) == 0 {
			continue
		}
		pg.Posts = append(pg.Posts, p)
	}
	if l.Data.After != "" {
		u := *in.URL
		q := u.Query()
		q.Set("after", l.Data.After)
		u.RawQuery = q.Encode()
		pg.Older = u.String()
	}
	return pg, nil
}

// markdownQuotes splits Markdown into own text and ">" quote blocks.
func markdownQuotes(s string) (string, []string) {
	var own, quotes []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			if q := tidy(strings.Join(cur, "\n")); q != "" {
				quotes = append(quotes, q)
			}
			cur = nil
		}
	}
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, ">") {
			cur = append(cur, strings.TrimSpace(strings.TrimLeft(t, ">")))
			continue
		}
		flush()
		own = append(own, l)
	}
	flush()
	return tidy(strings.Join(own, "\n")), quotes
}
