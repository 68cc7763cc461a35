package classifiers

import (
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jdkato/prose/v2"
	"golang.org/x/text/unicode/norm"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

var (
	lexOnce sync.Once
	lexVal  *lexicon
	nerOnce sync.Once
	nerVal  *nerTagger
)

// sharedLexicon compiles the lexicon once per process.
func sharedLexicon() *lexicon {
	lexOnce.Do(func() { lexVal = compileLexicon() })
	return lexVal
}

// nerTagger wraps prose's tagger and entity extractor. The model is loaded
// once per process (loading it per call costs ~110 MB and 250 ms) and is
// safe to share between goroutines.
type nerTagger struct {
	model *prose.Model
}

func sharedNER() *nerTagger {
	nerOnce.Do(func() {
		doc, err := prose.NewDocument("Warm up.", prose.WithSegmentation(false))
		if err == nil && doc.Model != nil {
			nerVal = &nerTagger{model: doc.Model}
		}
	})
	return nerVal
}

// entities returns prose's named entities in one sentence.
func (n *nerTagger) entities(sentence string) []prose.Entity {
	doc, err := prose.NewDocument(sentence, prose.WithSegmentation(false), prose.UsingModel(n.model))
	if err != nil {
		return nil
	}
	return doc.Entities()
}

// entityMention is an entity and where it was mentioned.
type entityMention struct {
	e          msg.Entity
	start, end int
}

// entities fills s.Entities: handles and capitalized names from the cheap
// pass, and, for posts that score, people and places from prose's NER on
// the sentences holding evidence. A person or handle mentioned in a
// sentence holding evidence of a signal that scored is a target.
func (c *Classifier) entities(d *Document, s *msg.Scored) {
	var ms []entityMention
	ms = findHandles(d.Text, ms)
	ms = c.capitalizedNames(d, ms)
	// Sentences holding evidence of a signal at or above NERMinScore.
	var hot [][2]int
	for _, ev := range s.Evidence {
		if ev.Field != "text" || s.Scores[ev.Signal] < c.cfg.NERMinScore {
			continue
		}
		si := d.sentenceAt(ev.Start)
		if si < 0 {
			continue
		}
		a, b := d.sentenceRange(si)
		hot = append(hot, [2]int{min(a, ev.Start), max(b, ev.End)})
	}
	inHot := func(m entityMention) bool {
		for _, h := range hot {
			if m.start >= h[0] && m.end <= h[1] {
				return true
			}
		}
		return false
	}
	// prose's NER (about a millisecond a sentence) runs only when the cheap
	// pass found nobody in the sentences that scored.
	if c.ner != nil && len(hot) > 0 {
		found := false
		for _, m := range ms {
			if (m.e.Kind == msg.EntityPerson || m.e.Kind == msg.EntityHandle) && inHot(m) {
				found = true
				break
			}
		}
		if !found {
			ms = c.nerMentions(d, s, ms)
		}
	}
	if len(ms) == 0 {
		return
	}
	seen := map[string]int{}
	for _, m := range ms {
		m.e.Ref = msg.TargetRef(refForm(m.e.Name))
		if m.e.Ref == "" {
			continue
		}
		if (m.e.Kind == msg.EntityPerson || m.e.Kind == msg.EntityHandle) && inHot(m) {
			m.e.Target = true
		}
		key := string(m.e.Kind) + "\x00" + m.e.Ref
		if i, ok := seen[key]; ok {
			s.Entities[i].Target = s.Entities[i].Target || m.e.Target
			continue
		}
		seen[key] = len(s.Entities)
		s.Entities = append(s.Entities, m.e)
	}
}

func isHandleByte(c byte) bool { return isAlnum(c) || c == '_' || c == '.' }

// findHandles finds @handles and u/names (not e-mail addresses).
func findHandles(text string, ms []entityMention) []entityMention {
	for i := 0; i < len(text); i++ {
		var start int
		switch {
		case text[i] == '@' && (i == 0 || !isAlnum(text[i-1])):
			start = i + 1
		case (text[i] == 'u' || text[i] == 'U') && i+1 < len(text) && text[i+1] == '/' && (i == 0 || text[i-1] == ' '):
			start = i + 2
		default:
			continue
		}
		j := start
		for j < len(text) && isHandleByte(text[j]) && j-start < 40 {
			j++
		}
		for j > start && text[j-1] == '.' {
			j--
		}
		if j-start < 2 || j < len(text) && text[j] == '@' || strings.Contains(text[start:j], ".") && strings.Count(text[start:j], ".") > 1 {
			i = j
			continue
		}
		if strings.Contains(text[start:j], ".") { // an e-mail domain, not a handle
			i = j
			continue
		}
		ms = append(ms, entityMention{msg.Entity{Kind: msg.EntityHandle, Name: "@" + text[start:j]}, i, j})
		i = j
	}
	return ms
}

// capitalizedNames guesses names from capitalized words that are not the
// start of a sentence, not common words and not part of an address:
// "Tobin Greer lives", "ask for Cassidy". First names at the start of a
// sentence are found when followed by a surname or a possessive.
func (c *Classifier) capitalizedNames(d *Document, ms []entityMention) []entityMention {
	inPII := func(o int) bool {
		for _, p := range d.pii {
			if o >= p.start && o < p.end {
				return true
			}
		}
		return false
	}
	for i := 0; i < len(d.toks); i++ {
		t := d.toks[i]
		if t.flags&tokCap == 0 || t.flags&tokQuoted != 0 || len(t.s) < 3 || notName[strings.TrimSuffix(t.s, "'s")] || notPerson[t.s] {
			continue
		}
		j := i + 1
		for j < len(d.toks) && j < i+3 && d.toks[j].sent == t.sent && d.toks[j].flags&tokCap != 0 &&
			!notName[strings.TrimSuffix(d.toks[j].s, "'s")] && !notPerson[d.toks[j].s] && d.toks[j].start-d.toks[j-1].end == 1 && len(d.toks[j].s) >= 2 {
			j++
		}
		first := i == 0 || d.toks[i-1].sent != t.sent
		possessive := strings.HasSuffix(d.toks[j-1].s, "'s")
		if first && j == i+1 && !possessive {
			continue
		}
		if j < len(d.toks) && (streetSuffixes[d.toks[j].s] || streetLead[d.toks[j].s]) || streetSuffixes[d.toks[j-1].s] {
			i = j
			continue
		}
		a, b := d.norm.orig(int(t.start)), d.norm.orig(int(d.toks[j-1].end))
		if inPII(a) || d.townAt(a, b) {
			i = j - 1
			continue
		}
		name := strings.TrimSuffix(strings.TrimSuffix(d.Text[a:b], "'s"), "’s")
		ms = append(ms, entityMention{msg.Entity{Kind: msg.EntityPerson, Name: name}, a, b})
		i = j - 1
	}
	return ms
}

// nerMentions runs prose on up to NERMaxSentences sentences holding
// evidence and adds the people and places it finds.
func (c *Classifier) nerMentions(d *Document, s *msg.Scored, ms []entityMention) []entityMention {
	done := map[int32]bool{}
	for _, ev := range s.Evidence {
		if len(done) >= c.cfg.NERMaxSentences {
			break
		}
		if ev.Field != "text" {
			continue
		}
		si := d.sentenceAt(ev.Start)
		if si < 0 || done[si] {
			continue
		}
		done[si] = true
		a, b := d.sentenceRange(si)
		if a < 0 || b > len(d.Text) {
			continue
		}
		if b-a > 300 {
			// Keep NER cheap: the names of a target sit close to the evidence.
			a = max(a, ev.Start-150)
			b = min(b, a+300)
			for a < len(d.Text) && !utf8.RuneStart(d.Text[a]) {
				a++
			}
			for b < len(d.Text) && !utf8.RuneStart(d.Text[b]) {
				b++
			}
		}
		sentence := d.Text[a:b]
		for _, e := range c.ner.entities(sentence) {
			var kind msg.EntityKind
			switch e.Label {
			case "PERSON":
				kind = msg.EntityPerson
			case "GPE":
				kind = msg.EntityPlace
			default:
				continue
			}
			if len(e.Text) < 3 || notName[strings.ToLower(e.Text)] || strings.IndexFunc(e.Text, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0 {
				continue
			}
			k := strings.Index(sentence, e.Text)
			if k < 0 {
				continue
			}
			if d.inPII(a+k) || kind == msg.EntityPerson && (hasNotPersonWord(e.Text) || d.townAt(a+k, a+k+len(e.Text))) {
				// prose takes a street ("Millrace Ln") for a person too:
				// its name would then carry the address it is part of.
				continue
			}
			// prose labels a capitalized first word ("Call", "Someone")
			// as a place or person too often: keep one-word entities only
			// inside a sentence.
			if k == 0 && !strings.Contains(e.Text, " ") {
				continue
			}
			ms = append(ms, entityMention{msg.Entity{Kind: kind, Name: e.Text}, a + k, a + k + len(e.Text)})
		}
	}
	return ms
}

// notPerson are capitalized words of addresses and forms that were taken
// for people's names: "Flat 2", "PO Box", "Date Of Birth". Taken for a
// person, one became the target of every post that wrote it, and the
// per-target level of "Flat" gathered unrelated doxxes. (notName, which
// the scoring features read too, is left as the model was trained.)
var notPerson = map[string]bool{
	"flat": true, "apt": true, "apartment": true, "unit": true, "suite": true, "box": true, "room": true,
	"birth": true, "date": true, "dob": true, "address": true, "addy": true, "zip": true, "postcode": true,
	"phone": true, "cell": true, "mobile": true, "email": true, "ssn": true,
}

func hasNotPersonWord(s string) bool {
	for _, w := range strings.Fields(s) {
		if notPerson[strings.ToLower(w)] {
			return true
		}
	}
	return false
}

// reTownTail is what follows the town of an address: its state and ZIP
// ("Pruitt Hollow, OH 45371"), an Australian state and postcode.
var reTownTail = regexp.MustCompile(`^,?\s+(?:[A-Z]{2}\s+\d{5}|(?:NSW|VIC|QLD|SA|WA|TAS|NT|ACT)\s+\d{4})\b`)

// townAt reports that the capitalized words at text[a:b] are the town of
// an address, not a person: right after a street or an address found
// ("Millrace Ln, Pruitt Hollow", "15 Millrace Ln in Pruitt Hollow"), or
// right before a state and ZIP.
func (d *Document) townAt(a, b int) bool {
	for k := len(d.pii) - 1; k >= 0; k-- {
		p := d.pii[k]
		if p.end > a {
			continue
		}
		if a-p.end <= 6 && (p.kind == KindStreetAddress || p.kind == KindStreetName) {
			gap := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d.Text[p.end:a]), ","))
			if gap == "" || gap == "in" {
				return true
			}
		}
		break
	}
	return b < len(d.Text) && reTownTail.MatchString(d.Text[b:min(len(d.Text), b+16)])
}

// refForm puts a name in Unicode's compatibility composed form before it
// becomes a target ref: "José" typed with a combining accent, or in
// full-width letters, is the same person as "José", and must raise the
// same target's level on every site.
func refForm(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return norm.NFKC.String(name)
		}
	}
	return name
}
