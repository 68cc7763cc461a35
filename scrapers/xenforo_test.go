package scrapers

import (
	"slices"
	"testing"
)

// A spoiler's button ("Spoiler", "Spoiler: <title>", XenForo 1's
// "Spoiler: ..." toggle) is the board's chrome: it reached the post's text
// as if the author had written "Spoiler", and inside a quote, as quoted
// words. The spoiler's content and the title its author gave it are the
// author's words and stay.
func TestXenForoSpoilerButtonsAreNotPostText(t *testing.T) {
	e, err := newXenForo(fixtureSite(t, "xenforo", goldenBase))
	if err != nil {
		t.Fatal(err)
	}
	xf2 := func(body string) string {
		return `<html id="XF"><body><div class="p-body-main"><h1 class="p-title-value">T</h1>
<article class="message" data-author="ann" data-content="post-7"><div class="message-body"><div class="bbWrapper">` + body + `</div></div></article>
</div></body></html>`
	}
	xf1 := func(body string) string {
		return `<html id="XenForo"><body><div class="titleBar"><h1>T</h1></div><ol class="messageList">
<li class="message" id="post-7" data-author="ann"><blockquote class="messageText">` + body + `</blockquote></li></ol></body></html>`
	}
	const xf2Spoiler = `<div class="bbCodeSpoiler"><button type="button" class="button bbCodeSpoiler-button" data-xf-click="toggle" title="Click to reveal or hide spoiler"><span class="button-text"><span>Spoiler</span></span></button>` +
		`<div class="bbCodeSpoiler-content"><div class="bbCodeBlock bbCodeBlock--spoiler"><div class="bbCodeBlock-content">he parks on Elm Road</div></div></div></div>`
	const xf2Titled = `<div class="bbCodeSpoiler"><button type="button" class="button bbCodeSpoiler-button"><span class="button-text"><span>Spoiler: <span class="bbCodeSpoiler-button-title">his car</span></span></span></button>` +
		`<div class="bbCodeSpoiler-content"><div class="bbCodeBlock bbCodeBlock--spoiler"><div class="bbCodeBlock-content">a grey van</div></div></div></div>`
	for _, tc := range []struct {
		name       string
		page       string
		wantText   string
		wantQuoted []string
	}{
		{"an untitled spoiler keeps only its content", xf2("I know where.<br />" + xf2Spoiler + "Go look."),
			"I know where.\n\nhe parks on Elm Road\n\nGo look.", nil},
		{"a titled spoiler keeps its title and content", xf2(xf2Titled),
			"his car\n\na grey van", nil},
		{"a spoiler inside a quote is quoted without its button", xf2(`<blockquote class="bbCodeBlock bbCodeBlock--expandable bbCodeBlock--quote" data-quote="bob"><div class="bbCodeBlock-title">bob said:</div><div class="bbCodeBlock-content"><div class="bbCodeBlock-expandContent">` + xf2Spoiler + `</div><div class="bbCodeBlock-expandLink"><a>Click to expand...</a></div></div></blockquote>Thanks.`),
			"Thanks.", []string{"he parks on Elm Road"}},
		{"an expandable block outside a quote loses its expand link", xf2(`<div class="bbCodeBlock bbCodeBlock--expandable"><div class="bbCodeBlock-content"><div class="bbCodeBlock-expandContent">long list</div><div class="bbCodeBlock-expandLink"><a role="button">Click to expand...</a></div></div></div>`),
			"long list", nil},
		{"a XenForo 1 spoiler keeps its title and content", xf1(`Look:<div class="ToggleTriggerAnchor bbCodeSpoilerContainer"><span class="button bbCodeSpoilerButton ToggleTrigger Tooltip JsOnly" title="Click to reveal or hide spoiler"><span>Spoiler<span class="SpoilerTitle">: his car</span></span></span><div class="SpoilerTarget bbCodeSpoilerText">a grey van</div></div>`),
			"Look:\n\nhis car\n\na grey van", nil},
		{"an untitled XenForo 1 spoiler keeps only its content", xf1(`<div class="ToggleTriggerAnchor bbCodeSpoilerContainer"><span class="button bbCodeSpoilerButton ToggleTrigger JsOnly"><span>Spoiler</span></span><div class="SpoilerTarget bbCodeSpoilerText">a grey van</div></div>`),
			"a grey van", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := parseAt(t, e, "/threads/t.1/", Thread, []byte(tc.page))
			if len(pg.Posts) != 1 {
				t.Fatalf("%d posts, want 1", len(pg.Posts))
			}
			p := pg.Posts[0]
			if p.Text != tc.wantText || !slices.Equal(p.Quoted, tc.wantQuoted) {
				t.Errorf("text %q, quoted %q; want %q, %q", p.Text, p.Quoted, tc.wantText, tc.wantQuoted)
			}
		})
	}
}
