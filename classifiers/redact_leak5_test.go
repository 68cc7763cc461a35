package classifiers

import "testing"

// A number wrapped at the end of a line was read as two runs, neither a
// number: "555-\n0147" stayed in clear, and "(212)\n555 0147" kept its
// area code.
func TestRedactHidesPhonesSplitAcrossALineBreak(t *testing.T) {
	hidden(t, "call her at 555-\n0147 tonight", "555", "0147")
	hidden(t, "her number is 212-555-\n0147", "212", "0147")
	hidden(t, "call (212)\n555 0147 now", "212", "0147")
	hidden(t, "call (212)\r\n555-0147 now", "212", "0147")
	hidden(t, "phone: 212\n555\n0147", "212", "0147")
	hidden(t, "her cell 212.555.\n  0147 spam it", "212", "0147")
}

// Numbers on lines of their own are a list, not one number.
func TestRedactLeavesNumbersOnSeparateLinesAlone(t *testing.T) {
	unchanged(t,
		"1999\n2000\n2001",
		"scores:\n1234\n5678",
		"in stock: 120\n450 sold\n3000 left",
		"Totals\n2024-2025\n2025-2026",
		"order #123\n456\n789",
		"Room numbers: 101-\n102-\n103",
		"between 100 - 200 - 300 people came",
	)
}

// German plates whose first groups are letters only ("B MW 1234") read as
// two words to the plate finder, which wants a figure in its first two
// groups; plates run together past nine characters did not match at all.
func TestRedactHidesGermanAndLongPlates(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("plate B MW 1234 seen", "plate [PLATE] seen")
	f("plate M-AB 123 parked", "plate [PLATE] parked")
	f("plate HH-XY 99E parked", "plate [PLATE] parked")
	f("plate number  B-MW-1234 lol", "plate number  [PLATE] lol")
	f("Kennzeichen: HH-AB 1234, silberner Golf", "Kennzeichen: [PLATE], silberner Golf")
	f("plate ABCD12345678 outside", "plate [PLATE] outside")
	f("his plate is KA01AB1234 lol", "his plate is [PLATE] lol")
	// Words after a keyword are not a plate.
	f("plate IS MY car 12 times", "plate IS MY car 12 times")
	f("tag me on it 1234567890123456 ok", "tag me on it 1234567890123456 ok")
}

// An IPv6 address or prefix ending in "::" lost its last colon to the
// trimming of punctuation, and was then too short to be an address.
func TestRedactHidesIPv6EndingInDoubleColon(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("IP 2001:db8:: leaked", "IP [IP] leaked")
	f("her prefix 2001:db8:85a3::/48 ok", "her prefix [IP]/48 ok")
	f("home net is 2a02:8108:1ac0::.", "home net is [IP].")
	// Code is not an address.
	f("use std::vector and Foo::Bar::", "use std::vector and Foo::Bar::")
}

// An Indian PIN code has six figures: the address tail read five of them
// as a ZIP code and left the sixth beside the placeholder; a PIN after its
// word or a state was not read at all.
func TestRedactHidesIndianAddressesAndPINCodes(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("Flat 4B, 12 MG Road, Bengaluru 560001", "[ADDRESS]")
	f("she lives at 12 MG Road, Bengaluru 560 001.", "she lives at [ADDRESS].")
	f("PIN 560001 is hers", "PIN [POSTCODE] is hers")
	f("pincode: 400 050", "pincode: [POSTCODE]")
	f("221, Sector 15, Gurgaon, Haryana 122001", "[ADDRESS], Haryana [POSTCODE]")
	f("house 12, Bandra West, Mumbai - 400050", "house 12, Bandra West, Mumbai - [POSTCODE]")
	// Six figures elsewhere are any number.
	f("we raised 560001 rupees", "we raised 560001 rupees")
	f("Order 123456 shipped", "Order 123456 shipped")
}

