package watchlist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"go.yaml.in/yaml/v3"
)

// File is a watchlist file: the plain details a protection team keeps
// offline. The CLI reads it, hashes every detail and writes only hashes; the
// file itself is never copied anywhere. YAML or JSON (JSON is YAML):
//
//	region: US                 # phones written without +country code
//	persons:
//	  - id: wl-0001            # opaque: never a name
//	    names: [Clara Sorrenti]
//	    handles: ["@keffals"]
//	    aliases: [Keffals]
//	    former_names: []
//	    addresses: ["123 Main Avenue, Apt 4, Springfield, IL 62704"]
//	    phones: ["+1 555 867 5309"]
//	    emails: [clara.sorrenti@gmail.com]
//	    plates: [ABC-1234]
//	    relatives: [Marco Sorrenti]
//	    workplace: [Acme Corporation]
//
// Every list also takes a single string.
type File struct {
	// Region is the ISO 3166 region assumed for phone numbers written
	// without a country code (default: the first of watchlist.phone_regions).
	Region  string   `yaml:"region" json:"region"`
	Persons []Person `yaml:"persons" json:"persons"`
}

// Person is one protected person's plain details.
type Person struct {
	// ID is opaque: it appears in alerts, levels and logs, so it must not be
	// a name, handle or anything else that identifies the person.
	ID          string     `yaml:"id" json:"id"`
	Names       StringList `yaml:"names" json:"names"`
	Handles     StringList `yaml:"handles" json:"handles"`
	Aliases     StringList `yaml:"aliases" json:"aliases"`
	FormerNames StringList `yaml:"former_names" json:"former_names"`
	Addresses   StringList `yaml:"addresses" json:"addresses"`
	Phones      StringList `yaml:"phones" json:"phones"`
	Emails      StringList `yaml:"emails" json:"emails"`
	Plates      StringList `yaml:"plates" json:"plates"`
	Relatives   StringList `yaml:"relatives" json:"relatives"`
	Workplace   StringList `yaml:"workplace" json:"workplace"`
}

// StringList is a list of strings that also accepts a single string.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars. Its errors name
// lines, never values.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*l = nil
			return nil
		}
		*l = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a string", c.Line)
			}
			out = append(out, c.Value)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// ErrFile reports a watchlist file that cannot be used. Its messages name
// persons by id, detail kinds and positions, never a value.
var ErrFile = errors.New("bad watchlist file")

// What yaml quotes from the input in its messages: scalars in backticks,
// anchor names in single quotes, duplicate mapping keys in double quotes,
// and the names of unknown fields bare (a value typed where a field name
// goes, "- 123 Main St: Apt 4", is one).
var (
	backticked   = regexp.MustCompile("`[^`]*`")
	anchorName   = regexp.MustCompile(`anchor '[^']*'`)
	doubleQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	unknownField = regexp.MustCompile(`field (.*) not found in type`)
	fieldName    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

// yamlErrorText is a yaml error without the input it quotes. A key keeps
// its name when it looks like a field name ("nicknames"), since that is
// what the operator has to fix.
func yamlErrorText(err error) string {
	t := backticked.ReplaceAllString(err.Error(), "`…`")
	t = anchorName.ReplaceAllString(t, "anchor '…'")
	t = doubleQuoted.ReplaceAllStringFunc(t, func(m string) string {
		if fieldName.MatchString(m[1 : len(m)-1]) {
			return m
		}
		return `"…"`
	})
	return unknownField.ReplaceAllStringFunc(t, func(m string) string {
		if fieldName.MatchString(unknownField.FindStringSubmatch(m)[1]) {
			return m
		}
		return "field … not found in type"
	})
}

// MaxFileBytes caps a watchlist file.
const MaxFileBytes = 64 << 20

// ParseFile reads a watchlist file strictly: unknown fields, duplicate ids
// and details that cannot be normalized are errors, reported without the
// values.
func ParseFile(r io.Reader, name string) (*File, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrFile, name, MaxFileBytes)
	}
	if err := checkEncoding(b); err != nil {
		clear(b)
		return nil, fmt.Errorf("%w: %s: %w", ErrFile, name, err)
	}
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); errors.Is(err, io.EOF) {
		// No document at all: what a pipe carries when the decryption in
		// front of it failed. Read as a list of no one, an import would
		// remove every protected person; `persons: []` says that on purpose.
		return nil, fmt.Errorf("%w: %s is empty (did the command that feeds it fail?); to empty the list, import a file holding persons: []", ErrFile, name)
	} else if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrFile, name, yamlErrorText(err))
	}
	clear(b)
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFile, name, err)
	}
	return f, nil
}

