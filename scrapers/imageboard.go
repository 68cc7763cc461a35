package scrapers

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// imageboard reads the 4chan/vichan JSON API: <board>/threads.json or
// <board>/catalog.json (pages of threads with no, last_modified, replies)
// and the thread JSON ({"posts":[...]}, path from thread_path). The
// threads' last_modified is the marker, and the thread JSON is fetched with
// If-Modified-Since.
//
// In a post's "com" HTML, >>123 reply links (a.quotelink) are dropped and
// greentext lines (span.quote) are kept apart as quoted text: on
// imageboards they mostly quote the post replied to.
type imageboard struct {
	entries    []string
	threadPath string
}

func newImageboard(site config.Site) (Engine, error) {
	if len(site.Entries) == 0 {
		return nil, errors.New("the imageboard engine needs entries: the boards to watch (b, pol)")
	}
	ib := &imageboard{threadPath: site.ThreadPath}
	if ib.threadPath == "" {
		ib.threadPath = "{board}/thread/{no}.json"
	}
	for _, e := range site.Entries {
		e = strings.Trim(e, "/")
		if !strings.HasSuffix(e, ".json") {
			e += "/threads.json"
		}
		ib.entries = append(ib.entries, e)
	}
	return ib, nil
}

func (ib *imageboard) Entries() []string { return ib.entries }

type ibPost struct {
	No           int64  `json:"no"`
	Resto        int64  `json:"resto"`
	Time         int64  `json:"time"`
	Name         string `json:"name"`
	Trip         string `json:"trip"`
	ID           string `json:"id"`
	Sub          string `json:"sub"`
	Com          string `json:"com"`
	LastModified int64  `json:"last_modified"`
	Replies      int    `json:"replies"`
}

// ibBoard finds the board in a path like /b/threads.json or /b/thread/1.json.
func ibBoard(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "threads.json" || p == "catalog.json" || p == "thread" || p == "res" {
			if i > 0 {
				return parts[i-1]
			}
		}
	}
	if len(parts) > 0 {
		return parts[0]
	}
	return ""
}

func (ib *imageboard) Parse(in *Input) (*Page, error) {
	body := strings.TrimSpace(string(in.Body))
	if body == "" {
		return nil, fmt.Errorf("%w: empty body", ErrBadPage)
	}
	board := ibBoard(in.URL.Path)
	if body[0] == '[' {
		var pages []struct {
			Page    int      `json:"page"`
			Threads []ibPost `json:"threads"`
		}
		if err := json.Unmarshal(in.Body, &pages); err != nil {
			return nil, fmt.Errorf("%w: not a threads.json page list: %w", ErrBadPage, err)
		}
		pg := &Page{}
		for _, p := range pages {
			for _, t := range p.Threads {
				if t.No == 0 {
					continue
				}
				no := strconv.FormatInt(t.No, 10)
				path := strings.NewReplacer("{board}", board, "{no}", no).Replace(ib.threadPath)
				lm := t.LastModified
				if lm == 0 {
					lm = t.Time
				}
				ref := ThreadRef{
					ID: board + "/" + no, URL: resolve(in.URL, "/"+strings.TrimPrefix(path, "/")),
					Title: ibField(t.Sub), Marker: strconv.FormatInt(lm, 10) + "/" + strconv.Itoa(t.Replies),
				}
				if lm > 0 {
					ref.Latest = time.Unix(lm, 0).UTC()
				}
				pg.Threads = append(pg.Threads, ref)
			}
		}
		return pg, nil
	}
	var th struct {
		Posts *[]ibPost `json:"posts"`
	}
	if err := json.Unmarshal(in.Body, &th); err != nil {
		return nil, fmt.Errorf("%w: not imageboard thread JSON: %w", ErrBadPage, err)
	}
	if th.Posts == nil {
		return nil, fmt.Errorf("%w: no posts array in thread JSON", ErrMarkup)
	}
	pg := &Page{}
	posts := *th.Posts
	if len(posts) == 0 {
		return pg, nil
	}
	op := posts[0].No
	if posts[0].Resto != 0 {
		op = posts[0].Resto
	}
	threadID := board + "/" + strconv.FormatInt(op, 10)
	if in.Thread != nil && in.Thread.ID != "" {
		threadID = in.Thread.ID
	}
	// The HTML view of a thread sits where its JSON does, without .json
	// (vichan serves .html there).
	html := in.URL.String()
	html = strings.TrimSuffix(html, ".json")
	if strings.Contains(html, "/res/") {
		html += ".html"
	}
	for i, p := range posts {
		if p.No == 0 {
			continue
		}
		text, quoted := htmlFragmentText(p.Com, "span.quote", "")
		text = stripReplyLinks(text)
		if i == 0 {
			pg.Title = ibField(p.Sub)
			if pg.Title == "" {
				pg.Title = firstRunes(text, 80)
			}
		}
		if text == "" && len(quoted) == 0 {
			continue // an image-only post
		}
		author := ibField(p.Name)
		if p.Trip != "" {
			author += " " + ibField(p.Trip)
		}
		no := strconv.FormatInt(p.No, 10)
		pg.Posts = append(pg.Posts, msg.Post{
			SitePostID: board + "/" + no, ThreadID: threadID, ThreadURL: html, Thread: pg.Title,
			URL: html + "#p" + no, Author: strings.TrimSpace(author), AuthorID: p.ID,
			Published: unixOrZero(p.Time), Text: text, Quoted: quoted,
		})
	}
	return pg, nil
}

// unixOrZero is the time of Unix seconds, zero (undated) for none: a
// post without a time is not from 1970.
func unixOrZero(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// ibField reads a subject, name or tripcode: the 4chan API escapes HTML
// in every field where it could appear, not only in the comment, so
// "O'Brien" comes as "O&#039;Brien".
func ibField(s string) string {
	return tidy(html.UnescapeString(s))
}

// stripReplyLinks drops >>123 and >>>/b/123 reply references, which say
// whom a post answers but are not words of it.
func stripReplyLinks(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		f := strings.Fields(l)
		kept := f[:0]
		for _, w := range f {
			if strings.HasPrefix(w, ">>") {
				continue
			}
			kept = append(kept, w)
		}
		out = append(out, strings.Join(kept, " "))
	}
	return tidy(strings.Join(out, "\n"))
}

func firstRunes(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
