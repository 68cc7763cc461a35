package classifiers

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// hidden checks that Redact(in) and the evidence snippets of in scored as
// a post hold none of leaks.
func hidden(t *testing.T, in string, leaks ...string) {
	t.Helper()
	got := Redact(in)
	for _, l := range leaks {
		if strings.Contains(got, l) {
			t.Errorf("Redact(%q) = %q still holds %q", in, got, l)
		}
	}
	s, err := leakClassifier(t).Score(context.Background(), &msg.Post{ID: "p", Text: in})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.Evidence {
		for _, l := range leaks {
			if strings.Contains(e.Snippet, l) {
				t.Errorf("%q: %s snippet %q holds %q", in, e.Kind, e.Snippet, l)
			}
		}
	}
}

var (
	leakOnce sync.Once
	leakC    *Classifier
	leakErr  error
)

func leakClassifier(t *testing.T) *Classifier {
	leakOnce.Do(func() { leakC, leakErr = New(testConfig()) })
	if leakErr != nil {
		t.Fatal(leakErr)
	}
	return leakC
}

// "date of birth", the phrase forms ask for, was never read: its trigger
// started the search at "birth".
func TestRedactHidesADateOfBirthAfterItsPhrase(t *testing.T) {
	hidden(t, "her date of birth: 07/30/1993, dox her", "07/30/1993")
	hidden(t, "Date of Birth 1993-07-30 lives in Ohio", "1993-07-30")
	hidden(t, "her date of birth is July 30, 1993", "July 30")
	hidden(t, "birth date 30.07.1993 go get her", "30.07.1993")
}

// Triggers of different words were searched in the order of the words,
// not of the text: a later word's match hid the earlier ones.
func TestRedactHidesEveryDateAndPlateWhicheverWordIntroducesIt(t *testing.T) {
	hidden(t, "born 03/04/1991, and her sister's dob 05/06/1994", "03/04/1991", "05/06/1994")
	hidden(t, "tag 7ABC123 on the civic, plate 8XYZ441 on the truck", "7ABC123", "8XYZ441")
}

// A number with its extension run on ("x22") was left whole, and a
// WhatsApp link holds the number without a plus after a slash.
func TestRedactHidesPhonesWithAnExtensionOrInAWhatsAppLink(t *testing.T) {
	hidden(t, "call her at 719-555-0108x22 all night", "555-0108")
	hidden(t, "her office (719) 555-0108x22, spam it", "555-0108")
	hidden(t, "her number 07700 900123x4 flood it", "900123")
	hidden(t, "ring her on 719-555-0108ext22", "555-0108")
	hidden(t, "message her https://wa.me/447700900123 lol", "447700900123")
	hidden(t, "her whatsapp: wa.me/17195550108", "7195550108")
}

// Defanged addresses, as in threat-intel pastes: "[.]", "[@]".
func TestRedactHidesDefangedEmails(t *testing.T) {
	hidden(t, "email: jane.roe[at]example[.]com spam it", "jane.roe", "example")
	hidden(t, "her mail jane.roe [@] example [.] com", "jane.roe", "example")
	hidden(t, "jane.roe(at)example(.)co(.)uk is her inbox", "jane.roe", "example")
	hidden(t, "reach her at jane.roe at example [.] com", "jane.roe", "example")
}

// An SSN after its label, written without separators; an IPv4 address
// with its port.
func TestRedactHidesBareSSNsAndAddressesWithPorts(t *testing.T) {
	hidden(t, "her ssn 123456789 and dob 07/30/1993", "123456789")
	hidden(t, "SSN: 123456789", "123456789")
	hidden(t, "her IP: 203.0.113.45:22 go", "203.0.113", ".45")
}

// Post-office boxes and rural routes, with their town.
func TestRedactHidesPOBoxesAndRuralRoutes(t *testing.T) {
	hidden(t, "send it to PO Box 4471, Pruitt Hollow, OH 45371 lol", "4471", "Pruitt Hollow")
	hidden(t, "mail: P.O. Box 88, Millbrook", "Box 88", "Millbrook")
	hidden(t, "Address: RR 2 Box 152, Millbrook, KS 67460", "Box 152", "Millbrook")
	hidden(t, "her mailbox is post office box 9013", "9013")
}

// Numbers spelled out in words, or partly.
func TestRedactHidesNumbersSpelledOut(t *testing.T) {
	hidden(t, "text her five five five zero one zero eight lol", "five five five zero one zero eight")
	hidden(t, "her number: seven one nine, five five five, oh one oh eight", "oh one oh eight", "seven one nine")
	hidden(t, "call Seven-One-Nine 555 0108 now", "Seven-One-Nine", "0108")
}

