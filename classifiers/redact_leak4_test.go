package classifiers

import "testing"

// An apostrophe or a non-ASCII letter in the local part of an e-mail
// address stopped the finder, and the part before it, often the person's
// name, stayed beside the placeholder: "jane.o'[EMAIL]".
func TestRedactHidesEmailsWithApostrophesOrAccentedLetters(t *testing.T) {
	hidden(t, "mail her at jane.o'brien@example.com tonight", "jane", "o'")
	hidden(t, "josé.garcía@example.com is her mail", "josé", "garcí")
	hidden(t, "write to ana.müller@example.de now", "ana", "müller")
	hidden(t, "mail her: sean.o’neill@example.ie", "sean", "o’")
	hidden(t, "her address (d'arcy.lee@example.com) leaked", "(d'")
	hidden(t, "mail jose@münchen.de or jose@exämple.com", "jose", "nchen", "mple")
}

// Quotes around an address, and an apostrophe in the words before it, are
// not part of it.
func TestRedactKeepsQuotesAroundEmails(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("it's 'jane@example.com' she said", "it's '[EMAIL]' she said")
	f("she’s «josé@example.com» now", "she’s «[EMAIL]» now")
	f("l'adresse:jane@example.com", "l'adresse:[EMAIL]")
	f("café owner's email is bob@example.com.", "café owner's email is [EMAIL].")
}

// UK and Canadian postcodes typed in lower case or without the space were
// left in clear: only capitals with the space were read.
func TestRedactHidesPostcodesInLowerCaseOrWithoutTheSpace(t *testing.T) {
	hidden(t, "her postcode is sw1a 1aa, go", "sw1a", "1aa")
	hidden(t, "she moved to SW1A1AA last week", "SW1A1AA")
	hidden(t, "k1a 0b1 is where she lives", "k1a", "0b1")
	hidden(t, "office at m5h 2n2 downtown", "m5h", "2n2")
	hidden(t, "postcode: ls14ap", "ls14ap")
	hidden(t, "zip k1a0b1 lol", "k1a0b1")
}

// Words and numbers of the same shape in prose stay: products, ordinals,
// sizes, and a lower-case run without the space and without a postcode
// word before it.
func TestRedactLeavesPostcodeShapedProseAlone(t *testing.T) {
	unchanged(t,
		"got a ps5 2tb for christmas",
		"we came cs2 3rd in the league",
		"the mp3 2nd track is better",
		"my password was a1b2c3 lol",
		"the b12 vitamin and a4 paper",
		"an A320 and a B737 landed",
		"rated x1 2hz on the display",
		"W3'r3 g0nna k1ll th3m 4ll wh3n th3 t1m3 c0m3s",
	)
}

// A lower-case address kept its town and postcode ("[ADDRESS] leeds ls1
// 4ap"), or was left whole when its suffix is one the street finder reads
// in capitals only ("42 wallaby way sydney nsw 2000").
func TestRedactHidesLowerCaseAddressesWithTheirTownAndPostcode(t *testing.T) {
	hidden(t, "12 oak rd leeds ls1 4ap", "leeds", "ls1", "4ap")
	hidden(t, "42 wallaby way sydney nsw 2000", "42", "wallaby", "sydney", "2000")
	hidden(t, "she's at 7 elm close, york yo1 7hh tonight", "elm", "york", "yo1")
	hidden(t, "dox: 55 maple grove springfield il 62704", "maple", "springfield", "62704")
	hidden(t, "100 queen st, toronto on m5h 2n2", "toronto", "m5h")
}

// Numbers, roads and towns in prose are not addresses, even before a
// state and a ZIP code.
func TestRedactLeavesLowerCaseRoadsInProseAlone(t *testing.T) {
	unchanged(t,
		"we drove 5 hours down the road to austin tx 78701",
		"2 people walk the dog way more than needed",
		"back in 2019 we had 3 way calls in nsw 2000 times",
		"a 12 lane road in sydney",
	)
}

