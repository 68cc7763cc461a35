package scrapers

import (
	"encoding/hex"
	"strings"
	"testing"
)

// cfEncode is Cloudflare's email obfuscation, for building pages: the key,
// then every byte of s XORed with it, in hex.
func cfEncode(key byte, s string) string {
	b := []byte{key}
	for i := 0; i < len(s); i++ {
		b = append(b, s[i]^key)
	}
	return hex.EncodeToString(b)
}

func TestCloudflareProtectedEmailsAreDecoded(t *testing.T) {
	const nbsp = "\u00a0"
	tests := []struct {
		name, html, want string
	}{
		{
			// Worked by hand, not with cfEncode: 0x42 is the key,
			// 'a'^0x42 = 0x23, '@'^0x42 = 0x02, and so on.
			name: "known vector",
			html: `mail <span class="__cf_email__" data-cfemail="422302206c212d">[email` + nbsp + `protected]</span> now`,
			want: "mail a@b.co now",
		},
		{
			name: "placeholder link, as Cloudflare writes it",
			html: `Her email is <a href="/cdn-cgi/l/email-protection" class="__cf_email__" data-cfemail="` +
				cfEncode(0x9d, "jane.doe@example.org") + `">[email&#160;protected]</a>.`,
			want: "Her email is jane.doe@example.org.",
		},
		{
			name: "mailto link with text of its own keeps the text and adds the address",
			html: `<a href="https://forum.example/cdn-cgi/l/email-protection#` + cfEncode(0x17, "boss@corp.example?subject=hi") + `">write to him</a>`,
			want: "write to him (boss@corp.example)",
		},
		{
			name: "mailto link around a protected address gives the address once",
			html: `<a href="/cdn-cgi/l/email-protection#` + cfEncode(0x31, "x@y.example") + `"><span class="__cf_email__" data-cfemail="` +
				cfEncode(0x55, "x@y.example") + `">[email` + nbsp + `protected]</span></a>`,
			want: "x@y.example",
		},
		{
			name: "non-ASCII address",
			html: `<span data-cfemail="` + cfEncode(0x6a, "jürgen@straße.example") + `">[email protected]</span>`,
			want: "jürgen@straße.example",
		},
		{
			name: "bad hex keeps the placeholder",
			html: `<span class="__cf_email__" data-cfemail="zz12">[email protected]</span>`,
			want: "[email protected]",
		},
		{
			name: "odd length keeps the placeholder",
			html: `<span data-cfemail="42230">[email protected]</span>`,
			want: "[email protected]",
		},
		{
			name: "a line break smuggled in is refused",
			html: `<span data-cfemail="` + cfEncode(0x20, "a@b.example\nFAKE LINE") + `">[email protected]</span>`,
			want: "[email protected]",
		},
		{
			name: "invalid UTF-8 is refused",
			html: `<span data-cfemail="` + cfEncode(0x20, "a\xff@b.example") + `">[email protected]</span>`,
			want: "[email protected]",
		},
		{
			name: "ordinary links are untouched",
			html: `<a href="/threads/1#post-2">see #2</a>`,
			want: "see #2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := htmlFragmentText(tc.html, "", "")
			if got != tc.want {
				t.Errorf("text = %q, want %q", got, tc.want)
			}
		})
	}
}

// A quoted dox behind Cloudflare's obfuscation lands in the quoted text,
// decoded, like any other quoted words.
func TestCloudflareProtectedEmailInAQuote(t *testing.T) {
	html := `<blockquote>her mail: <span data-cfemail="` + cfEncode(0x3c, "victim@example.net") +
		`">[email protected]</span></blockquote>lol`
	text, quoted := htmlFragmentText(html, "blockquote", "")
	if text != "lol" || len(quoted) != 1 || !strings.Contains(quoted[0], "victim@example.net") {
		t.Fatalf("text %q, quoted %q", text, quoted)
	}
}

func TestPhpbbIdsAreValidUTF8(t *testing.T) {
	for _, tc := range []struct{ link, name, want string }{
		{"https://forum.example/viewtopic.php?f=2&t=17", "t", "17"},
		{"https://forum.example/viewtopic.php?t=%FF7", "t", "\uFFFD7"},
		{"https://forum.example/viewtopic.php?p=%C3%A9", "p", "é"},
	} {
		if got := phpbbParam(tc.link, tc.name); got != tc.want {
			t.Errorf("phpbbParam(%q, %q) = %q, want %q", tc.link, tc.name, got, tc.want)
		}
	}
}
