package classifiers

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Street addresses written in Russian, Ukrainian and Belarusian. The rest
// of this package reads English, so a Russian doxxing post scores low (see
// Script); its address must still never reach an alert, a page or a log in
// clear. Since the scrapers read pages in their declared charsets, such
// posts arrive as readable Cyrillic, and Redact must hide what they give.
//
// Two word orders: the street type first ("ул. Ленина, д. 5, кв. 12",
// "улица 8 Марта 5", "вул. Хрещатик, 22") and the name first ("Ленинский
// проспект, д. 32", "Тверская ул., 5"). Each needs a house number, and
// takes the building, flat and office numbers that follow it.
var (
	// cyrStreetType is a street type word or its abbreviation, in the forms
	// an address uses ("улица", "на улице", "ул."), then a dot or a space.
	cyrStreetType = `(?:[Уу]л(?:иц[аеуыи])?|[Вв]ул(?:иц[яіею])?|[Пп]р(?:осп(?:ект[аеу]?)?|-т|-кт)|[Пп]ер(?:еул(?:ок|ке|ка))?|` +
		`[Пп]ров(?:ул(?:ок|ку|ка))?|[Бб]ул(?:ьвар[аеу]?|ьв)?|[Бб]-р|[Шш](?:оссе)?|[Нн]аб(?:ережн(?:ая|ой))?|[Пп]л(?:ощад[ьи])?|` +
		`[Мм]кр(?:-н)?|[Пп]роезд[аеу]?|[Мм][іи]крорайон[аеу]?)(?:\.\s*|\s+)`
	// cyrStreetName ends with a letter, so that a house number is never
	// read as the end of the name ("улица 8 Марта 14").
	cyrStreetName = `(?:[\p{L}\d][\p{L}\d'’. -]{0,40}?)?\p{L}\.?`
	// cyrHouse is the house number and what follows it: building, flat,
	// office, entrance, floor.
	cyrHouse = `,?\s*(?:(?:д|дом[аеу]?|буд(?:инок)?)\.?\s*(?:№\s*)?)?\d{1,4}(?:\s?[/-]\s?\d{1,3})?[а-яА-Яa-z]?` +
		`(?:\s*,?\s*(?:корп(?:ус)?|к|стр(?:оение)?|кв(?:артира)?|оф(?:ис)?|под(?:ъезд)?|эт(?:аж)?|п(?:ід'їзд)?)\.?\s*\d{1,4})*`
	reCyrStreet = regexp.MustCompile(`(?:^|[^\p{L}\d])(?:` +
		cyrStreetType + cyrStreetName + cyrHouse +
		`|\p{L}[\p{L}-]{2,30}\s+(?:проспект[аеу]?|пр-т|просп\.|улиц[аеуы]|ул\.|переул(?:ок|ке|ка)|пер\.|бульвар[аеу]?|б-р|шоссе|набережн(?:ая|ой)|наб\.|площад[ьи]|пл\.|вулиц[яіею]|вул\.|провул(?:ок|ку|ка)|пров\.)` + cyrHouse +
		`)`)
)

// hasCyrillic reports whether text may hold Cyrillic: every Cyrillic letter
// of Russian, Ukrainian and Belarusian is encoded with a lead byte 0xD0 to
// 0xD3. English text pays four byte scans and no regexp.
func hasCyrillic(text string) bool {
	return strings.IndexByte(text, 0xD0) >= 0 || strings.IndexByte(text, 0xD1) >= 0 ||
		strings.IndexByte(text, 0xD2) >= 0 || strings.IndexByte(text, 0xD3) >= 0
}

// An address's street type lies at most cyrBefore bytes before the first
// digit of its house number (a type word, a name of up to 40 Cyrillic
// letters, "д."), and what it takes after the number (building, flat,
// entrance, floor) within cyrAfter bytes.
const (
	cyrBefore = 128
	cyrAfter  = 96
)

// findCyrillicStreets runs the address patterns only around digits, where
// a house number can be: over a whole post they cost more than the rest
// of redaction together.
func findCyrillicStreets(text string, out []pii) []pii {
	a, b := -1, -1
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) || i > 0 && isDigit(text[i-1]) {
			continue
		}
		wa, wb := max(0, i-cyrBefore), min(len(text), i+cyrAfter)
		if a >= 0 && wa <= b {
			b = wb
			continue
		}
		if a >= 0 {
			out = cyrStreetsIn(text, a, b, out)
		}
		a, b = wa, wb
	}
	if a >= 0 {
		out = cyrStreetsIn(text, a, b, out)
	}
	return out
}

// cyrStreetsIn matches the window [a, b) of text, moved to whole runes,
// and to a word's start so that the end of a word is not read as a street
// type ("стул 5").
func cyrStreetsIn(text string, a, b int, out []pii) []pii {
	for a > 0 && !utf8.RuneStart(text[a]) {
		a--
	}
	for b < len(text) && !utf8.RuneStart(text[b]) {
		b++
	}
	if a > 0 {
		if r, _ := utf8.DecodeLastRuneInString(text[:a]); unicode.IsLetter(r) || unicode.IsDigit(r) {
			k := strings.IndexFunc(text[a:b], unicode.IsSpace)
			if k < 0 {
				return out
			}
			a += k
		}
	}
	// Whole matches only: without submatches the regexp runs as a DFA,
	// several times faster. An address starts with a letter, so the
	// boundary the match may start with is the first rune when that is not
	// one.
	for _, m := range reCyrStreet.FindAllStringIndex(text[a:b], -1) {
		s, e := a+m[0], a+m[1]
		if r, n := utf8.DecodeRuneInString(text[s:e]); !unicode.IsLetter(r) {
			s += n
		}
		out = append(out, pii{KindStreetAddress, s, e})
	}
	return out
}
