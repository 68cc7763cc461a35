package scrapers

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimeInTheBoardsLanguage(t *testing.T) {
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	for _, tc := range []struct {
		s, layout string
		want      time.Time
		ok        bool
	}{
		{"10 января 2026, 14:30", "02 Jan 2006, 15:04", at(2026, 1, 10, 14, 30), true},
		{"10 янв 2026, 14:30", "02 Jan 2006, 15:04", at(2026, 1, 10, 14, 30), true},
		{"Сб янв 10, 2026 1:00 pm", "", at(2026, 1, 10, 13, 0), true}, // phpBB 3.0's default format, in Russian
		{"5 лютого 2026", "2 January 2006", at(2026, 2, 5, 0, 0), true},
		{"Sa 10. Januar 2026, 14:30", "Mon 02. January 2006, 15:04", at(2026, 1, 10, 14, 30), true},
		{"12 févr. 2026 09:05", "02 Jan. 2006 15:04", at(2026, 2, 12, 9, 5), true},
		{"3 de marzo de 2026", "2 de January de 2006", at(2026, 3, 3, 0, 0), true},
		{"22 września 2026", "02 January 2006", at(2026, 9, 22, 0, 0), true},
		{"Mai 5, 2026", "", at(2026, 5, 5, 0, 0), true},
		{"Jan 2, 2026", "", at(2026, 1, 2, 0, 0), true}, // English as before
		{"вчера в 14:30", "", time.Time{}, false},
		{"10 blah 2026", "02 Jan 2006", time.Time{}, false},
	} {
		got, ok := parseTime(tc.s, tc.layout, nil)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q, %q) = %v, %v; want %v, %v", tc.s, tc.layout, got, ok, tc.want, tc.ok)
		}
	}
}

// Every name in the tables is found as written (lower case, no stray
// punctuation) and put into English, in any case the board writes it.
func TestForeignNamesAllTranslate(t *testing.T) {
	for n, m := range foreignMonths {
		for _, w := range []string{n, strings.ToUpper(n)} {
			if e, _ := inEnglish(w, true, false); e != m.String() {
				t.Errorf("month %q reads as %q, want %s", w, e, m)
			}
		}
	}
	for n, d := range foreignWeekdays {
		if e, _ := inEnglish(n, false, true); e != d.String() {
			t.Errorf("weekday %q reads as %q, want %s", n, e, d)
		}
	}
}
