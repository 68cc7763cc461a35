package classifiers

import (
	"slices"
	"testing"
)

// quickScanSeeds are texts the quick scans of findIndianLocalities,
// findSpacedIPv4 and findDisguises must read as the plain ones do: the
// cases of the rules they serve, with their edges (a capital or a figure
// right after a letter or a figure, runs next to each other, the ends of
// the text).
var quickScanSeeds = []string{
	"", "N", "Nagar", "12 Lajpat Nagar, New Delhi", "B-12, Lajpat Nagar II, New Delhi 110024",
	"she lives at 21 Nehru Marg, Jaipur.", "flat 302, Shanti Colony, Indore", "House No. 45, Sector 12, Gurgaon",
	"C-45, Sector 62, Noida 201301", "Sector 62, NoidaSector 7", "xNagar Gandhi Nagar", "5Nagar Gandhi NAGAR",
	"Gandhi Nagar-IV Phase 2 Sector-15A Sector 9B", "The Colony; Plymouth Colony, Boston", "Dear Marg, Mr Nagar",
	"é Gandhi Nagar", "Gandhi Nagar\u200bII", "Sector 62Noida", "xSector 62, Noida", "flat 5,5Sector 12, Noida",
	"her ip is 192 . 168 . 1 . 20 lol", "home: 203. 0. 113. 45", "router 10 .0 .0 .7 lol", "ip 192,168,1,20",
	"logged in from 73,45,120,8 again", "her IP: 10, 0, 0, 7", "ip address 203 0 113 45 leaked",
	"scores were 10,20,30,40", "grades 85,92,100,78", "steps 1. 2. 3. 4. done", "1,000,000,000 views",
	"budget $1,100,200,150 spent", "picks 5,10,192,168,1,20 ok", "a tip 192, 168, 1, 20",
	"ip 1,2,3,4 5,6,7,8", "ip 192 . 168 . 1 . 20 . 5", "home: 203. 10. 113. 45. 7 then 1x", "ip 1 2 3 4x 9 8 7 6", "ip 0192,168,1,20 1923,1,2,3 300,1,2,3 192,168,1,20",
	"ip 192.168.1.20.5 192 168 1", "vpn 10,0,0,7,", "gateway\t10\t.\t0\t.\t0\t.\t7", "1 2 3 4 5 ip 6 7 8 9",
	"call 2one2-555-0147 now", "her cell is two12 555 0147", "TWO12.555.0147 is hers", "dial 212-five55-0147",
	"555-O147 and 2l2", "one2one someone2 4oh4 oh4", "room 2one2 on floor 3",
}

// TestQuickScansReadWhatPlainScansRead: the finders that skip to the
// capitals, to the runs of figures and past words without a figure find
// exactly what the plain scans of every byte and every word find.
func TestQuickScansReadWhatPlainScansRead(t *testing.T) {
	texts := slices.Clone(quickScanSeeds)
	for _, p := range SamplePosts(500, 20, 7) {
		texts = append(texts, p.Text)
	}
	for _, text := range texts {
		checkQuickScans(t, text)
	}
}

// FuzzQuickScansReadWhatPlainScansRead is
// TestQuickScansReadWhatPlainScansRead on any text.
func FuzzQuickScansReadWhatPlainScansRead(f *testing.F) {
	for _, s := range quickScanSeeds {
		f.Add(s)
	}
	f.Fuzz(checkQuickScans)
}

func checkQuickScans(t *testing.T, text string) {
	t.Helper()
	if got, want := findIndianLocalities(text, nil), plainFindIndianLocalities(text, nil); !slices.Equal(got, want) {
		t.Errorf("findIndianLocalities(%q) = %v, the plain scan finds %v", text, got, want)
	}
	phones, _ := findPhonesWith(text, nil, -1, redactablePhone, true)
	if got, want := findSpacedIPv4(text, digitRunStarts(text), slices.Clone(phones)), plainFindSpacedIPv4(text, slices.Clone(phones)); !slices.Equal(got, want) {
		t.Errorf("findSpacedIPv4(%q) = %v, the plain scan finds %v", text, got, want)
	}
	// findDisguises passes over the words without a figure: in none of
	// them are letters written for figures or figures spelled.
	for i := 0; i < len(text); {
		if !isAlnum(text[i]) {
			i++
			continue
		}
		e := i
		for e < len(text) && isAlnum(text[e]) {
			e++
		}
		if w := text[i:e]; !hasDigit(w) && (lettersForFigures(w) || len(appendSpelledFigures(nil, text, i, e)) > 0) {
			t.Errorf("%q has a disguise in %q, a word without a figure", text, w)
		}
		i = e
	}
}