// An ISBN after its word, with a valid check digit, is a book, not a
// phone number.
func TestRedactLeavesISBNsAlone(t *testing.T) {
	unchanged(t,
		"ISBN 978-3-16-148410-0 is the book",
		"ISBN: 0-306-40615-2",
		"ISBN-13: 978 0 306 40615 7, ISBN-10 0-8044-2957-X",
	)
	// A number after the word with a wrong check digit is still hidden.
	hidden(t, "ISBN 212-555-0147 call it", "555-0147")
}

// Zero-width characters, digits of other scripts, keycap emoji and
// mathematical digits inside a number or an address hid it from finders
// that read ASCII.
func TestRedactHidesValuesWithInvisibleCharactersOrOtherDigits(t *testing.T) {
	hidden(t, "call 555\u200b0147 or 212\u200b555\u200b0147", "0147", "555")
	hidden(t, "her cell is 2\u200c1\u200d2-5\u20605\u20605-0\ufeff1\u00ad4\u200b7", "2\u200c1", "4\u200b7")
	hidden(t, "mail jane\u200b@example.com now", "jane", "example")
	hidden(t, "mail ja\u200bne@exa\u200bmple.com", "ja", "mple")
	hidden(t, "call ٢١٢٥٥٥٠١٤٧ now", "٢١٢", "٠١٤٧")
	hidden(t, "call ۲۱۲-۵۵۵-۰۱۴۷ now", "۲۱۲", "۰۱۴۷")
	hidden(t, "call २१२-५५५-०१४७ now", "२१२", "०१४७")
	hidden(t, "call 1\ufe0f\u20e32\ufe0f\u20e32\ufe0f\u20e3-5\ufe0f\u20e35\ufe0f\u20e35\ufe0f\u20e3-0\ufe0f\u20e31\ufe0f\u20e34\ufe0f\u20e37\ufe0f\u20e3 x", "4\ufe0f\u20e37")
	hidden(t, "call 𝟐𝟏𝟐-𝟓𝟓𝟓-𝟎𝟏𝟒𝟕 now", "𝟓𝟓𝟓", "𝟎𝟏𝟒𝟕")
	hidden(t, "she lives at ١٥ Millrace Ln", "١٥", "Millrace")
}

// Markdown and HTML written around the groups of a value, as pasted from
// a page or typed to break it up, hid it.
func TestRedactHidesValuesBrokenUpByMarkupOrEntities(t *testing.T) {
	hidden(t, "**212**-**555**-**0147**", "212", "0147")
	hidden(t, "call 212\\-555\\-0147", "212", "0147")
	hidden(t, "call `212`-`555`-`0147`", "212", "0147")
	hidden(t, "<b>212</b>-555-0147", "212", "0147")
	hidden(t, "<td>212</td><td>-555-</td><td>0147</td>", "212", "0147")
	hidden(t, "mail jane&#64;example.com", "jane", "example")
	hidden(t, "mail j&#97;ne@example.com", "j&#97;", "ne@")
	hidden(t, "mail jane&commat;example&period;com", "jane", "example")
	hidden(t, "call&nbsp;212&nbsp;555&nbsp;0147", "212", "0147")
	hidden(t, "call &#50;&#49;&#50;-555-0147", "&#50;", "0147")
	hidden(t, `<a href="mailto:jane&#64;example&#46;com">mail</a>`, "jane", "example")
	hidden(t, "call __212__-555-0147", "212", "0147")
}

// An area code in square brackets, and groups set apart by spaced dashes,
// were left beside the number or kept it whole.
func TestRedactHidesBracketedAreaCodesAndSpacedDashes(t *testing.T) {
	hidden(t, "call [212] 555 0147", "212")
	hidden(t, "call 212 - 555 - 0147 now", "212", "0147")
}

// Markup, entities and other scripts' digits around ordinary words and
// numbers are left alone.
func TestRedactLeavesMarkupAndOtherDigitsInProseAlone(t *testing.T) {
	unchanged(t,
		"**2024** was a good year and `v1.2.3` shipped",
		"<b>12</b> people came, 3 &amp; 4 left",
		"the score was ٣ - ٢ in the final",
		"👨\u200d👩\u200d👧 family of 3 ❤\ufe0f",
		"pages 10 - 20 of the report",
		"a 5\u200b% rise",
	)
}

