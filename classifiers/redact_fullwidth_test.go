package classifiers

import (
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Personal data written in fullwidth forms, as an East Asian keyboard
// types them or a poster does to slip past filters, was left in clear:
// the extractors read ASCII digits and punctuation only.
func TestRedactHidesFullwidthPersonalData(t *testing.T) {
	hidden(t, "call her at （５４１） ５５５-０１３７ tonight", "５５５", "０１３７")
	hidden(t, "call her at ５４１－５５５－０１３７ tonight", "５５５", "０１３７")
	hidden(t, "her cell is +１ ５４１ ５５５ ０１３７", "５５５", "０１３７")
	hidden(t, "she lives at ４４１２ Larkspur Drive, Tessaly", "４４１２", "Larkspur")
	hidden(t, "she lives at ４４１２　Ｌａｒｋｓｐｕｒ　Ｄｒｉｖｅ, Tessaly", "４４１２", "Ｌａｒｋｓｐｕｒ")
	hidden(t, "email ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ now", "ｊａｎｅ", "ｅｘａｍｐｌｅ")
	hidden(t, "her ssn is ５４１-５５-０１３７", "５５", "０１３７")
	hidden(t, "mixed: 541-５５５-0137 call", "５５５", "0137")
}

// Fullwidth text that holds no personal data stays as it is: prices,
// dates, counts and words in Japanese or Chinese.
func TestRedactLeavesFullwidthProseAlone(t *testing.T) {
	unchanged(t,
		"ｈｅｌｌｏ　ｗｏｒｌｄ",
		"価格は１２００円です",
		"２０２４年６月３０日に投稿",
		"第３章を読んだ",
		"スコアは１０対３でした",
		"ＵＲＬは後で送る",
	)
}

// The scoring, which reads the text folded to ASCII, already saw through
// the width; the second reading for redaction must not change that: a dox
// in fullwidth forms scores as the same dox in ASCII does.
func TestAFullwidthDoxScoresAsItsASCIIForm(t *testing.T) {
	score := func(text string) float64 { t.Helper(); return scoreOf(t, text, msg.SignalDoxxing) }
	ascii := score("Dana Kowalski lives at 4412 Larkspur Drive, Tessaly. Her cell is (541) 555-0137, go say hi.")
	wide := score("Dana Kowalski lives at ４４１２ Larkspur Drive, Tessaly. Her cell is （５４１） ５５５-０１３７, go say hi.")
	if ascii < 0.5 || wide < ascii-0.05 {
		t.Errorf("doxxing score %.3f in fullwidth forms, %.3f in ASCII", wide, ascii)
	}
}

// The second reading runs only where it can find something: fullwidth
// forms and a digit or an "@" of either width. Chinese and Japanese prose,
// full of fullwidth punctuation, is not read twice.
func TestFullwidthTextIsReadAgainOnlyWithDigitsOrAt(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"我们明天见，好吗？", false},
		{"ｈｅｌｌｏ　ｗｏｒｌｄ", false},
		{"call 541-555-0137 now", false},
		{"她的电话是５４１-５５５-０１３７，快打", true},
		{"她的电话是541-555-0137，快打", true},
		{"ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", true},
		{"jane@example．com", true},
	} {
		if got := hasFullwidth(tc.s); got != tc.want {
			t.Errorf("hasFullwidth(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
