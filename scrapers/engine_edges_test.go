package scrapers

import (
	"slices"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// A Discourse post its author withdrew keeps its place in the topic with
// user_deleted set and its text replaced by "(post withdrawn by
// author...)": no word of the author's, and re-read as an edit of the
// post it replaced, which it is not.
func TestDiscoursePostsWithdrawnByTheirAuthorAreNotRead(t *testing.T) {
	e, err := newDiscourse(config.Site{Name: "d", Engine: "discourse", URL: goldenBase + "/"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":77,"slug":"his-address","title":"His address","posts_count":2,"post_stream":{"posts":[
	 {"id":901,"username":"a","user_id":5,"created_at":"2026-01-10T10:00:00Z","cooked":"<p>He lives by the lake.</p>","post_number":1,"post_type":1},
	 {"id":902,"username":"b","user_id":6,"created_at":"2026-01-10T10:05:00Z","cooked":"<p>(post withdrawn by author, will be automatically deleted in 24 hours unless flagged)</p>","post_number":2,"post_type":1,"user_deleted":true}
	],"stream":[901,902]}}`)
	pg := parseAt(t, e, "/t/his-address/77.json", Thread, body)
	var ids []string
	for _, p := range pg.Posts {
		ids = append(ids, p.SitePostID)
	}
	if !slices.Equal(ids, []string{"901"}) {
		t.Errorf("posts %v, want only 901", ids)
	}
}

// An imageboard post without a time was dated 1 January 1970: far behind
// every window, and a date nobody wrote. Undated, it takes the time it
// was read.
func TestAnImageboardPostWithoutATimeIsUndated(t *testing.T) {
	e, err := newImageboard(config.Site{Name: "ib", Engine: "imageboard", URL: goldenBase + "/", Entries: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"posts":[{"no":9200,"com":"still here","time":1768039200},{"no":9201,"com":"no time on this one"}]}`)
	pg := parseAt(t, e, "/b/thread/9200.json", Thread, body)
	if len(pg.Posts) != 2 {
		t.Fatalf("%d posts, want 2", len(pg.Posts))
	}
	if pg.Posts[0].Published.IsZero() || !pg.Posts[1].Published.IsZero() {
		t.Errorf("published %v and %v, want the first dated and the second not", pg.Posts[0].Published, pg.Posts[1].Published)
	}
}

// Without raw_json=1 Reddit escapes &, < and > in every body: a quote
// written "&gt; where does he park" was no quote, and the text read
// "&amp;". An entry given as a .json URL gets it too.
func TestRedditJSONEntriesAskForRawJSON(t *testing.T) {
	f := func(entry, want string) {
		t.Helper()
		e, err := newReddit(config.Site{Name: "rd", Engine: "reddit", URL: goldenBase + "/", Entries: []string{entry}})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Entries(); len(got) != 1 || got[0] != want {
			t.Errorf("entry %q: %v, want %q", entry, got, want)
		}
	}
	f("r/x/new.json", "r/x/new.json?raw_json=1")
	f("r/x/new.json?limit=50", "r/x/new.json?limit=50&raw_json=1")
	f("r/x/new.json?raw_json=1&limit=50", "r/x/new.json?raw_json=1&limit=50")
	f("/r/x/comments.json?raw_json=0", "r/x/comments.json?raw_json=0")
}
