package scrapers

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseRelativeDates(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC) // a Tuesday
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	for _, tc := range []struct {
		in   string
		loc  *time.Location
		want time.Time // zero: must not parse
	}{
		{"just now", nil, now},
		{"5 minutes ago", nil, now.Add(-5 * time.Minute)},
		{"1 minute ago", nil, now.Add(-time.Minute)},
		{"a minute ago", nil, now.Add(-time.Minute)},
		{"an hour ago", nil, now.Add(-time.Hour)},
		{"2 hours ago", nil, now.Add(-2 * time.Hour)},
		{"2 hrs ago", nil, now.Add(-2 * time.Hour)},
		{"3 days ago", nil, now.Add(-72 * time.Hour)},
		{"2 weeks ago", nil, now.Add(-14 * 24 * time.Hour)},
		{"2 months ago", nil, now.AddDate(0, -2, 0)},
		{"a year ago", nil, now.AddDate(-1, 0, 0)},
		{"5m ago", nil, now.Add(-5 * time.Minute)},
		{"2mo ago", nil, now.AddDate(0, -2, 0)},
		{"12h ago", nil, now.Add(-12 * time.Hour)},
		{"3d ago", nil, now.Add(-72 * time.Hour)},
		{"  10   seconds   ago ", nil, now.Add(-10 * time.Second)},
		{"Today at 9:05 AM", nil, time.Date(2026, 3, 10, 9, 5, 0, 0, time.UTC)},
		{"today, 13:00", nil, time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC)},
		{"Yesterday at 11:45 PM", nil, time.Date(2026, 3, 9, 23, 45, 0, 0, time.UTC)},
		{"Yesterday, 08:15", nil, time.Date(2026, 3, 9, 8, 15, 0, 0, time.UTC)},
		{"Yesterday", nil, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)},
		// The board's zone: 15:00 in Moscow is 12:00 UTC.
		{"Сегодня, 15:00", moscow, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)},
		{"вчера в 23:10", moscow, time.Date(2026, 3, 9, 20, 10, 0, 0, time.UTC)},
		{"5 минут назад", nil, now.Add(-5 * time.Minute)},
		{"2 часа назад", nil, now.Add(-2 * time.Hour)},
		{"3 дня назад", nil, now.Add(-72 * time.Hour)},
		{"1 день назад", nil, now.Add(-24 * time.Hour)},
		{"минуту назад", nil, now.Add(-time.Minute)},
		{"неделю назад", nil, now.Add(-7 * 24 * time.Hour)},
		{"5 лет назад", nil, now.AddDate(-5, 0, 0)},
		// Not relative dates, or not ones that can be read.
		{"Today at 11:00 PM", nil, time.Time{}}, // after the fetch: wrong zone
		{"ago", nil, time.Time{}},
		{"5 ago", nil, time.Time{}},
		{"some time ago", nil, time.Time{}},
		{"5 blue moons ago", nil, time.Time{}},
		{"today is the day", nil, time.Time{}},
		{"99999999999 days ago", nil, time.Time{}},
		{"", nil, time.Time{}},
	} {
		got, ok := parseRelative(tc.in, now, tc.loc)
		if tc.want.IsZero() {
			if ok {
				t.Errorf("%q read as %v; want no date", tc.in, got)
			}
			continue
		}
		if !ok || !got.Equal(tc.want) {
			t.Errorf("%q = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
}

// An absolute date still wins, and without a fetch time nothing relative
// is guessed.
func TestParseTimeAtPrefersAbsoluteDates(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	if got, ok := parseTimeAt("2026-01-02T03:04:05Z", "", nil, now); !ok || !got.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("absolute date: %v %v", got, ok)
	}
	if _, ok := parseTimeAt("5 minutes ago", "", nil, time.Time{}); ok {
		t.Error("a relative date was read without a fetch time")
	}
}

// MyBB, read through the generic engine, prints "Today, 09:00 AM" and
// "5 minutes ago" for recent posts in place of its date format: such
// posts get their date from the time the page was fetched, not none.
func TestGenericEngineReadsRelativeDates(t *testing.T) {
	site := fixtureSite(t, "generic", "https://board.example")
	eng, err := NewEngine(site)
	if err != nil {
		t.Fatal(err)
	}
	page := string(readFixture(t, "generic", "thread-13.html"))
	fetched := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		shown string
		want  time.Time
	}{
		{"01-01-2026, 09:00 AM", time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)},
		{`<span title="03-10-2026">Today</span>, 09:00 AM`, time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)},
		{`<span title="03-09-2026">Yesterday</span>, 11:15 PM`, time.Date(2026, 3, 9, 23, 15, 0, 0, time.UTC)},
		{"5 minutes ago", fetched.Add(-5 * time.Minute)},
	} {
		body := strings.Replace(page, "01-01-2026, 09:00 AM", tc.shown, 1)
		if body == page && tc.shown != "01-01-2026, 09:00 AM" {
			t.Fatal("the fixture no longer holds the date this test replaces")
		}
		u, _ := url.Parse("https://board.example/showthread.php?tid=13")
		pg, err := eng.Parse(&Input{Site: "mybb", URL: u, Kind: Thread, Body: []byte(body), ContentType: "text/html", Fetched: fetched})
		if err != nil || len(pg.Posts) == 0 {
			t.Fatalf("%q: %v, %d posts", tc.shown, err, len(pg.Posts))
		}
		if got := pg.Posts[0].Published; !got.Equal(tc.want) {
			t.Errorf("%q: published %v, want %v", tc.shown, got, tc.want)
		}
	}
}

