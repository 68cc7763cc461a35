package classifiers

import (
	"strings"
	"testing"
	"unicode"
)

func TestScript(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"I know where you live, see you tonight.", ScriptLatin},
		{"Sé dónde vives. Mañana iré a tu casa.", ScriptLatin},
		{"", ScriptNone},
		{"12345 !!! :) 555-201-3344", ScriptNone},
		{"Вот её адрес: ул. Ленина 5, кв. 12. Приезжайте к ней домой.", "cyrillic"},
		{"Вот её адрес https://forum.example/threads/where-she-lives.12/ пишите ivan.petrov@example.com", "cyrillic"},
		{"她住在北京市朝阳区，今晚去她家。", "han"},
		{"あいつの住所はここだ。今夜行くぞ。", "kana"},
		{"그녀의 주소를 안다. 오늘 밤에 간다.", "hangul"},
		{"أعرف أين تسكن", "arabic"},
		{"אני יודע איפה את גרה", "hebrew"},
		{"Ξέρω πού μένεις", "greek"},
		{"मुझे पता है तुम कहाँ रहते हो", "devanagari"},
		{"ฉันรู้ว่าเธออยู่ที่ไหน", "thai"},
		{"ᎠᏂᏴᏫ ᎠᏂᏴᏫ", "other"},
		{"She said привет to me and left the room.", ScriptLatin},
		{"ab вг", ScriptLatin}, // a tie is read
		{"𝐈 𝐰𝐢𝐥𝐥 𝐟𝐢𝐧𝐝 𝐲𝐨𝐮 𝐭𝐨𝐧𝐢𝐠𝐡𝐭", ScriptLatin}, // read: the normalizer folds them
		{"𝓘 𝓀𝓃ℴ𝓌 𝓌𝒽ℯ𝓇ℯ 𝓎ℴ𝓊 𝓁𝒾𝓋ℯ", ScriptLatin},
		{strings.Repeat("word ", 2000) + strings.Repeat("слово ", 3000), ScriptLatin},
	} {
		if got := Script(tc.text); got != tc.want {
			t.Errorf("Script(%.40q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// The fast path for the common blocks must agree with the tables.
func TestBlockScriptAgreesWithTheTables(t *testing.T) {
	for r := rune(0x80); r <= 0xFFFF; r++ {
		k := blockScript(r)
		if k < 0 || !unicode.IsLetter(r) {
			continue
		}
		if !unicode.Is(scripts[k].table, r) {
			t.Errorf("U+%04X placed in %s, which the table does not hold", r, scripts[k].name)
		}
	}
}

func TestReads(t *testing.T) {
	for s, want := range map[string]bool{ScriptLatin: true, ScriptNone: true, "cyrillic": false, "han": false, "other": false} {
		if Reads(s) != want {
			t.Errorf("Reads(%q) = %v", s, !want)
		}
	}
}

func BenchmarkScript(b *testing.B) {
	for _, tc := range []struct{ name, text string }{
		{"english", strings.Repeat("I know where you live and I will be there tonight. ", 8)},
		{"russian", strings.Repeat("Я знаю, где ты живёшь, и сегодня вечером буду там. ", 8)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			for b.Loop() {
				_ = Script(tc.text)
			}
		})
	}
}