// An address with a real "@" and its dots written out or set apart by
// spaces was read as an address without a domain, and left in clear.
func TestRedactHidesEmailsWithAnAtAndSpelledDots(t *testing.T) {
	hidden(t, "mail jane@gmail dot com now", "jane", "gmail")
	hidden(t, "mail jane @ gmail . com now", "jane", "gmail")
	hidden(t, "jane.doe@outlook dot co dot uk", "jane", "outlook")
	hidden(t, "her mail: jane_1990 @ yahoo .com", "jane", "yahoo")
	unchanged(t,
		"see you @ the park. Com on",
		"@jane dot matrix printers",
	)
}

// Numbers said in pairs, with "double" or "triple", or in hundreds were
// read word by word: "fifty" and "double" ended the run, and what was
// left was too short for a number.
func TestRedactHidesPhonesSpelledInPairsAndRepeats(t *testing.T) {
	hidden(t, "call two one two, five fifty five, oh one four seven", "fifty five", "four seven")
	hidden(t, "ring oh seven seven double oh, nine hundred, one two three", "double oh", "nine hundred")
	hidden(t, "her number is triple five oh one four seven", "triple five", "four seven")
	hidden(t, "call twelve thirty four fifty six seventy eight", "thirty four", "seventy eight")
	unchanged(t,
		"twenty one pilots and seven nation army",
		"in nineteen ninety nine we had two kids",
		"I double checked, one hundred percent",
		"it took twenty five minutes and thirty seconds",
	)
}

// An IPv4 address written with leading zeros ("203.0.113.045") is not one
// to the address parser: its first groups were read as a phone number and
// the last left in clear.
func TestRedactHidesIPv4WithLeadingZeros(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("her ip is 203.0.113.045 lol", "her ip is [IP] lol")
	f("router 192.168.001.010.", "router [IP].")
	f("not 1.2.3.456 nor 300.01.2.3", "not 1.2.3.456 nor 300.01.2.3")
}

// A letter O for a zero or an l or I for a one inside a number ("555-O147",
// "2l2") hid it from the phone finder.
func TestRedactHidesPhonesWithLettersForFigures(t *testing.T) {
	hidden(t, "call 212-555-O147 now", "212", "O147")
	hidden(t, "call 2l2-555-0l47 now", "2l2", "0l47")
	hidden(t, "call 2I2 555 Ol47 now", "2I2", "l47")
	unchanged(t, "Room 1O1 is booked, lol", "model X1O and R2D2", "I lol'd at 10 Ohio jokes")
}

// Markup around a value stays beside its placeholder.
func TestRedactKeepsMarkupAroundAValueHidden(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("DOB **07/30/1993** lol", "DOB **[DOB]** lol")
	f("call **212**-**555**-**0147** now", "call **[PHONE]** now")
}

// A decimal number right before a phone number ("3.50 719-555-0108") made
// one run with it that is no number; the whole run was then skipped, and
// the phone number in it left in clear.
func TestRedactHidesAPhoneAfterADecimalNumber(t *testing.T) {
	hidden(t, "it costs 3.50 719-555-0108 call", "555-0108")
	hidden(t, "rated 4.5 (719) 555-0108 lol", "555-0108")
	hidden(t, "x 0.0 +1 719 555 0108 y", "555 0108")
	unchanged(t, "pi is 3.14159 2653589 and so on", "v1.2 2024 release")
}

// A fraction or score right before or after a number ("719-555-0108
// 24/7") made one run with it that does not read as a number with
// slashes, and the whole run, the number with it, was skipped.
func TestRedactHidesAPhoneBeforeAFraction(t *testing.T) {
	hidden(t, "call her 719-555-0108 24/7", "555-0108")
	hidden(t, "ring +1 (719) 555-0108 5/5 would prank", "555-0108")
	hidden(t, "rated 5/5 719-555-0108 lol", "555-0108")
	unchanged(t, "scored 3 24/7 and 1/2")
}
