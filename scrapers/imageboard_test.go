package scrapers

import (
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// The 4chan API escapes HTML in every field where it could appear, not
// only in the comment: a subject, a name and a tripcode come as
// "O&#039;Brien". Taken as text, a thread's title and a poster's name
// held entities, and a watchlist looking for O'Brien never matched.
func TestImageboardSubjectsAndNamesAreUnescaped(t *testing.T) {
	e, err := newImageboard(config.Site{Name: "ib", Engine: "imageboard", URL: goldenBase + "/", Entries: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	const title = `"Rate" O'Brien's new place & car`
	parse := func(path, file string, k Kind) *Page {
		t.Helper()
		pg := parseAt(t, e, path, k, readFixture(t, "imageboard", file))
		return pg
	}
	t.Run("a thread's posts", func(t *testing.T) {
		pg := parse("/b/thread/9100.json", "thread-9100.json", Thread)
		if pg.Title != title || len(pg.Posts) != 2 {
			t.Fatalf("title %q, %d posts; want %q, 2", pg.Title, len(pg.Posts), title)
		}
		op := pg.Posts[0]
		if op.Thread != title || op.Author != "O'Neill & friends !Ep8pui8Vw2" || op.Text != "He's back & posting again." {
			t.Errorf("first post: thread %q, author %q, text %q", op.Thread, op.Author, op.Text)
		}
	})
	t.Run("a catalog's threads", func(t *testing.T) {
		pg := parse("/b/catalog.json", "catalog.json", Listing)
		if len(pg.Threads) != 1 || pg.Threads[0].Title != title {
			t.Errorf("threads %+v, want one titled %q", pg.Threads, title)
		}
	})
}