// Whatever a page prints, a relative date never panics and never lands
// after the fetch.
func FuzzParseRelative(f *testing.F) {
	for _, s := range []string{"5 minutes ago", "Today at 9:05 AM", "вчера в 23:10", "минуту назад", "a year ago", "2mo ago", "yesterday, ", "a ago"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRelative(s, now, time.UTC)
		if ok && got.After(now) {
			t.Fatalf("%q read as %v, after the fetch at %v", s, got, now)
		}
	})
}

// Just after midnight a forum whose clock (or page cache) is a little
// behind ours still prints the evening's posts as "today": read against
// our date, "Today at 11:58 PM" was tonight, a day ahead, and the post
// lost its date. Such a "today" is our yesterday; a "today" that lands
// after the fetch at any other hour stays unread, and no reading gives a
// date after the fetch.
func TestTodayReadJustAfterTheForumsMidnightIsYesterday(t *testing.T) {
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	afterMidnight := time.Date(2026, 3, 11, 0, 3, 0, 0, time.UTC)
	afternoon := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		in   string
		loc  *time.Location
		now  time.Time
		want time.Time // zero: must not parse
	}{
		{"a post two minutes before our midnight", "Today at 11:58 PM", nil, afterMidnight, time.Date(2026, 3, 10, 23, 58, 0, 0, time.UTC)},
		{"a post in the forum's evening", "today, 21:15", nil, afterMidnight, time.Date(2026, 3, 10, 21, 15, 0, 0, time.UTC)},
		{"a post seconds before midnight", "Today at 23:59:30", nil, afterMidnight, time.Date(2026, 3, 10, 23, 59, 30, 0, time.UTC)},
		{"in the board's zone", "Сегодня, 23:58", moscow, time.Date(2026, 3, 10, 21, 3, 0, 0, time.UTC), time.Date(2026, 3, 10, 20, 58, 0, 0, time.UTC)},
		{"a post after our midnight is today", "Today at 12:01 AM", nil, afterMidnight, time.Date(2026, 3, 11, 0, 1, 0, 0, time.UTC)},
		{"a minute ahead of our clock is now", "Today at 2:31 PM", nil, afternoon, afternoon},
		{"an hour after midnight the evening is a wrong zone", "Today at 11:58 PM", nil, afterMidnight.Add(time.Hour), time.Time{}},
		{"ten minutes ahead in the afternoon is a wrong zone", "Today at 2:40 PM", nil, afternoon, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseRelative(tc.in, tc.now, tc.loc)
			if tc.want.IsZero() {
				if ok {
					t.Errorf("%q at %v read as %v; want no date", tc.in, tc.now, got)
				}
				return
			}
			if !ok || !got.Equal(tc.want) {
				t.Errorf("%q at %v = %v, %v; want %v", tc.in, tc.now, got, ok, tc.want)
			}
		})
	}
}