// TestNextCapitalFindsTheFirstCapital puts each byte value at each place
// of a text of any other bytes that are no capitals: what nextCapital
// reads eight bytes at a time, no neighbour may hide or fake.
func TestNextCapitalFindsTheFirstCapital(t *testing.T) {
	buf := make([]byte, 19)
	for fill := 0; fill < 256; fill++ {
		if 'A' <= fill && fill <= 'Z' {
			continue
		}
		for b := 0; b < 256; b++ {
			for at := range buf {
				for k := range buf {
					buf[k] = byte(fill)
				}
				buf[at] = byte(b)
				want := len(buf)
				if 'A' <= b && b <= 'Z' {
					want = at
				}
				for from := 0; from <= at; from += 3 {
					if got := nextCapital(string(buf), from); got != want {
						t.Fatalf("nextCapital(%q, %d) = %d, want %d", buf, from, got, want)
					}
				}
			}
		}
	}
}

// plainLocalityWords are the words indianLocalityWord takes, and
// whether they are English words too.
var plainLocalityWords = map[string]bool{
	"nagar": false, "marg": false, "vihar": false, "puram": false, "bagh": false, "chowk": false, "gali": false,
	"salai": false, "peth": false, "colony": true, "layout": true, "enclave": true,
}

// plainFindIndianLocalities is findIndianLocalities as it read every word.
func plainFindIndianLocalities(text string, out []pii) []pii {
	var w [8]byte
	for i := 0; i < len(text); {
		if !isLetter(text[i]) {
			i++
			continue
		}
		e := i
		for e < len(text) && isAlnum(text[e]) {
			e++
		}
		if i > 0 && isAlnum(text[i-1]) || text[i] < 'A' || text[i] > 'Z' || e-i < 4 || e-i > 7 {
			i = e
			continue
		}
		lw := lowerInto(w[:0], text[i:e])
		english, locality := plainLocalityWords[string(lw)]
		sector := string(lw) == "sector"
		if !locality && !sector {
			i = e
			continue
		}
		start, end := i, e
		if sector {
			m := reSector.FindStringIndex(text[i:])
			if m == nil {
				i = e
				continue
			}
			end = i + m[1]
		} else {
			start = localityNameStart(text, i)
			if start == i {
				i = e
				continue
			}
			end += reLocalityAfter.FindStringIndex(text[end:])[1]
		}
		if m := reIndianHouseBefore.FindStringSubmatchIndex(text[max(0, start-40):start]); m != nil {
			out = append(out, pii{KindStreetAddress, max(0, start-40) + m[2], extendAddress(text, end)})
		} else if !(sector || english) || rePlaceAfter.MatchString(text[end:]) {
			out = append(out, pii{KindStreetName, start, end})
		}
		i = end
	}
	return out
}

// plainFindSpacedIPv4 is findSpacedIPv4 as it looked at every byte.
func plainFindSpacedIPv4(text string, out []pii) []pii {
	n := len(out)
	sepEnd := func(j int) (int, byte, bool) {
		k, c, space := j, byte(' '), false
		for k < len(text) && (text[k] == ' ' || text[k] == '\t') {
			k, space = k+1, true
		}
		if k < len(text) && (text[k] == '.' || text[k] == ',') {
			c = text[k]
			k++
			for k < len(text) && (text[k] == ' ' || text[k] == '\t') {
				k, space = k+1, true
			}
		}
		return k, c, space
	}
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) || i > 0 && (isAlnum(text[i-1]) || text[i-1] == '.' || text[i-1] == ',') {
			continue
		}
		// A run of figures before, set apart the same way: a list.
		b := i
		for b > 0 && (text[b-1] == ' ' || text[b-1] == '\t') {
			b--
		}
		if b > 0 && isDigit(text[b-1]) {
			continue
		}
		var g [4]int
		var seps [3]byte
		spaced, j, ok := false, i, true
		for k := 0; k < 4 && ok; k++ {
			e, v := j, 0
			for e < len(text) && e-j < 4 && isDigit(text[e]) {
				v = v*10 + int(text[e]-'0')
				e++
			}
			if e == j || e-j > 3 || v > 255 || e-j > 1 && text[j] == '0' {
				ok = false
				break
			}
			g[k], j = v, e
			if k == 3 {
				break
			}
			s, c, sp := sepEnd(j)
			if s == j || s >= len(text) || !isDigit(text[s]) {
				ok = false
				break
			}
			seps[k], spaced, j = c, spaced || sp, s
		}
		if !ok {
			for i < len(text) && isDigit(text[i]) {
				i++
			}
			continue
		}
		if j < len(text) && isAlnum(text[j]) {
			i = j
			continue
		}
		if s, c, sp := sepEnd(j); s < len(text) && isDigit(text[s]) && (c == seps[2] || c == ' ' && sp) {
			// Figures go on after the fourth: a list.
			i = j
			continue
		}
		if !spacedIPv4(text, i, g, seps, spaced) {
			i = j
			continue
		}
		out = append(out, pii{KindIPAddress, i, j})
		i = j
	}
	if len(out) == n {
		return out
	}
	added := slices.Clone(out[n:])
	return slices.DeleteFunc(out, func(p pii) bool {
		if p.kind != KindPhone {
			return false
		}
		for _, a := range added {
			if a.start <= p.start && p.end <= a.end {
				return true
			}
		}
		return false
	})
}