// checkEncoding refuses a file that is not UTF-8 (or UTF-16 with a byte
// order mark, which yaml reads), naming the first line to fix. yaml says
// only "invalid trailing UTF-8 octet" or "control characters are not
// allowed", without a line: in a list of thousands of persons exported
// from a spreadsheet as Latin-1, that leaves the operator searching. The
// bytes themselves are never quoted: they are a value.
func checkEncoding(b []byte) error {
	if bytes.HasPrefix(b, []byte{0xfe, 0xff}) || bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		return nil
	}
	line := func(i int) int { return 1 + bytes.Count(b[:i], []byte{'\n'}) }
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return fmt.Errorf("line %d holds a NUL byte (saved as UTF-16 without a byte order mark?); save the file as UTF-8", line(i))
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Errorf("line %d is not UTF-8 text (saved as Latin-1 or Windows-1252?); save the file as UTF-8", line(i))
		}
		i += size
	}
	return nil
}

var regionCode = regexp.MustCompile(`^[A-Za-z]{2,3}$`)

var personIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// ValidPersonID reports whether id can name a person.
func ValidPersonID(id string) bool { return personIDPattern.MatchString(id) }

func (f *File) validate() error {
	var errs []error
	if f.Region != "" && phonenumbers.GetCountryCodeForRegion(strings.ToUpper(f.Region)) == 0 {
		if regionCode.MatchString(f.Region) {
			errs = append(errs, fmt.Errorf("region %q is not a known region code", f.Region))
		} else {
			errs = append(errs, errors.New("region is not a region code (two letters, such as US or GB)"))
		}
	}
	seen := map[string]int{}
	for i, p := range f.Persons {
		switch {
		case p.ID == "":
			errs = append(errs, fmt.Errorf("persons[%d]: id is required", i))
			continue
		case !ValidPersonID(p.ID):
			// Not echoed: an id that is not an id may be a name typed in the
			// wrong place.
			errs = append(errs, fmt.Errorf("persons[%d]: id is not valid: want 1-64 of A-Z, a-z, 0-9, '.', '_', ':', '-', starting with a letter or digit", i))
			continue
		}
		// Named by position, not by id, until the id is known to be
		// opaque: an id that spells a name would be the name in the
		// error, on the operator's terminal and in CI logs.
		if j, dup := seen[p.ID]; dup {
			errs = append(errs, fmt.Errorf("persons[%d]: id is also persons[%d]", i, j))
		}
		seen[p.ID] = i
		if err := p.opaque(); err != nil {
			errs = append(errs, fmt.Errorf("persons[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// opaque refuses ids that spell one of the person's own names or handles:
// the id is what alerts and logs carry.
func (p *Person) opaque() error {
	id := normalizeHandle(p.ID)
	for _, list := range []StringList{p.Names, p.Aliases, p.FormerNames, p.Handles, p.Emails} {
		for _, v := range list {
			local := v
			if at := strings.IndexByte(v, '@'); at > 0 {
				local = v[:at]
			}
			if normalizeHandle(local) == id || strings.Join(words(v, false), "") == id {
				return errors.New("id must be opaque, but it spells one of the person's names, handles or emails")
			}
		}
	}
	return nil
}

// Entry is one stored hash.
type Entry struct {
	Digest Digest
	Kind   Kind
	// N is the number of words of a word-sequence entry (names,
	// addresses, relatives, workplaces); 1 for the rest.
	N uint8
	// Tag is the prefilter tag of the entry's first word (word entries:
	// names, handles, addresses, relatives, workplaces) or of the plate.
	Tag uint32
	// Seq is the prefilter tag of the whole word sequence of an entry of
	// two words or more (HasSeq): a post's word sequence is hashed with
	// HMAC only when its Seq is listed. Lists stored before Seq existed
	// have none; they match the same, only slower.
	Seq    uint32
	HasSeq bool
	// Tail is the tail tag of a phone (HasTail): the tag of its last N
	// digits (maxTailDigits, or all of a shorter national number). A digit
	// run in a post is parsed as a phone only when its own tail is listed.
	// Lists stored before tails existed have none; they match the same,
	// only slower.
	Tail    uint32
	HasTail bool
}

// needsSeq reports whether e is a word sequence that a sequence tag
// filters: one of two words or more.
func (e Entry) needsSeq() bool { return e.Kind.tagged() && e.N >= 2 }

// Record is everything stored for one person under one key: hashes, and
// how many details of each kind were given (for `list`).
type Record struct {
	Person  string
	Entries []Entry
	// Units are the unit hashes of the person's addresses that name a
	// unit (domain domUnit): per address, its building alone (a marker
	// that the address names a unit) and the building with the unit. They
	// are never matched against a post's words; they say, of a post that
	// gives a listed street line and a unit, whether the unit is the
	// listed one. Lists stored before them have none: their address
	// matches say nothing of units.
	Units  []Digest
	Counts map[Kind]int
}

// maxWords caps a word-sequence entry; the matcher tries sequences up to
// this long.
const maxWords = 15

// Hash turns a person's plain details into a Record under h. regions are
// tried, in order, for phone numbers without a country code when the file
// names no region. Errors name the kind and index, never the value.
func (p *Person) Hash(h *Hasher, region string) (Record, error) {
	rec := Record{Person: p.ID, Counts: map[Kind]int{}}
	byDigest := map[Digest]int{}
	add := func(e Entry) {
		if i, ok := byDigest[e.Digest]; ok {
			// One hash, two kinds (an alias equal to a handle): the private
			// kind wins, as it decides whether a match pages.
			if e.Kind.Private() && !rec.Entries[i].Kind.Private() {
				rec.Entries[i] = e
			}
			return
		}
		byDigest[e.Digest] = len(rec.Entries)
		rec.Entries = append(rec.Entries, e)
	}
	wordsEntry := func(k Kind, w []string) Entry {
		e := Entry{Digest: h.words(w), Kind: k, N: uint8(len(w)), Tag: h.tagString(w[0])}
		if len(w) >= 2 {
			e.Seq, e.HasSeq = h.wordsSeqTag(w), true
		}
		return e
	}
	var errs []error
	bad := func(field string, i int, why string) {
		errs = append(errs, fmt.Errorf("%s[%d]: %s", field, i, why))
	}
	names := func(field string, k Kind, list StringList, minWords int) {
		for i, v := range list {
			w := words(v, false)
			switch {
			case len(w) == 0:
				bad(field, i, "has no letters or digits")
				continue
			case len(w) < minWords:
				bad(field, i, fmt.Sprintf("give at least %d words (a single word would page on every mention)", minWords))
				continue
			case len(w) > maxWords:
				bad(field, i, fmt.Sprintf("more than %d words", maxWords))
				continue
			}
			add(wordsEntry(k, w))
			if k == KindWorkplace {
				if alt, ok := legalSuffixes[w[len(w)-1]]; ok {
					v2 := append(append([]string(nil), w[:len(w)-1]...), alt)
					add(wordsEntry(k, v2))
				}
			}
			rec.Counts[k]++
		}
	}
	names("names", KindName, p.Names, 1)
	names("aliases", KindAlias, p.Aliases, 1)
	names("former_names", KindFormerName, p.FormerNames, 1)
	names("relatives", KindRelative, p.Relatives, 2)
	names("workplace", KindWorkplace, p.Workplace, 2)
	for i, v := range p.Handles {
		n := normalizeHandle(v)
		if n == "" {
			bad("handles", i, "has no letters or digits")
			continue
		}
		add(Entry{Digest: h.sum(domWords, []byte(n)), Kind: KindHandle, N: 1, Tag: h.tagString(n)})
		rec.Counts[KindHandle]++
	}
	for i, v := range p.Addresses {
		forms, unit := addressForms(v)
		if len(forms) == 0 {
			bad("addresses", i, "needs at least two words")
			continue
		}
		ok := true
		for _, w := range forms {
			if len(w) > maxWords {
				bad("addresses", i, fmt.Sprintf("street line has more than %d words", maxWords))
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for _, w := range forms {
			add(wordsEntry(KindAddress, w))
		}
		if unit != "" {
			for _, d := range []Digest{h.unitMarker(forms[0]), h.unitDigest(forms[0], unit)} {
				if !slices.Contains(rec.Units, d) {
					rec.Units = append(rec.Units, d)
				}
			}
		}
		rec.Counts[KindAddress]++
	}
	for i, v := range p.Phones {
		e164, nsn, ok := parsePhone(v, region)
		if !ok {
			bad("phones", i, "is not a possible phone number (give +country code, or set region)")
			continue
		}
		k := min(maxTailDigits, nsn)
		add(Entry{Digest: h.sum(domPhone, []byte(e164)), Kind: KindPhone, N: uint8(k),
			Tail: h.tailTag([]byte(e164[len(e164)-k:])), HasTail: true})
		rec.Counts[KindPhone]++
	}
	for i, v := range p.Emails {
		n, ok := normalizeEmail(v)
		if !ok {
			bad("emails", i, "is not an email address")
			continue
		}
		add(Entry{Digest: h.sum(domEmail, []byte(n)), Kind: KindEmail, N: 1})
		rec.Counts[KindEmail]++
	}
	for i, v := range p.Plates {
		n := normalizePlate(v)
		if len(n) < 2 || len(n) > 10 {
			bad("plates", i, "want 2 to 10 letters and digits")
			continue
		}
		add(Entry{Digest: h.sum(domPlate, []byte(n)), Kind: KindPlate, N: 1, Tag: h.tagString(n)})
		rec.Counts[KindPlate]++
	}
	if err := errors.Join(errs...); err != nil {
		return Record{}, fmt.Errorf("person %s: %w", p.ID, err)
	}
	return rec, nil
}

// parsePhone parses a number as written in a watchlist file into E.164,
// and says how many digits its national number has.
func parsePhone(s, region string) (e164 string, nsn int, ok bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(region))
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", 0, false
	}
	e164 = phonenumbers.Format(num, phonenumbers.E164)
	nsn = len(phonenumbers.GetNationalSignificantNumber(num))
	if nsn < 1 || nsn >= len(e164) {
		return "", 0, false
	}
	return e164, nsn, true
}