// Coordinates with their labels or hemispheres between the figures.
func TestRedactHidesLabelledCoordinates(t *testing.T) {
	hidden(t, "she sleeps at lat 45.52345 lon -122.67621 lol", "52345", "67621")
	hidden(t, "https://www.openstreetmap.org/?mlat=45.52345&mlon=-122.67621#map=19", "52345", "67621")
	hidden(t, "45.52345N 122.67621W is where she sleeps", "52345", "67621")
	hidden(t, "coords: 45.52345, lng: -122.67621", "52345", "67621")
}

// A map link joins the words of an address with "+": its town, state and
// ZIP were left after the street.
func TestRedactHidesTheTownOfAnAddressInAMapLink(t *testing.T) {
	hidden(t, "https://www.google.com/maps/place/15+Millrace+Ln,+Pruitt+Hollow,+OH+45371/@39.1,-84.2,17z", "Pruitt", "45371")
	hidden(t, "her house https://maps.google.com/?q=15+Millrace+Ln+Pruitt+Hollow+OH", "Pruitt")
}

// Addresses written all in lower case were not read at all.
func TestRedactHidesLowerCaseAddresses(t *testing.T) {
	hidden(t, "his home is 123 main st apt 5 in springfield", "123 main st")
	hidden(t, "his house: 55 elm street, dayton ohio, go", "55 elm street")
	hidden(t, "lives at 221b baker street london with her mum", "221b baker")
	hidden(t, "address 1600 pennsylvania ave nw washington", "1600 pennsylvania")
	hidden(t, "she's at 742 evergreen terrace every night", "742 evergreen")
	hidden(t, "dox: 88 larkspur avenue, tulsa", "88 larkspur")
}

// Numbers next to ordinary words for roads, boxes and counting are not
// personal data.
func TestRedactLeavesRoadTalkBoxesAndCountingAlone(t *testing.T) {
	for _, in := range []string{
		"one two three, go! four five six",
		"she is one of the two or three best",
		"I ordered 2 boxes and box 3 was empty",
		"we drove 2 hours down the road",
		"it was a 20 minute drive",
		"I ran 5 miles on the trail",
		"meet me at 5 on main st",
		"got 3 new tires on the drive",
		"a 2 lane road through the hills",
		"it is a 10 min walk from the station",
		"there are 4 houses on our street",
		"he has 2 kids and a dog, street smart",
		"took 3 wrong turns on the highway",
	} {
		if got := Redact(in); got != in {
			t.Errorf("Redact(%q) = %q, want it unchanged", in, got)
		}
	}
}

// FuzzRedactHidesDoxxersForms: details written in the forms doxxers use
// (lower case, defanged, with an extension or a port, in a link) set in any
// text never survive Redact, nor show in a snippet of the scored post.
func FuzzRedactHidesDoxxersForms(f *testing.F) {
	f.Add("she lives at", "go there tonight", uint8(0))
	f.Add("call her", "and tell her we know", uint8(1))
	f.Add("her email is", "flood it", uint8(2))
	f.Add("ip", "ddos it", uint8(3))
	f.Add("whatsapp", "spam her", uint8(4))
	f.Add("ssn", "dob 07/30/1993", uint8(5))
	f.Add("12", "34", uint8(6))
	c, err := New(testConfig())
	if err != nil {
		f.Fatal(err)
	}
	values := []string{
		"123 main st", "719-555-0108x22", "jane.roe[at]example[.]com", "203.0.113.45:22",
		"wa.me/447700900123", "SSN 123456789", "55 larkspur avenue", "jane.roe [@] example [.] com",
	}
	secret := []string{"123 main", "555-0108", "jane.roe", "203.0.113", "447700900123", "123456789", "55 larkspur", "jane.roe"}
	f.Fuzz(func(t *testing.T, before, after string, which uint8) {
		k := int(which) % len(values)
		text := before + " " + values[k] + " " + after
		if out := Redact(text); strings.Contains(out, secret[k]) {
			t.Fatalf("%q survived: %q", secret[k], out)
		}
		s, err := c.Score(context.Background(), &msg.Post{ID: "f", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range s.Evidence {
			if strings.Contains(e.Snippet, secret[k]) {
				t.Fatalf("snippet %q shows %q", e.Snippet, secret[k])
			}
		}
	})
}
