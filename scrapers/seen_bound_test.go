package scrapers_test

import (
	"context"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/scrapers"
)

// A feed or channel has no threads: the record of its posts read was one
// hash per site whose expiry every new post renewed, so on an active
// feed it never expired and grew by every post the feed ever carried.
// Each post's record now expires seen_ttl after it was written, and a
// post is still known as read until then.
func TestAThreadlessSitesReadPostsAreForgottenAfterSeenTTL(t *testing.T) {
	s := redistest.New(t)
	ctx := context.Background()
	const ttl = time.Hour
	st := scrapers.NewState(s, "feed", ttl)
	a := msg.Post{SitePostID: "a", ContentHash: "h1"}
	b := msg.Post{SitePostID: "b", ContentHash: "h2"}
	threaded := msg.Post{SitePostID: "c", ThreadID: "t1", ContentHash: "h3"}
	if err := st.MarkSeen(ctx, []msg.Post{a, threaded}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := st.MarkSeen(ctx, []msg.Post{b}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Seen(ctx, []msg.Post{a, b, threaded, {SitePostID: "new"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"h1", "h2", "h3", ""}; len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("seen %q, want %q", got, want)
	}
	keys, err := s.Keys(ctx, s.Key("scrape", "feed", "seen")+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	holdsA := 0
	for _, k := range keys {
		typ, err := s.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var has bool
		switch typ {
		case "hash":
			has, err = s.HExists(ctx, k, "a").Result()
		case "string":
			var v string
			v, err = s.Get(ctx, k).Result()
			has = v == "h1"
		}
		if err != nil {
			t.Fatal(err)
		}
		if !has {
			continue
		}
		holdsA++
		pttl, err := s.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if pttl <= 0 || pttl > ttl-250*time.Millisecond {
			t.Errorf("the record of post a (key %s) expires in %v: renewed by a later post's, it never expires on an active feed", k, pttl)
		}
	}
	if holdsA != 1 {
		t.Errorf("%d keys hold post a's record, want 1", holdsA)
	}
}

// Records written before a threadless site's posts were recorded one by
// one (one hash for the site) are still read, so an upgrade does not
// emit a feed's posts again.
func TestAThreadlessSitesOlderRecordIsStillRead(t *testing.T) {
	s := redistest.New(t)
	ctx := context.Background()
	if err := s.HSet(ctx, s.Key("scrape", "feed", "seen", "_"), "old", "h0").Err(); err != nil {
		t.Fatal(err)
	}
	st := scrapers.NewState(s, "feed", time.Hour)
	got, err := st.Seen(ctx, []msg.Post{{SitePostID: "old"}, {SitePostID: "other"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "h0" || got[1] != "" {
		t.Fatalf("seen %q, want [h0 \"\"]", got)
	}
}
