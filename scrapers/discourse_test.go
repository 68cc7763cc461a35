package scrapers

import (
	"encoding/json"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// A topic's post numbers are never reused: posts deleted by moderators (as
// they are in the threads worth watching) and whispers leave gaps, and
// posts_count counts only the posts left. A page's last post number is no
// measure of how far the topic goes; the post stream, the ids of every
// post a reader sees, is.
func TestDiscourseTopicPagesAreFollowedPastDeletedPosts(t *testing.T) {
	e, err := newDiscourse(config.Site{Name: "dc", Engine: "discourse", URL: goldenBase + "/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, file string
		edit             func(doc map[string]any)
		posts            int
		next             string
	}{
		{
			name: "a first page whose post numbers run past posts_count leads to page 2",
			path: "/t/his-new-place/40.json", file: "topic-40.json", posts: 20,
			next: goldenBase + "/t/his-new-place/40.json?page=2",
		},
		{
			name: "the page holding the stream's last post is the last page",
			path: "/t/his-new-place/40.json?page=2", file: "topic-40-page-2.json", posts: 5,
		},
		{
			name: "without a stream, post numbers below posts_count still lead on",
			path: "/t/his-new-place/40.json", file: "topic-40.json", posts: 20,
			edit: func(doc map[string]any) {
				delete(doc["post_stream"].(map[string]any), "stream")
				doc["posts_count"] = 40
			},
			next: goldenBase + "/t/his-new-place/40.json?page=2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := readFixture(t, "discourse", tc.file)
			if tc.edit != nil {
				var doc map[string]any
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Fatal(err)
				}
				tc.edit(doc)
				body, _ = json.Marshal(doc)
			}
			pg := parseAt(t, e, tc.path, Thread, body)
			if len(pg.Posts) != tc.posts || pg.Next != tc.next {
				t.Errorf("got %d posts, next %q; want %d, next %q", len(pg.Posts), pg.Next, tc.posts, tc.next)
			}
		})
	}
}
