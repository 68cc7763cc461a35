package scrapers

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Forums print dates in their board's language ("10 янв 2026, 14:30",
// "Sa 10. Januar 2026"), and Go's time layouts know only English names.
// A date that does not parse is tried again with its month and weekday
// names put into English, so a Russian phpBB 3.0 board or a German MyBB
// gives its posts' real times instead of the time they were fetched.

// foreignMonths maps month names and their usual abbreviations, lower
// case, in Russian, Ukrainian, German, French, Spanish, Italian,
// Portuguese, Polish and Dutch, to their month. Slavic languages write
// dates with the genitive ("10 января"), so both cases are listed.
var foreignMonths = map[string]time.Month{}

// foreignWeekdays does the same for the days of the week.
var foreignWeekdays = map[string]time.Weekday{}

func init() {
	months := [12]string{
		"январь января янв янв. січень січня січ januar jänner jän janvier janv enero ene gennaio gen janeiro styczeń stycznia sty januari",
		"февраль февраля фев февр лютий лютого лют februar feber février févr fevr febrero febbraio fevereiro fev luty lutego lut februari",
		"март марта мар березень березня бер märz mär maerz mars marzo março marzec marca maart mrt",
		"апрель апреля апр квітень квітня квіт april avril avr abril abr aprile kwiecień kwietnia kwi",
		"май мая травень травня трав mai mayo maggio mag maio maj mei",
		"июнь июня июн червень червня черв juni juin junio giugno giu junho czerwiec czerwca cze",
		"июль июля июл липень липня лип juli juillet juil julio luglio lug julho lipiec lipca",
		"август августа авг серпень серпня серп august août aout agosto ago sierpień sierpnia sie augustus",
		"сентябрь сентября сен сент вересень вересня вер september septembre sept septiembre setiembre settembre set setembro wrzesień września wrz",
		"октябрь октября окт жовтень жовтня жовт oktober okt octobre octubre ottobre ott outubro out październik października paź oct",
		"ноябрь ноября ноя нояб листопад листопада лист november novembre noviembre novembro listopad listopada lis",
		"декабрь декабря дек грудень грудня груд dezember dez décembre déc decembre diciembre dic dicembre dezembro grudzień grudnia gru december",
	}
	for i, names := range months {
		for _, n := range strings.Fields(names) {
			foreignMonths[strings.TrimSuffix(n, ".")] = time.Month(i + 1)
		}
	}
	days := [7]string{
		"воскресенье вс нд неділя sonntag so dimanche dim domingo dom domenica niedziela nie zondag zo",
		"понедельник пн понеділок montag mo lundi lun lunes lunedì segunda poniedziałek pon maandag ma",
		"вторник вт вівторок dienstag di mardi mar martes martedì terça wtorek wt dinsdag",
		"среда ср середа mittwoch mi mercredi mer miércoles mié mercoledì quarta środa śr woensdag wo",
		"четверг чт четвер donnerstag do jeudi jeu jueves jue giovedì quinta czwartek czw donderdag",
		"пятница пт пʼятниця п'ятниця freitag fr vendredi ven viernes vie venerdì sexta piątek pt vrijdag vr",
		"суббота сб субота samstag sa samedi sam sábado sáb sabato sobota sob zaterdag za",
	}
	for i, names := range days {
		for _, n := range strings.Fields(names) {
			if _, isMonth := foreignMonths[n]; !isMonth {
				foreignWeekdays[n] = time.Weekday(i)
			}
		}
	}
}

// inEnglish returns s with each month and weekday name of another language
// replaced by the English one, abbreviated ("Jan", "Mon") or in full
// ("January", "Monday"), and whether it replaced any.
func inEnglish(s string, fullMonth, fullDay bool) (string, bool) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); {
		j := i
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsLetter(r) && r != '\'' && r != 'ʼ' {
				break
			}
			j += n
		}
		if j == i {
			_, n := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		word := s[i:j]
		lower := strings.ToLower(word)
		if m, ok := foreignMonths[lower]; ok {
			name := m.String()
			if !fullMonth {
				name = name[:3]
			}
			b.WriteString(name)
			changed = true
		} else if d, ok := foreignWeekdays[lower]; ok {
			name := d.String()
			if !fullDay {
				name = name[:3]
			}
			b.WriteString(name)
			changed = true
		} else {
			b.WriteString(word)
		}
		i = j
	}
	return b.String(), changed
}
