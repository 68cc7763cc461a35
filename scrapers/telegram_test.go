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

// A page whose oldest message is a service message ("pinned a message")
// and that gives no rel=prev link: the older page asked for must begin
// before that message, not after it, or it holds this page's posts again.
func TestTelegramOlderPageStartsBeforeAServiceMessage(t *testing.T) {
	e, err := newTelegram(config.Site{Name: "tg", Engine: "telegram", URL: goldenBase + "/", Entries: []string{"exposechan"}})
	if err != nil {
		t.Fatal(err)
	}
	page := `<html><body><section class="tgme_channel_history">
<div class="tgme_widget_message service_message" data-post="exposechan/40"><div class="tgme_widget_message_service_text">Channel pinned a message</div></div>
<div class="tgme_widget_message" data-post="exposechan/41"><div class="tgme_widget_message_text">first post</div><a class="tgme_widget_message_date" href="https://t.me/exposechan/41"><time datetime="2026-01-10T10:00:00+00:00"></time></a></div>
<div class="tgme_widget_message" data-post="exposechan/42"><div class="tgme_widget_message_text">second post</div><a class="tgme_widget_message_date" href="https://t.me/exposechan/42"><time datetime="2026-01-10T10:05:00+00:00"></time></a></div>
</section></body></html>`
	pg := parseAt(t, e, "/s/exposechan", Listing, []byte(page))
	if len(pg.Posts) != 2 || !strings.Contains(pg.Older, "before=40") {
		t.Errorf("%d posts, older %q; want 2 posts and the page before message 40", len(pg.Posts), pg.Older)
	}
}
