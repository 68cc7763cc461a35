package classifiers

import "testing"

// redactsTo returns a check that Redact(in) is exactly want.
func redactsTo(t *testing.T) func(in, want string) {
	return func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// A figure spelled as a word inside a word of figures ("2one2", "two12")
// hid the whole group from the phone finder, which left the number, or
// the group, in clear.
func TestRedactHidesPhonesWithAFigureSpelledInside(t *testing.T) {
	f := redactsTo(t)
	f("call 2one2-555-0147 now", "call [PHONE] now")
	f("her cell is two12 555 0147", "her cell is [PHONE]")
	f("TWO12.555.0147 is hers", "[PHONE] is hers")
	f("dial 212-five55-0147", "dial [PHONE]")
	f("text 212-555-01four7 tonight", "text [PHONE] tonight")
	f("call 2ONE2 555 0147", "call [PHONE]")
	// Spelled as a word of its own, one spelled figure is enough after a
	// word like "call"; elsewhere three are wanted, as before.
	f("call 2 one 2 555 0147 now", "call [PHONE] now")
	f("we had 2 cats, one dog and 555 fish", "we had 2 cats, one dog and 555 fish")
	f("one2one meeting at 10", "one2one meeting at 10")
	f("room 2one2 on floor 3", "room 2one2 on floor 3")
	f("someone2 said 555 things", "someone2 said 555 things")
	// Snippets too.
	hidden(t, "Jane lives here, call 2one2-555-0147 and swat her tonight", "2one2", "0147")
}

// An IPv4 address written with spaced dots or with commas was not read
// as one. Lists of small numbers stay: commas with spaces after them, an
// ordered run ("10,20,30,40"), figures all under 100, a longer list, or a
// number with thousands separators ("1,000,000,000").
func TestRedactHidesSpacedAndCommaIPv4(t *testing.T) {
	f := redactsTo(t)
	f("her ip is 192 . 168 . 1 . 20 lol", "her ip is [IP] lol")
	f("home: 203. 0. 113. 45", "home: [IP]")
	f("router 10 .0 .0 .7 lol", "router [IP] lol")
	f("ip 192,168,1,20", "ip [IP]")
	f("logged in from 73,45,120,8 again", "logged in from [IP] again")
	f("her IP: 10, 0, 0, 7", "her IP: [IP]")
	f("ip address 203 0 113 45 leaked", "ip address [IP] leaked")
	f("scores were 10, 20, 30, 40", "scores were 10, 20, 30, 40")
	f("scores were 10,20,30,40", "scores were 10,20,30,40")
	f("ranks 5,3,8,1 overall", "ranks 5,3,8,1 overall")
	f("grades 85,92,100,78", "grades 85,92,100,78")
	f("steps 1. 2. 3. 4. done", "steps 1. 2. 3. 4. done")
	f("1,000,000,000 views", "1,000,000,000 views")
	f("budget $1,100,200,150 spent", "budget $1,100,200,150 spent")
	f("picks 5,10,192,168,1,20 ok", "picks 5,10,192,168,1,20 ok")
	f("a tip 192, 168, 1, 20", "a tip 192, 168, 1, 20")
	hidden(t, "dox her: ip 192 . 168 . 1 . 20 and swat the house", "192 . 168", "1 . 20")
}

// Indian addresses name a locality ("Lajpat Nagar", "Nehru Marg",
// "Shanti Colony", "Sector 12") more often than a street, with house
// numbers such as "B-12" or "House No. 45": none was read.
func TestRedactHidesIndianLocalities(t *testing.T) {
	f := redactsTo(t)
	f("12 Lajpat Nagar, New Delhi", "[ADDRESS]")
	f("B-12, Lajpat Nagar II, New Delhi 110024", "[ADDRESS]")
	f("she lives at 21 Nehru Marg, Jaipur.", "she lives at [ADDRESS].")
	f("A-4 Vasant Vihar, New Delhi", "[ADDRESS]")
	f("flat 302, Shanti Colony, Indore", "[ADDRESS]")
	f("House No. 45, Sector 12, Gurgaon", "[ADDRESS]")
	f("H.No. 7/3, Gandhi Nagar, Jammu", "[ADDRESS]")
	f("C-45, Sector 62, Noida 201301", "[ADDRESS]")
	f("221, Sector 15, Gurgaon, Haryana 122001", "[ADDRESS], Haryana [POSTCODE]")
	f("she lives in Gandhi Nagar near the temple", "she lives in [STREET] near the temple")
	f("she lives in Shanti Colony, Indore", "she lives in [STREET], Indore")
	f("near Gandhi Chowk, Patna", "near [STREET], Patna")
	f("Sector 62, Noida", "[STREET], Noida")
	// English words and other sectors.
	f("an ant colony of 5000", "an ant colony of 5000")
	f("The Colony was founded in 1620", "The Colony was founded in 1620")
	f("Plymouth Colony had 102 settlers", "Plymouth Colony had 102 settlers")
	f("the private sector 12 times over", "the private sector 12 times over")
	f("Sector 7 is closed for repairs", "Sector 7 is closed for repairs")
	f("my Keyboard Layout is 2 rows", "my Keyboard Layout is 2 rows")
	f("Dear Marg, see you at 5", "Dear Marg, see you at 5")
	hidden(t, "Jane lives at B-12, Lajpat Nagar II, New Delhi, swat her tonight", "B-12", "Lajpat")
}

// A PIN code after a state was read only with a space, a comma or a dash
// between them: a colon, a bracket, an em dash, "India", a state written
// as one word ("Tamilnadu") or its two-letter code left it in clear.
func TestRedactHidesPINCodesAfterMoreStateForms(t *testing.T) {
	f := redactsTo(t)
	f("Maharashtra: 400001", "Maharashtra: [POSTCODE]")
	f("Maharashtra (400001)", "Maharashtra ([POSTCODE])")
	f("Maharashtra — 400001", "Maharashtra — [POSTCODE]")
	f("Karnataka, India 560001", "Karnataka, India [POSTCODE]")
	f("Karnataka, India - 560001", "Karnataka, India - [POSTCODE]")
	f("Tamilnadu 600001", "Tamilnadu [POSTCODE]")
	f("TamilNadu 600 001", "TamilNadu [POSTCODE]")
	f("Bengaluru, KA 560001", "Bengaluru, KA [POSTCODE]")
	f("Noida, UP 201301", "Noida, UP [POSTCODE]")
	// Six figures after other words are any number.
	f("OR 400001 is the total", "OR 400001 is the total")
	f("went up 201301 points", "went up 201301 points")
	f("Team India 560001 fans", "Team India 560001 fans")
}

// A date written with dots or dashes and a leading zero ("03.12.2026")
// is also a valid national phone number in some country, and was hidden
// as one (scoring counted it as one too).
func TestRedactLeavesDottedDatesAlone(t *testing.T) {
	f := redactsTo(t)
	f("on 03.12.2026 we met", "on 03.12.2026 we met")
	f("on 3.12.26 we met", "on 3.12.26 we met")
	f("since 01.05.1990 here", "since 01.05.1990 here")
	f("due 03-12-2026 ok", "due 03-12-2026 ok")
	f("due 09/11/2001 ok", "due 09/11/2001 ok")
	f("born 03.12.1991 in Ohio", "born [DOB] in Ohio")
	// Numbers that are no date are still hidden.
	f("call 03.52.2026 now", "call [PHONE] now")
	f("call 0312 202645 now", "call [PHONE] now")
	f("ruf 030.1234.5678 an", "ruf [PHONE] an")
}

// A bare run of figures after a ticket's or an order's label is its
// number: "#" or "number" after "ticket" or "order" made it a phone.
// A number with separators, or after other labels, is still hidden.
func TestRedactLeavesLabelledTicketAndOrderNumbersAlone(t *testing.T) {
	f := redactsTo(t)
	f("ticket #4815162342 is open", "ticket #4815162342 is open")
	f("ticket # 4815162342 is open", "ticket # 4815162342 is open")
	f("order no. 112233445566 shipped", "order no. 112233445566 shipped")
	f("order number 112233445566 shipped", "order number 112233445566 shipped")
	f("Order #4155550123 shipped", "Order #4155550123 shipped")
	f("tracking number: 4155550123", "tracking number: 4155550123")
	f("Ref. No. 4155550123", "Ref. No. 4155550123")
	f("phone #4155550123", "phone #[PHONE]")
	f("cell # 4155550123", "cell # [PHONE]")
	f("account #4155550123", "account #[PHONE]")
	f("order #415-555-0123 or call", "order #[PHONE] or call")
	f("ticket #48151, call 4155550123", "ticket #48151, call [PHONE]")
	f("supporter number 4155550123", "supporter number [PHONE]")
}

// Two figures of a screen size ("1920 1080") read as a local number.
// Only the pairs in a display's proportions are sizes.
func TestRedactLeavesScreenResolutionsAlone(t *testing.T) {
	unchanged(t,
		"screen 1920 1080 res",
		"screen 1920x1080 res",
		"the 1920 x 1080 monitor",
		"res 1920×1080",
		"old laptop 1366 768 panel",
		"1280 720 is enough",
		"2560 1440 at 144hz",
		"portrait 1080 1920 video",
		"ultrawide 3440 1440 ok",
	)
	f := redactsTo(t)
	f("call 5550 1234 now", "call [PHONE] now")
	f("call 6123 4567 now", "call [PHONE] now")
	f("her number 1920 1081", "her number [PHONE]")
}
