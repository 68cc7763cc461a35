package scrapers

import (
	"strconv"
	"strings"
	"time"
	"unicode"
)

// parseTimeAt is parseTime that also reads the relative dates forums print
// for recent posts ("5 minutes ago", "Yesterday at 3:15 PM"), against now,
// the time the page was fetched. Unread, such a post would take its fetch
// time as its event time: an old post in a newly found thread would count
// as happening now.
func parseTimeAt(s, layout string, loc *time.Location, now time.Time) (time.Time, bool) {
	return parseTimeOnBoard(s, layout, loc, now, now)
}

// parseTimeOnBoard is parseTimeAt with relative dates read against board,
// the board's own clock (boardNow), but never later than fetched.
func parseTimeOnBoard(s, layout string, loc *time.Location, board, fetched time.Time) (time.Time, bool) {
	if t, ok := parseTime(s, layout, loc); ok {
		return t, true
	}
	if board.IsZero() {
		return time.Time{}, false
	}
	t, ok := parseRelative(s, board, loc)
	if ok && !fetched.IsZero() && t.After(fetched) {
		t = fetched.UTC()
	}
	return t, ok
}

// maxBoardSkew bounds how far a board's printed time may be from our
// clock and still be taken as its "now": further, it is more likely some
// other date the selector matched than a clock that far off.
const maxBoardSkew = 24 * time.Hour

// boardNow is the board's own time, as a page prints it ("The time now is
// 11:58 PM", "It is currently Sat Jan 10, 2026 11:58 pm"), read in loc; the
// fetch time when the text holds none or one implausibly far from it.
// The board says "Today" and "Yesterday" of its own date and counts
// "5 minutes ago" from its own clock; where that is behind ours across
// midnight (or a cache served a page rendered before it), our date is a
// day later than the board's, and a "Yesterday" read against ours lands
// on the board's today.
func boardNow(shown, layout string, loc *time.Location, fetched time.Time) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	words := strings.Fields(strings.TrimRight(strings.TrimSpace(shown), "."))
	layouts := []string{layout}
	if layout != "" {
		layouts = append(layouts, "")
	}
	// The time is what ends the text, after a label of any length: the
	// longest ending that reads as a date with a time of day is it. A date
	// alone would put the board's now at its midnight.
	for i := range words {
		tail := strings.Join(words[i:], " ")
		if !strings.Contains(tail, ":") {
			break
		}
		for _, l := range layouts {
			if t, ok := parseTime(tail, l, loc); ok {
				if d := t.Sub(fetched); d > maxBoardSkew || d < -maxBoardSkew {
					return fetched
				}
				return t
			}
		}
	}
	// A time of day alone: the board's now is that time on whichever day
	// puts it nearest to ours.
	for n := min(len(words), 2); n >= 1; n-- {
		tail := strings.ToLower(strings.Join(words[len(words)-n:], " "))
		for _, l := range clockLayouts {
			c, err := time.Parse(l, tail)
			if err != nil {
				continue
			}
			y, m, d := fetched.In(loc).Date()
			var best time.Time
			for _, day := range []int{-1, 0, 1} {
				t := time.Date(y, m, d+day, c.Hour(), c.Minute(), c.Second(), 0, loc)
				if best.IsZero() || t.Sub(fetched).Abs() < best.Sub(fetched).Abs() {
					best = t
				}
			}
			return best.UTC()
		}
	}
	return fetched
}

// relUnits are the units of "N <unit> ago", by the prefixes they are
// written with: English, abbreviated ("5m", "2h", "3d"), and Russian.
// Longer prefixes come first, so "mo" is a month and "m" a minute.
var relUnits = []struct {
	prefix string
	d      time.Duration // 0: months or years, by the fields below
	months int
}{
	{"sec", time.Second, 0}, {"s", time.Second, 0},
	{"min", time.Minute, 0}, {"mo", 0, 1}, {"m", time.Minute, 0},
	{"hour", time.Hour, 0}, {"hr", time.Hour, 0}, {"h", time.Hour, 0},
	{"day", 24 * time.Hour, 0}, {"d", 24 * time.Hour, 0},
	{"week", 7 * 24 * time.Hour, 0}, {"wk", 7 * 24 * time.Hour, 0}, {"w", 7 * 24 * time.Hour, 0},
	{"year", 0, 12}, {"yr", 0, 12}, {"y", 0, 12},
	{"сек", time.Second, 0}, {"мин", time.Minute, 0}, {"час", time.Hour, 0},
	{"дн", 24 * time.Hour, 0}, {"день", 24 * time.Hour, 0}, {"нед", 7 * 24 * time.Hour, 0},
	{"мес", 0, 1}, {"год", 0, 12}, {"лет", 0, 12},
}