// A full stop after an abbreviated suffix, or a direction after the
// street, stopped the address there, and the town, state and postcode
// after it stayed in clear.
func TestRedactHidesTheTownAfterAStopOrADirection(t *testing.T) {
	hidden(t, "she lives at 1234 Elm St., Springfield", "Springfield")
	hidden(t, "1234 Elm St., Springfield, IL 62704 go", "Springfield", "IL")
	hidden(t, "office: 100 Queen St W, Toronto", "Toronto")
	hidden(t, "100 Queen St. W., Toronto ON M5H 2N2", "Toronto", " W")
	hidden(t, "she is at 12 Main Street North, Springfield now", "North", "Springfield")
	hidden(t, "100 Queen St NW, Washington DC", "Washington")
}

// A sentence that ends on an address keeps the next one.
func TestRedactKeepsTheSentenceAfterAnAddress(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("she lives at 1234 Elm St. The cops know.", "she lives at [ADDRESS]. The cops know.")
	f("she lives at 1234 Elm St. Springfield is nice.", "she lives at [ADDRESS]. Springfield is nice.")
	f("meet at 12 Elm St, we go west after", "meet at [ADDRESS], we go west after")
}

// A plate of three or four groups lost only its first two: "[PLATE] AB
// 1234", "[PLATE]-CD".
func TestRedactHidesPlatesOfSeveralGroups(t *testing.T) {
	hidden(t, "her plate KA 01 AB 1234 spotted", "AB 1234", "KA 01")
	hidden(t, "plate number is AB-123-CD", "-CD", "AB-")
	hidden(t, "her tag is 7-ABC-123 lol", "-123", "7-")
	hidden(t, "licence plate KA-01-AB-1234 again", "AB-1234")
}

// What follows a plate stays when it does not read as more of it.
func TestRedactKeepsWordsAfterAPlate(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("plate AB-123 ON Friday", "plate [PLATE] ON Friday")
	f("plate ABC 1234 IS hers", "plate [PLATE] IS hers")
	f("plate ABC-1234 - no idea", "plate [PLATE] - no idea")
}

// The zone after an IPv6 address ("%eth0") was left beside the
// placeholder, and defanged IPv4 addresses, as threat-intel pastes write
// them, were left whole.
func TestRedactHidesIPv6ZonesAndDefangedIPv4(t *testing.T) {
	hidden(t, "her box is fe80::1%eth0 lol", "eth0", "fe80")
	hidden(t, "http://[fe80::1%25wlan0]/ open", "wlan0")
	hidden(t, "ip 2001:db8::1 and 2001:db8::8a2e:370:7334", "db8")
	hidden(t, "her ip 192[.]0[.]2[.]1 ddos it", "192", "[.]2[.]1")
	hidden(t, "hxxp://198(.)51(.)100(.)7/cam", "198", "100")
	hidden(t, "ip: 203[dot]0[dot]113[dot]9", "203", "113")
	hidden(t, "her ip 192.0.2[.]1 ok", "192", "[.]1")
}

// Times, scores, versions, footnotes and ISBNs stay as they were.
func TestRedactLeavesIPShapedProseAlone(t *testing.T) {
	unchanged(t,
		"it is 12:30 now, score 3:1",
		"see note [1] and 1[.]2 in the spec",
		"version 1[.]2[.]3 is out",
		"1[.]2[.]3[.]999 is not an address",
		"a 10% raise (50%) for 2 people",
		// An ISBN after its word, with a right check digit, is a book.
		"ISBN 978-3-16-148410-0",
		"ISBN 0 306 40615 2",
	)
	for in, want := range map[string]string{
		"version 1.2.3.4": "version [IP]",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q as before", in, got, want)
		}
	}
}

// A street whose name holds a suffix ("Willow Bend Ct") ended the address
// at the inner suffix; the real one was then read as the town, and the
// town after it stayed in clear.
func TestRedactHidesTheTownAfterAStreetWhoseNameHoldsASuffix(t *testing.T) {
	hidden(t, "Addy: 930 Willow Bend Ct, Oak Harbor WA 98277 | Phone", "Oak Harbor", "98277")
}
