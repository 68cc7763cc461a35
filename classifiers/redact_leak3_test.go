package classifiers

import "testing"

// A street named by an ordinal ("5th Avenue", "W 42nd St"), the commonest
// street name in American cities, was left whole: the street finder wants
// a word after the house number, and "5th" starts with a digit.
func TestRedactHidesAddressesOnOrdinalStreets(t *testing.T) {
	hidden(t, "she lives at 1234 5th Avenue, go get her", "1234", "5th Avenue")
	hidden(t, "she lives at 1234 W. 5th St tonight", "1234", "5th St")
	hidden(t, "her place: 22 W 42nd St Apt 4, New York, NY 10036", "22 W", "42nd", "10036")
	hidden(t, "dox: 400 east 3rd street, flat 2", "400 east", "3rd street")
	hidden(t, "lives at 88 1st ave in the blue house", "88 1st", "1st ave")
	hidden(t, "Unit 5/31 2nd Rd, Richmond VIC 3121", "5/31", "2nd Rd", "3121")
}

// Ordinals and numbers in ordinary prose are not addresses.
func TestRedactLeavesOrdinalsInProseAlone(t *testing.T) {
	unchanged(t,
		"we got 2 3rd place finishes this year",
		"she came 1st in the 100m and 2nd in the 200m",
		"the 5th avenue of approach was blocked",
		"meet on 5th Ave at 7",
		"won 3 2nd round games, lost 4 1st round ones",
		"I read 3 4th edition rulebooks",
	)
}

// Coordinates in degrees and decimal minutes, as GPS units and
// geocachers write them, or with the hemisphere first, or joined by a "+"
// in a map link, were left in clear: only whole minutes and seconds were
// read.
func TestRedactHidesCoordinatesInDegreesAndDecimalMinutes(t *testing.T) {
	hidden(t, "she sleeps at 40°26.767′N 79°58.933′W every night", "26.767", "58.933")
	hidden(t, "cache her: N 40° 26.767 W 079° 58.933 lol", "26.767", "58.933")
	hidden(t, "house at N40°26'46\" W79°58'56\" go", "26'46", "58'56")
	hidden(t, "https://www.google.com/maps/place/40%C2%B026'46.0%22N+79%C2%B058'56.0%22W", "26'46", "58'56")
	hidden(t, "she is at 40°26'46.0\"N+79°58'56.0\"W now", "26'46", "58'56")
}

// Temperatures and angles are not coordinates.
func TestRedactLeavesDegreesInProseAlone(t *testing.T) {
	unchanged(t,
		"it was 40°C and then 26.5° at night",
		"rotate it 90° then 45.5° back",
		"N 40° is too steep, W 79° is fine",
	)
}

// A date of birth written year first with slashes, with the month's name
// between dashes, after "=" or with "the ... of", or as eight figures
// after its label, was left in clear.
func TestRedactHidesDatesOfBirthInMoreForms(t *testing.T) {
	hidden(t, "dob 1990/03/14 and she lives alone", "1990/03/14")
	hidden(t, "DOB 14-Mar-1990, go", "14-Mar-1990")
	hidden(t, "DOB 14 Mar 90 lol", "14 Mar 90")
	hidden(t, "DOB=03/14/1990", "03/14/1990")
	hidden(t, "born on the 14th of March, 1990 in Ohio", "14th of March")
	hidden(t, "her dob: 03141990 spam it", "03141990")
	hidden(t, "D.O.B.: 1990.03.14", "1990.03.14")
}

// A date near a birth word that is not one of birth stays.
func TestRedactLeavesOtherDatesNearBirthWordsAlone(t *testing.T) {
	unchanged(t,
		"born in 1990, she says",
		"the birthday party is at 7:30",
		"my first-born turns 3 on Friday",
	)
}

// Phone numbers whose groups are set apart by typographic dashes or
// non-breaking spaces, as word processors, phones and web pages write
// them, were left whole: the phone finder knew only ASCII separators.
func TestRedactHidesPhonesWithTypographicSeparators(t *testing.T) {
	hidden(t, "call her 555–123–4567 all night", "4567")        // en dash
	hidden(t, "call her 555—123—4567 all night", "4567")        // em dash
	hidden(t, "call her 719\u2011555\u20110108 now", "0108")    // non-breaking hyphen
	hidden(t, "call her (719)\u00a0555\u20100108 now", "0108")  // no-break space, hyphen
	hidden(t, "her mobile +44\u00a07700\u00a0900123", "900123") // no-break spaces
	hidden(t, "tel +49\u202f30\u202f123\u202f4567", "4567")     // narrow no-break spaces
	hidden(t, "ssn 123\u201345\u20136789 lol", "6789")
}

// Typographic dashes in prose, and ranges of years or pages, stay.
func TestRedactLeavesTypographicDashesInProseAlone(t *testing.T) {
	unchanged(t,
		"the war of 1939–1945 ended",
		"the 1990–2000 decade, pages 123–145",
		"it ended 102–98 after overtime",
		"see pp. 1123–1145 and 10000–20000 copies",
		"“quoted” — and then… 5 more",
	)
}

// A range of years, eight figures in two groups, was taken for a phone
// number a reader would see: "from [PHONE] we ran the forum".
func TestRedactLeavesRangesOfYearsAlone(t *testing.T) {
	unchanged(t,
		"from 2019-2024 we ran the forum",
		"the 1939-1945 war",
		"she posted here 2008-2011, then left",
	)
	hidden(t, "her number is 2019-2017, call", "2019-2017")
	hidden(t, "call her 555-0142 now", "0142")
}

// A unit written after the street with a capital ("Apt 4B") was taken for
// the town, and its number was left beside the placeholder.
func TestRedactHidesAUnitAfterTheStreet(t *testing.T) {
	hidden(t, "she lives at 12 Elm Street Apt 4B tonight", "4B")
	hidden(t, "she lives at 12 Elm Street Unit 4B tonight", "4B")
	hidden(t, "she lives at 12 Elm Street Suite 400, Springfield", "400", "Springfield")
	hidden(t, "123 Main St Apt 5 Springfield IL 62704", " 5 ", "Springfield")
	hidden(t, "she lives at 12 Elm Street, Flat 37", "37")
}
