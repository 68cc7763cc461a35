package scrapers

import (
	"slices"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// phpBB 3.0's prosilver, which many old boards still run, has no "next"
// link: its pager is the page numbers, the current one in <strong>. And
// its user links carry no class: only a coloured name (a moderator's) has
// one. Its topics and forums must still be read past their first page,
// and its posts keep their authors.
func TestPhpbb30PagesAreFollowedAndKeepTheirAuthors(t *testing.T) {
	e, err := newPhpBB(config.Site{Name: "pb", Engine: "phpbb", URL: goldenBase + "/", Entries: []string{"viewforum.php?f=2"}})
	if err != nil {
		t.Fatal(err)
	}
	lastPage := strings.NewReplacer(
		`<span><strong>1</strong><span class="page-sep">, </span><a href="./viewtopic.php?f=2&amp;t=7&amp;start=10">2</a></span>`,
		`<span><a href="./viewtopic.php?f=2&amp;t=7">1</a><span class="page-sep">, </span><strong>2</strong></span>`)
	for _, tc := range []struct {
		name, path, file string
		edit             *strings.Replacer
		kind             Kind
		next             string
		authors, ids     []string
		threads          []string
	}{
		{
			name: "a topic's first page leads to its second", path: "/viewtopic.php?f=2&t=7", file: "topic30-p1.html", kind: Thread,
			next:    goldenBase + "/viewtopic.php?f=2&t=7&start=10",
			authors: []string{"wolf", "hawk"}, ids: []string{"7", "8"},
		},
		{
			name: "a topic's last page leads nowhere", path: "/viewtopic.php?f=2&t=7&start=10", file: "topic30-p1.html", kind: Thread, edit: lastPage,
			authors: []string{"wolf", "hawk"}, ids: []string{"7", "8"},
		},
		{
			name: "a forum's first page leads to its second", path: "/viewforum.php?f=2", file: "forum30.html", kind: Listing,
			next: goldenBase + "/viewforum.php?f=2&start=25", threads: []string{"7"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := string(readFixture(t, "phpbb", tc.file))
			if tc.edit != nil {
				body = tc.edit.Replace(body)
			}
			pg := parseAt(t, e, tc.path, tc.kind, []byte(body))
			if pg.Next != tc.next {
				t.Errorf("next %q, want %q", pg.Next, tc.next)
			}
			var authors, ids, threads []string
			for _, p := range pg.Posts {
				authors, ids = append(authors, p.Author), append(ids, p.AuthorID)
			}
			for _, th := range pg.Threads {
				threads = append(threads, th.ID)
			}
			if !slices.Equal(authors, tc.authors) || !slices.Equal(ids, tc.ids) || !slices.Equal(threads, tc.threads) {
				t.Errorf("authors %q (ids %q), threads %q; want %q (%q), %q", authors, ids, threads, tc.authors, tc.ids, tc.threads)
			}
		})
	}
}

// phpBB 3.0's prosilver prints a topic's title in a plain <h2><a>, with
// no topic-title class: its pages came out untitled and its posts with no
// thread URL, and a topic reached through a post link (viewtopic.php?p=N)
// with no thread id at all. A forum's own <h2> is no topic title.
func TestPhpbb30TopicsKeepTheirTitleAndThread(t *testing.T) {
	e, err := newPhpBB(config.Site{Name: "pb", Engine: "phpbb", URL: goldenBase + "/", Entries: []string{"viewforum.php?f=2"}})
	if err != nil {
		t.Fatal(err)
	}
	topic := goldenBase + "/viewtopic.php?f=2&t=7"
	for _, tc := range []struct {
		name, path, file     string
		kind                 Kind
		title, id, threadURL string
	}{
		{name: "a topic read from its link", path: "/viewtopic.php?f=2&t=7", file: "topic30-p1.html", kind: Thread, title: "Where does he work", id: "7", threadURL: topic},
		{name: "a topic read from a post link", path: "/viewtopic.php?p=702", file: "topic30-p1.html", kind: Thread, title: "Where does he work", id: "7", threadURL: topic},
		{name: "a topic's later page", path: "/viewtopic.php?f=2&t=7&start=10", file: "topic30-p1.html", kind: Thread, title: "Where does he work", id: "7", threadURL: topic},
		{name: "a forum is not a topic", path: "/viewforum.php?f=2", file: "forum30.html", kind: Listing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := parseAt(t, e, tc.path, tc.kind, readFixture(t, "phpbb", tc.file))
			if pg.Title != tc.title {
				t.Errorf("title %q, want %q", pg.Title, tc.title)
			}
			for _, p := range pg.Posts {
				if p.Thread != tc.title || p.ThreadID != tc.id || p.ThreadURL != tc.threadURL {
					t.Errorf("post %s: thread %q (id %q, url %q); want %q (%q, %q)", p.SitePostID, p.Thread, p.ThreadID, p.ThreadURL, tc.title, tc.id, tc.threadURL)
				}
			}
		})
	}
}