// A board whose clock is behind ours across midnight still says
// "Yesterday" of the day before its own today. Read against our clock, a
// post the board shows as "Yesterday, 11:50 PM" at its 11:58 PM on the
// 10th, fetched at our 00:05 on the 11th, was dated the 10th: a day late.
// Where the page prints the board's time, relative dates are read
// against it; where it does not, or prints something implausible,
// against ours in the site's zone.
func TestRelativeDatesAreReadAgainstTheBoardsOwnClock(t *testing.T) {
	site := fixtureSite(t, "generic", "https://board.example")
	site.Selectors.ServerTime = "#server_time"
	eng, err := NewEngine(site)
	if err != nil {
		t.Fatal(err)
	}
	page := string(readFixture(t, "generic", "thread-13.html"))
	fetched := time.Date(2026, 1, 11, 0, 5, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, shown, clock string
		want               time.Time
	}{
		{"a time of day only, before our midnight", "Yesterday, 11:50 PM", "All times are GMT. The time now is 11:58 PM.",
			time.Date(2026, 1, 9, 23, 50, 0, 0, time.UTC)},
		{"a full date in the board's format", "Yesterday, 11:50 PM", "Current time: 01-10-2026, 11:58 PM",
			time.Date(2026, 1, 9, 23, 50, 0, 0, time.UTC)},
		{"today on the board is our yesterday", "Today, 11:20 PM", "The time now is 11:58 PM",
			time.Date(2026, 1, 10, 23, 20, 0, 0, time.UTC)},
		{"minutes ago from the board's now", "5 minutes ago", "The time now is 11:58 PM",
			time.Date(2026, 1, 10, 23, 53, 0, 0, time.UTC)},
		{"a board clock ahead of ours", "Today, 12:02 AM", "The time now is 12:09 AM",
			time.Date(2026, 1, 11, 0, 2, 0, 0, time.UTC)},
		{"never later than the fetch", "just now", "The time now is 12:09 AM", fetched},
		{"no board time on the page: our clock", "Yesterday, 11:50 PM", "",
			time.Date(2026, 1, 10, 23, 50, 0, 0, time.UTC)},
		{"a board time days away is not believed", "Yesterday, 11:50 PM", "Current time: 01-01-2020, 11:58 PM",
			time.Date(2026, 1, 10, 23, 50, 0, 0, time.UTC)},
		{"an unreadable board time is not used", "Yesterday, 11:50 PM", "Current time: soon",
			time.Date(2026, 1, 10, 23, 50, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(page, "01-01-2026, 09:00 AM", tc.shown, 1)
			if tc.clock != "" {
				body = strings.Replace(body, "</body>", `<div id="footer"><span id="server_time">`+tc.clock+`</span></div></body>`, 1)
			}
			u, _ := url.Parse("https://board.example/showthread.php?tid=13")
			pg, err := eng.Parse(&Input{Site: "mybb", URL: u, Kind: Thread, Body: []byte(body), ContentType: "text/html", Fetched: fetched})
			if err != nil || len(pg.Posts) == 0 {
				t.Fatalf("%v, %d posts", err, len(pg.Posts))
			}
			if got := pg.Posts[0].Published; !got.Equal(tc.want) {
				t.Errorf("%q with the board at %q: published %v, want %v", tc.shown, tc.clock, got, tc.want)
			}
		})
	}
}
