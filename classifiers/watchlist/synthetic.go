package watchlist

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Synthetic makes n fictional persons with every kind of detail, for
// benchmarks (`threatwatch bench watchlist` and the package's own): common
// first names, so that posts often pass the word prefilter as real names
// would; two addresses, two phones (in the 555 range) and two relatives
// each, and one of every other kind. The same n and seed give the same
// persons.
func Synthetic(n int, seed uint64) *File {
	r := rand.New(rand.NewPCG(seed, seed+1))
	first := []string{"James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Sarah",
		"Chris", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Emily", "Paul", "Anna",
		"Steven", "Laura", "Andrew", "Kim", "Josh", "Amy", "Kevin", "Ruth", "Brian", "Olivia", "Ines", "Clara", "Marco"}
	last := make([]string, 400)
	syl := []string{"son", "ber", "ley", "mar", "tin", "dal", "gaard", "ro", "wick", "ston", "ford", "vel", "ka", "ri", "no"}
	for i := range last {
		last[i] = strings.ToUpper(syl[i%15][:1]) + syl[i%15][1:] + syl[(i/15)%15] + syl[(i/7)%15]
	}
	streets := []string{"Main", "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Juniper", "Aspen"}
	types := []string{"Street", "Avenue", "Road", "Lane", "Drive", "Court"}
	f := &File{Region: "US"}
	for i := 0; i < n; i++ {
		fn, ln := first[r.IntN(len(first))], last[r.IntN(len(last))]
		p := Person{
			ID:          fmt.Sprintf("wl-%05d", i),
			Names:       StringList{fn + " " + ln},
			Handles:     StringList{fmt.Sprintf("@%s_%s%d", strings.ToLower(fn), strings.ToLower(ln[:3]), r.IntN(1000))},
			Aliases:     StringList{fmt.Sprintf("%s%d", ln, r.IntN(100))},
			FormerNames: StringList{fn + " " + last[r.IntN(len(last))]},
			Emails:      StringList{fmt.Sprintf("%s.%s%d@gmail.com", strings.ToLower(fn), strings.ToLower(ln), i)},
			Plates:      StringList{fmt.Sprintf("%c%c%c-%04d", 'A'+r.IntN(26), 'A'+r.IntN(26), 'A'+r.IntN(26), r.IntN(10000))},
			Relatives:   StringList{first[r.IntN(len(first))] + " " + ln, first[r.IntN(len(first))] + " " + ln},
			Workplace:   StringList{fmt.Sprintf("%s %s Logistics", last[r.IntN(len(last))], streets[r.IntN(len(streets))])},
		}
		for k := 0; k < 2; k++ {
			p.Addresses = append(p.Addresses, fmt.Sprintf("%d %s %s, Apt %d", 1+r.IntN(9999), streets[r.IntN(len(streets))], types[r.IntN(len(types))], 1+r.IntN(40)))
			p.Phones = append(p.Phones, fmt.Sprintf("(555) %03d-%04d", r.IntN(1000), r.IntN(10000)))
		}
		f.Persons = append(f.Persons, p)
	}
	return f
}

// WithDoxes copies posts, adding to one post in every `every` (index i
// with i%every == 7%every) a sentence that gives a listed person's name,
// address, phone, plate and email the way a dox would write them: other
// case, other separators, abbreviations. Without such posts a benchmark would never see the
// matcher leave its fast path.
func WithDoxes(f *File, posts []*msg.Post, every int) []*msg.Post {
	out := make([]*msg.Post, len(posts))
	for i, p := range posts {
		q := *p
		if every > 0 && len(f.Persons) > 0 && i%every == 7%every {
			pe := &f.Persons[(i*37)%len(f.Persons)]
			addr := strings.NewReplacer("Street", "st.", "Avenue", "ave", "Road", "rd", ", Apt", " apartment").Replace(pe.Addresses[0])
			phone := strings.NewReplacer("(", "", ")", "", "-", ".", " ", ".").Replace(pe.Phones[1])
			plate := strings.ReplaceAll(strings.ToLower(pe.Plates[0]), "-", " ")
			q.Text = fmt.Sprintf("%s %s lives at %s, call %s, her car is %s and her mail is %s.", p.Text,
				strings.ToLower(pe.Names[0]), addr, phone, plate, strings.ToUpper(pe.Emails[0]))
		}
		out[i] = &q
	}
	return out
}
