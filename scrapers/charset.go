package scrapers

import (
	"bytes"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
)

// Colly converts a body whose Content-Type header names a charset. Many
// forums, and most older Russian, Japanese and Chinese ones, name it only in
// the page itself: a byte-order mark, <meta charset> or an XML declaration.
// Without this step such a page's text would reach the classifiers as
// U+FFFD, and a threat written in it would go unseen.

// prescanBytes is how far into a page a declaration is looked for: the
// HTML standard's prescan reads 1,024 bytes, so a page is read as a
// browser reads it.
const prescanBytes = 1024

var xmlDecl = regexp.MustCompile(`^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']`)

// decodeBody returns a fetched body as UTF-8, with the name of the
// encoding it was converted from ("" when it was not converted).
//
// In the HTML standard's order: a byte-order mark wins; then a charset in
// the Content-Type header; then a declaration in the document. A body that
// is valid UTF-8 is kept as it is whatever the document or a single-byte
// header charset says, since text in a legacy encoding with bytes over
// 0x7F is almost never valid UTF-8, while UTF-8 served as iso-8859-1 is a
// common server default. Other header charsets colly has already
// converted, so the body is left alone. What no declaration explains is
// repaired byte by byte, as before.
func decodeBody(body []byte, contentType string) ([]byte, string) {
	switch {
	case bytes.HasPrefix(body, []byte("\xef\xbb\xbf")):
		// encoding/json refuses a leading BOM; no engine wants it.
		return repairUTF8(body[3:]), ""
	case bytes.HasPrefix(body, []byte("\xfe\xff")):
		return convert(body, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), "utf-16be")
	case bytes.HasPrefix(body, []byte("\xff\xfe")):
		return convert(body, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), "utf-16le")
	}
	valid := utf8.Valid(body)
	if enc, name := singleByteCharset(contentType); enc != nil && !valid {
		return convert(body, enc, name)
	}
	if valid || headerCharset(contentType) {
		return repairUTF8(body), ""
	}
	label := declaredCharset(body)
	if label == "" {
		return repairUTF8(body), ""
	}
	enc, name := charset.Lookup(label)
	if enc == nil || name == "utf-8" || strings.HasPrefix(name, "utf-16") {
		// An unknown label, or UTF-8 that is not valid: repair. A document
		// that says UTF-16 without a BOM is read as UTF-8, as browsers do.
		return repairUTF8(body), ""
	}
	return convert(body, enc, name)
}

func convert(body []byte, enc encoding.Encoding, name string) ([]byte, string) {
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		// x/text decoders replace what they cannot read; an error here
		// means the transformer itself failed, so fall back to repairing.
		return repairUTF8(body), ""
	}
	return repairUTF8(out), name
}

func headerCharset(contentType string) bool {
	_, params, err := mime.ParseMediaType(contentType)
	return err == nil && params["charset"] != ""
}

// singleByte are the HTML standard's single-byte legacy encodings, by the
// names charset.Lookup gives ("iso-8859-1", "latin1" and "us-ascii" are
// all windows-1252). Any byte sequence decodes in them, so a label of one
// never fails on UTF-8 bytes: it turns them into mojibake.
var singleByte = map[string]bool{
	"ibm866": true, "iso-8859-2": true, "iso-8859-3": true, "iso-8859-4": true,
	"iso-8859-5": true, "iso-8859-6": true, "iso-8859-7": true, "iso-8859-8": true,
	"iso-8859-8-i": true, "iso-8859-10": true, "iso-8859-13": true, "iso-8859-14": true,
	"iso-8859-15": true, "iso-8859-16": true, "koi8-r": true, "koi8-u": true,
	"macintosh": true, "windows-874": true, "windows-1250": true, "windows-1251": true,
	"windows-1252": true, "windows-1253": true, "windows-1254": true, "windows-1255": true,
	"windows-1256": true, "windows-1257": true, "windows-1258": true, "x-mac-cyrillic": true,
}

// singleByteCharset returns the encoding a Content-Type header names when
// it is a single-byte legacy one on a type that carries text (nil
// otherwise). The fetcher keeps colly from converting such a body, and
// decodeBody converts it only when it is not valid UTF-8.
func singleByteCharset(contentType string) (encoding.Encoding, string) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["charset"] == "" {
		return nil, ""
	}
	// As colly: these types carry no text to convert.
	if t, _, _ := strings.Cut(mt, "/"); t == "image" || t == "video" || t == "audio" || t == "font" {
		return nil, ""
	}
	enc, name := charset.Lookup(params["charset"])
	if enc == nil || !singleByte[name] {
		return nil, ""
	}
	return enc, name
}

// mislabelledUTF8 reports a body decodeBody kept as UTF-8 against a
// single-byte header charset: valid UTF-8 with bytes over 0x7F, which
// the header's encoding would have turned into mojibake.
func mislabelledUTF8(body []byte, contentType string) bool {
	if enc, _ := singleByteCharset(contentType); enc == nil || bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		return false
	}
	for _, b := range body {
		if b >= utf8.RuneSelf {
			return utf8.Valid(body)
		}
	}
	return false
}

// declaredCharset finds the label an XML declaration or a <meta> element
// in the first prescanBytes of a document gives.
func declaredCharset(body []byte) string {
	head := body[:min(len(body), prescanBytes)]
	if m := xmlDecl.FindSubmatch(bytes.TrimLeft(head, " \t\r\n")); m != nil {
		return string(m[1])
	}
	z := html.NewTokenizer(bytes.NewReader(head))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if string(name) != "meta" || !hasAttr {
				continue
			}
			if label := metaCharset(z); label != "" {
				return label
			}
		}
	}
}

// metaCharset reads <meta charset=X> or <meta http-equiv=Content-Type
// content="...; charset=X">.
func metaCharset(z *html.Tokenizer) string {
	var cs, content string
	var equivCT, seenEquiv bool
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		// As in the standard's prescan, the first of a repeated attribute
		// counts.
		case "charset":
			if cs == "" {
				cs = strings.TrimSpace(string(v))
			}
		case "http-equiv":
			if !seenEquiv {
				seenEquiv = true
				equivCT = strings.EqualFold(strings.TrimSpace(string(v)), "content-type")
			}
		case "content":
			if content == "" {
				content = string(v)
			}
		}
		if !more {
			break
		}
	}
	if cs != "" {
		return cs
	}
	if equivCT {
		return contentCharset(content)
	}
	return ""
}

// contentCharset is the HTML standard's "extracting a character encoding
// from a meta element", which is looser than a media type: it takes what
// follows the first "charset=", quoted or up to a space or semicolon.
func contentCharset(s string) string {
	// Lower-cased byte for byte, so that indexes into it index s too.
	lower := strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
	for pos := 0; ; {
		i := strings.Index(lower[pos:], "charset")
		if i < 0 {
			return ""
		}
		pos += i + len("charset")
		rest := strings.TrimLeft(s[pos:], " \t\n\f\r")
		if !strings.HasPrefix(rest, "=") {
			continue
		}
		rest = strings.TrimLeft(rest[1:], " \t\n\f\r")
		if rest == "" {
			return ""
		}
		if q := rest[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(rest[1:], q)
			if end < 0 {
				return ""
			}
			return rest[1 : 1+end]
		}
		if end := strings.IndexAny(rest, " \t\n\f\r;"); end >= 0 {
			return rest[:end]
		}
		return rest
	}
}
