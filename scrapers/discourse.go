package scrapers

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// discourse reads Discourse's JSON API: /posts.json (the latest posts of
// the whole site, newest first, older pages with ?before=<post id>), or
// /latest.json (topics with last_posted_at) read through /t/<slug>/<id>.json
// (a topic's post stream, 20 posts a page, ?page=N). Quotes are aside.quote blocks in
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
	// UserDeleted: withdrawn by its author, its text replaced by a notice.
	UserDeleted bool    `json:"user_deleted"`
	DeletedAt   *string `json:"deleted_at"`
	PostType    int     `json:"post_type"`
}

func (d *discourse) Parse(in *Input) (*Page, error) {
	var doc struct {
		LatestPosts *[]discoursePost `json:"latest_posts"`
		PostStream  *struct {
			Posts  []discoursePost `json:"posts"`
			Stream []int64         `json:"stream"`
		} `json:"post_stream"`
		TopicList *struct {
			Topics []struct {
				ID           int64     `json:"id"`
				Title        string    `json:"title"`
				Slug         string    `json:"slug"`
				PostsCount   int       `json:"posts_count"`
				LastPostedAt time.Time `json:"last_posted_at"`
				Pinned       bool      `json:"pinned"`
				PinnedGlob   bool      `json:"pinned_globally"`
			} `json:"topics"`
			MoreTopicsURL string `json:"more_topics_url"`
		} `json:"topic_list"`
		ID         int64  `json:"id"`
		Title      string `json:"title"`
		Slug       string `json:"slug"`
		PostsCount int    `json:"posts_count"`
	}
	if err := json.Unmarshal(in.Body, &doc); err != nil {
		return nil, fmt.Errorf("%w: not Discourse JSON: %w", ErrBadPage, err)
	}
	var posts []discoursePost
	pg := &Page{}
	if tl := doc.TopicList; tl != nil {
		// latest.json: topics, read through /t/<slug>/<id>.json pages.
		for _, t := range tl.Topics {
			if t.ID == 0 {
				continue
			}
			id := strconv.FormatInt(t.ID, 10)
			slug := t.Slug
			if slug == "" {
				slug = "-"
			}
			pg.Threads = append(pg.Threads, ThreadRef{
				ID: id, URL: resolve(in.URL, "/t/"+slug+"/"+id+".json"), Title: t.Title,
				Marker: t.LastPostedAt.UTC().Format(time.RFC3339Nano) + "/" + strconv.Itoa(t.PostsCount), Latest: t.LastPostedAt.UTC(),
				Pinned: t.Pinned || t.PinnedGlob,
			})
		}
		if tl.MoreTopicsURL != "" {
			// more_topics_url names the HTML page; its JSON sits at the same
			// path with .json.
			// A link resolve refuses (not http, not a URL) leaves no next
			// page, rather than a relative ".json".
			if u, err := url.Parse(resolve(in.URL, tl.MoreTopicsURL)); err == nil && u.IsAbs() {
				if !strings.HasSuffix(u.Path, ".json") {
					u.Path += ".json"
				}
				pg.Next = u.String()
			}
		}
		return pg, nil
	}
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
		// whispers. Hidden, deleted and withdrawn posts are not public
		// words.
		if dp.Hidden || dp.DeletedAt != nil || dp.UserDeleted || (dp.PostType != 0 && dp.PostType != 1) {
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
	if doc.PostStream != nil && len(posts) > 0 {
		// A topic's JSON holds 20 posts a page; ?page=N reads on.
		page, _ := strconv.Atoi(in.URL.Query().Get("page"))
		page = max(page, 1)
		// Post numbers are never reused, so a topic with deleted posts or
		// whispers has numbers past its posts_count: the stream, the ids
		// of every post a reader sees, says whether more pages follow.
		more := doc.PostsCount > 0 && posts[len(posts)-1].PostNumber < doc.PostsCount
		st := doc.PostStream.Stream
		if i := slices.Index(st, posts[len(posts)-1].ID); i >= 0 {
			more = i < len(st)-1
		}
		if more && len(posts) >= 20 {
			u := *in.URL
			q := u.Query()
			q.Set("page", strconv.Itoa(page+1))
			u.RawQuery = q.Encode()
			pg.Next = u.String()
		}
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