// clockLayouts are the times of day that follow "today" or "yesterday".
var clockLayouts = []string{"3:04 pm", "3:04pm", "3:04:05 pm", "15:04", "15:04:05"}

// Clocks differ: the board's (or a cache in front of it) may be behind
// ours by up to clockLag, and ahead by up to clockLead.
const (
	clockLag  = 15 * time.Minute
	clockLead = 5 * time.Minute
)

// todayAt checks a "today" time t, read against now in loc. A time
// slightly ahead is our clock running behind the board's: it is now. One
// further ahead, in the first minutes after our midnight, is the board's
// "today" still being our yesterday. Any other time after the fetch means
// the site's time_zone is not the board's: better no date than a wrong
// one. Never a date after the fetch.
func todayAt(t, now time.Time, loc *time.Location) (time.Time, bool) {
	if !t.After(now.Add(clockLead)) {
		if t.After(now) {
			return now.UTC(), true
		}
		return t.UTC(), true
	}
	if now.Add(-clockLag).In(loc).Day() == now.In(loc).Day() {
		return time.Time{}, false
	}
	y, m, d := t.AddDate(0, 0, -1).Date()
	t = time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, loc)
	if t.After(now) {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// parseRelative reads a relative date against now, in loc.
func parseRelative(s string, now time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	switch s {
	case "just now", "now", "a moment ago", "moments ago", "только что", "сейчас":
		return now.UTC(), true
	}
	for _, day := range []struct {
		word string
		back int
	}{{"today", 0}, {"yesterday", 1}, {"сегодня", 0}, {"вчера", 1}} {
		rest, ok := strings.CutPrefix(s, day.word)
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " ,")
		for _, at := range []string{"at ", "в "} {
			rest = strings.TrimPrefix(rest, at)
		}
		y, m, d := now.In(loc).AddDate(0, 0, -day.back).Date()
		if rest == "" {
			return time.Date(y, m, d, 0, 0, 0, 0, loc).UTC(), true
		}
		for _, l := range clockLayouts {
			if c, err := time.Parse(l, rest); err == nil {
				t := time.Date(y, m, d, c.Hour(), c.Minute(), c.Second(), 0, loc)
				if day.back == 0 {
					return todayAt(t, now, loc)
				}
				return t.UTC(), true
			}
		}
		return time.Time{}, false
	}
	rest, ok := strings.CutSuffix(s, " ago")
	if !ok {
		if rest, ok = strings.CutSuffix(s, " назад"); !ok {
			return time.Time{}, false
		}
	}
	n, unit := 1, ""
	switch {
	case strings.HasPrefix(rest, "a "), strings.HasPrefix(rest, "an "):
		unit = rest[strings.IndexByte(rest, ' ')+1:]
	default:
		i := strings.IndexFunc(rest, func(r rune) bool { return !unicode.IsDigit(r) })
		if i <= 0 {
			// "минуту назад", "час назад": the number one is left out.
			if i < 0 || !unicode.IsLetter([]rune(rest)[0]) {
				return time.Time{}, false
			}
			unit = rest
			break
		}
		v, err := strconv.Atoi(rest[:i])
		if err != nil || v > 10000 {
			return time.Time{}, false
		}
		n, unit = v, strings.TrimSpace(rest[i:])
	}
	if unit == "" || strings.ContainsRune(unit, ' ') {
		return time.Time{}, false
	}
	for _, u := range relUnits {
		if !strings.HasPrefix(unit, u.prefix) {
			continue
		}
		if u.months > 0 {
			return now.AddDate(0, -n*u.months, 0).UTC(), true
		}
		return now.Add(-time.Duration(n) * u.d).UTC(), true
	}
	return time.Time{}, false
}
