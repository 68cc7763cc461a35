package scrapers

import (
	"slices"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// A channel preview holds more than text messages. A poll has no text of
// its own, only its question and options, and was dropped as "media
// without a caption": a channel's poll on whose address to publish next
// never reached the classifiers. A sticker has nothing to read; a pinned
// notice is a service message repeating a post; a forwarded message and
// an edited one are the channel's posts like any other.
func TestTelegramPreviewMessagesOfEveryKind(t *testing.T) {
	e, err := newTelegram(config.Site{Name: "tg", Engine: "telegram", URL: goldenBase + "/", Entries: []string{"exposechan"}})
	if err != nil {
		t.Fatal(err)
	}
	pg := parseAt(t, e, "/s/exposechan", Listing, readFixture(t, "telegram", "poll.html"))
	got := map[string]string{}
	var ids []string
	for _, p := range pg.Posts {
		ids = append(ids, strings.TrimPrefix(p.SitePostID, "exposechan/"))
		got[p.SitePostID] = p.Text
		if p.Author != "Expose Channel" || p.Published.IsZero() {
			t.Errorf("%s: author %q, published %v; want the channel's, dated", p.SitePostID, p.Author, p.Published)
		}
	}
	if want := []string{"110", "113", "114"}; !slices.Equal(ids, want) {
		t.Errorf("posts %q, want %q (no sticker, no pinned notice)", ids, want)
	}
	for id, want := range map[string]string{
		"exposechan/110": "Whose address goes up next?\nThe streamer\nHer moderator",
		"exposechan/113": "She moved again, new city.",
		"exposechan/114": "Vote closes tonight.",
	} {
		if got[id] != want {
			t.Errorf("%s: text %q, want %q", id, got[id], want)
		}
	}
	if pg.Older != goldenBase+"/s/exposechan?before=110" {
		t.Errorf("older %q", pg.Older)
	}
}
