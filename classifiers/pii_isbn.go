package classifiers

import "strings"

// withoutISBNs removes from ps the phone numbers that are ISBNs: a number
// right after the word "ISBN" (and "-10" or "-13", a colon) whose check
// digit is right ("ISBN 978-3-16-148410-0"). A number after the word
// with a wrong check digit is kept: it may be a phone number written
// there to slip by, and hiding a book is the lesser harm.
func withoutISBNs(text string, ps []pii) []pii {
	var books [][2]int
	for i := 0; i+4 <= len(text); i++ {
		if (text[i] == 'I' || text[i] == 'i') && strings.EqualFold(text[i:i+4], "isbn") && (i == 0 || !isAlnum(text[i-1])) {
			if a, b := isbnAfter(text, i+4); b > a {
				books = append(books, [2]int{a, b})
			}
		}
	}
	if len(books) == 0 {
		return ps
	}
	out := ps[:0]
next:
	for _, p := range ps {
		if p.kind == KindPhone {
			for _, bk := range books {
				if p.start >= bk[0] && p.end <= bk[1] {
					continue next
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// isbnAfter returns where the ISBN written after the word "ISBN" ending at
// i lies, when its check digit is right; a == b when there is none.
func isbnAfter(text string, i int) (a, b int) {
	for _, s := range []string{"-13", "-10", "13", "10"} {
		if strings.HasPrefix(text[i:], s) {
			i += len(s)
			break
		}
	}
	for i < len(text) && (text[i] == ':' || text[i] == ' ' || text[i] == '#') {
		i++
	}
	a = i
	var d []byte
	end10, end13 := -1, -1
	for j := i; j < len(text) && len(d) < 13; j++ {
		c := text[j]
		switch {
		case isDigit(c):
			d = append(d, c-'0')
		case (c == 'X' || c == 'x') && len(d) == 9:
			d = append(d, 10)
		case (c == '-' || c == ' ') && j > a && isDigit(text[j-1]):
			continue
		default:
			j = len(text)
			continue
		}
		if len(d) == 10 {
			end10 = j + 1
		}
		if len(d) == 13 {
			end13 = j + 1
		}
		if d[len(d)-1] == 10 {
			break
		}
	}
	if end13 > 0 && d[12] < 10 && (d[0] == 9 && d[1] == 7 && (d[2] == 8 || d[2] == 9)) {
		sum := 0
		for k := 0; k < 13; k++ {
			sum += int(d[k]) * (1 + 2*(k%2))
		}
		if sum%10 == 0 && (end13 == len(text) || !isAlnum(text[end13])) {
			return a, end13
		}
	}
	if end10 > 0 {
		sum := 0
		for k := 0; k < 10; k++ {
			if d[k] == 10 && k != 9 {
				return a, a
			}
			sum += int(d[k]) * (10 - k)
		}
		if sum%11 == 0 && (end10 == len(text) || !isAlnum(text[end10])) {
			return a, end10
		}
	}
	return a, a
}
