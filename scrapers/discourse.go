package scrapers

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// discourse reads Discourse's JSON API: /posts.json (the latest posts of
// the whole site, newest first, older pages with ?before=<post id>) and
// /t/<id>.json (one topic's post stream). Quotes are aside.quote blocks in
// the rendered ("cooked") HTML.
type discourse struct{ entries []string }

func newDiscourse(site config.Site) (Engine, error) {
	e := site.Entries
	if len(e) == 0 {
		e = []string{"posts.json"}
	}
	return &discourse{entries: e}, nil
}

func (d *discourse) Entries() []string { return d.entries }

type discoursePost struct {
	ID         int64     `json:"id"`
	Username   string    `json:"username"`
	Name       string    `json:"name"`
	UserID     int64     `json:"user_id"`
	CreatedAt  time.Time `json:"created_at"`
	Cooked     string    `json:"cooked"`
	PostNumber int       `json:"post_number"`
	TopicID    int64     `json:"topic_id"`
	TopicSlug  string    `json:"topic_slug"`
	TopicTitle string    `json:"topic_title"`
	Hidden     bool      `json:"hidden"`
	DeletedAt  *string   `json:"deleted_at"`
	PostType   int       `json:"post_type"`
}

func (d *discourse) Parse(in *Input) (*Page, error) {
	var doc struct {
		LatestPosts *[]discoursePost `json:"latest_posts"`
		PostStream  *struct {
			Posts []discoursePost `json:"posts"`
		} `json:"post_stream"`
		ID    int64  `json:"id"`
		Title string `json:"title"`
		Slug  string `json:"slug"`
	}
	if err := json.Unmarshal(in.Body, &doc); err != nil {
		return nil, fmt.Errorf("%w: not Discourse JSON: %w", ErrBadPage, err)
	}
	var posts []discoursePost
	pg := &Page{}
	switch {
	case doc.LatestPosts != nil:
		posts = *doc.LatestPosts
	case doc.PostStream != nil:
		posts = doc.PostStream.Posts
		pg.Title = doc.Title
	default:
		return nil, fmt.Errorf("%w: no latest_posts or post_stream in Discourse JSON", ErrMarkup)
	}
	var oldest int64
	for _, dp := range posts {
		if dp.ID == 0 {
			continue
		}
		if oldest == 0 || dp.ID < oldest {
			oldest = dp.ID
		}
		// Post type 1 is a regular post; others are moderator actions and
		// whispers. Hidden and deleted posts are not public words.
		if dp.Hidden || dp.DeletedAt != nil || (dp.PostType != 0 && dp.PostType != 1) {
			continue
		}
		topic, slug, title := dp.TopicID, dp.TopicSlug, dp.TopicTitle
		if topic == 0 {
			topic, slug, title = doc.ID, doc.Slug, doc.Title
		}
		if slug == "" {
			slug = "-"
		}
		tid := strconv.FormatInt(topic, 10)
		threadURL := resolve(in.URL, "/t/"+slug+"/"+tid)
		p := msg.Post{
			SitePostID: strconv.FormatInt(dp.ID, 10), ThreadID: tid, ThreadURL: threadURL, Thread: title,
			Author: dp.Username, Published: dp.CreatedAt.UTC(),
			URL: threadURL + "/" + strconv.Itoa(dp.PostNumber),
		}
		if dp.UserID != 0 {
			p.AuthorID = strconv.FormatInt(dp.UserID, 10)
		}
		p.Text, p.Quoted = htmlFragmentText(dp.Cooked, "aside.quote, blockquote", ".title")
		if p.Text == "" && len(p.Quoted) == 0 {
			continue
		}
		pg.Posts = append(pg.Posts, p)
	}
	if doc.LatestPosts != nil && oldest > 1 && len(posts) > 0 {
		u := *in.URL
		q := u.Query()
		q.Set("before", strconv.FormatInt(oldest, 10))
		u.RawQuery = q.Encode()
		pg.Older = u.String()
	}
	return pg, nil
}
