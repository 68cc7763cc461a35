package classifiers

import (
	"strings"
	"testing"
)

func TestRedactHidesCyrillicStreetAddresses(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"Её адрес: ул. Ленина, д. 5, кв. 12. Приезжайте.", "Её адрес: [ADDRESS]. Приезжайте."},
		{"живёт на улице Ленина, 5 с матерью", "живёт на [ADDRESS] с матерью"},
		{"улица 8 Марта 14а, корп. 2, кв. 7", "[ADDRESS]"},
		{"пр-т Мира, 10", "[ADDRESS]"},
		{"Ленинский проспект, д. 32, кв. 7 — вот он", "[ADDRESS] — вот он"},
		{"Тверская ул., 5", "[ADDRESS]"},
		{"пер. Столярный 14, кв 3", "[ADDRESS]"},
		{"Адреса: вул. Хрещатик, 22, кв. 4", "Адреса: [ADDRESS]"},
		{"Она на Невском проспекте 28", "Она на [ADDRESS]"},
		{"живёт на Тверской улице, д. 7", "живёт на [ADDRESS]"},
		// Not addresses.
		{"я был на улице 5 минут", "я был на улице 5 минут"},
		{"Пулька 5 раз", "Пулька 5 раз"},
		{"удалил 3 поста", "удалил 3 поста"},
	} {
		if got := Redact(tc.text); got != tc.want {
			t.Errorf("Redact(%q)\n = %q\nwant %q", tc.text, got, tc.want)
		}
	}
}

// The Cyrillic patterns run only on text that has Cyrillic: English text
// is not scanned by them, so its scores cannot change.
func TestCyrillicStreetsRunOnlyOnCyrillic(t *testing.T) {
	if hasCyrillic("He lives at 12 Elm Street, ul. Lenina 5") {
		t.Error("Latin text taken for Cyrillic")
	}
	if !hasCyrillic("ул. Ленина 5") || !hasCyrillic("вул. Хрещатик 22") || !hasCyrillic("ў") {
		t.Error("Cyrillic text not seen")
	}
	if got := Redact(strings.Repeat("ул. Ленина, д. 5 ", 3)); strings.Contains(got, "Ленина") {
		t.Errorf("a repeated address left in clear: %q", got)
	}
}

// BenchmarkRedactRussian redacts a Russian dox of 700 bytes, which the
// Cyrillic address patterns scan (English text skips them).
func BenchmarkRedactRussian(b *testing.B) {
	text := "Нашёл её. Живёт по адресу ул. Ленина, д. 5, кв. 12, телефон +7 916 123-45-67. " +
		"Каждый вечер после девяти она дома одна, машина стоит во дворе. Приезжайте, пусть знает, что мы рядом. " +
		"Её мать живёт на Невском проспекте 28, туда тоже можно заглянуть."
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		_ = Redact(text)
	}
}
