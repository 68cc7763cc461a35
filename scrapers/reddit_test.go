package scrapers

import (
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// When an account is deleted, Reddit keeps its posts up and shows their
// author as "[deleted]": a throwaway that posts and deletes itself leaves
// its words public, and they must be read (without "[deleted]" as a
// name). A self post a moderator removed keeps its title and loses its
// text to "[removed]", which is no word of the poster's.
func TestRedditPostsOfDeletedAccountsAreReadAndRemovedTextIsNot(t *testing.T) {
	e, err := newReddit(config.Site{Name: "rd", Engine: "reddit", URL: goldenBase + "/", Entries: []string{"r/exampletargets"}})
	if err != nil {
		t.Fatal(err)
	}
	pg := parseAt(t, e, "/r/exampletargets/deleted.json", Listing, readFixture(t, "reddit", "deleted-accounts.json"))
	got := map[string]string{}
	for _, p := range pg.Posts {
		got[p.SitePostID] = p.Text
		if p.SitePostID != "t3_1abcdg" && (p.Author != "" || p.AuthorID != "") {
			t.Errorf("post %s: author %q (%q), want none", p.SitePostID, p.Author, p.AuthorID)
		}
		if strings.Contains(p.Text, "[removed]") || strings.Contains(p.Text, "[deleted]") {
			t.Errorf("post %s: text %q carries Reddit's placeholder", p.SitePostID, p.Text)
		}
	}
	for id, want := range map[string]string{
		"t1_kx7":    "Same lot every night. Wait for him there.",
		"t3_1abcdf": "His schedule\n\nPosting it before the mods wake up.",
		"t3_1abcdg": "Where he lives",
	} {
		if got[id] != want {
			t.Errorf("post %s: text %q, want %q", id, got[id], want)
		}
	}
}
