package classifiers

import "github.com/threatwatch/threatwatch/pipeline/msg"

// Evidence kinds of the threat signal.
const (
	KindIntentToHarm       = "intent_to_harm"
	KindIncitement         = "incitement"
	KindConditionalThreat  = "conditional_threat"
	KindVeiledThreat       = "veiled_threat"
	KindWeapon             = "weapon"
	KindObfuscatedHarm     = "obfuscated_harm"
	KindHarmAgainstPerson  = "harm_against_person"
	KindThreatTimeAndPlace = "threat_time_place"
)

// newThreat scores threats or incitement to kill or hurt a person or group.
func newThreat(m *Model) Scorer {
	return newLinear(msg.SignalThreat, m, threatFeatures)
}

var threatFeatures = []feature{
	{"intent_harm", KindIntentToHarm, func(d *Document) (float64, int, int) {
		ok, a, b := d.followed(cIntent, cHarmStrong, 6)
		if !ok {
			ok, a, b = d.followed(cIntent, cHarm, 5)
		}
		return at(ok && !d.has(cFigSelf), a, b)
	}},
	{"intent_harm_strong", KindIntentToHarm, func(d *Document) (float64, int, int) {
		ok, a, b := d.followed(cIntent, cHarmStrong, 6)
		return at(ok && !d.has(cFigSelf), a, b)
	}},
	{"intent_weapon", KindWeapon, func(d *Document) (float64, int, int) {
		ok, a, b := d.followed(cIntent, cWeapon, 6)
		return at(ok, a, b)
	}},
	{"incite_harm", KindIncitement, func(d *Document) (float64, int, int) {
		ok, a, b := d.followed(cIncite, cHarmStrong, 8)
		if !ok {
			ok, a, b = d.followed(cIncite, cHarm, 6)
		}
		if !ok {
			ok, a, b = d.followed(cIncite, cWeapon, 8)
		}
		return at(ok, a, b)
	}},
	{"incite_strong", KindIncitement, func(d *Document) (float64, int, int) {
		a, b := d.span(cInciteStrong)
		return at(a >= 0, a, b)
	}},
	{"veiled", KindVeiledThreat, func(d *Document) (float64, int, int) {
		a, b := d.span(cVeiled)
		return at(a >= 0, a, b)
	}},
	{"veiled_many", "", func(d *Document) (float64, int, int) { return b2f(d.count(cVeiled) >= 2) }},
	{"conditional", KindConditionalThreat, func(d *Document) (float64, int, int) {
		if d.co(cIf, cIntent, cHarmStrong) || d.co(cIf, cIntent, cHarm) || d.co(cIf, cVeiled) {
			a, b := d.sentSpan(cIf, cIntent)
			if a < 0 {
				a, b = d.sentSpan(cIf, cVeiled)
			}
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"harm_you", KindHarmAgainstPerson, func(d *Document) (float64, int, int) {
		ok, a, b := d.followed(cHarmStrong, cYou, 3)
		return at(ok && !d.has(cFigSelf), a, b)
	}},
	{"harm_person", KindHarmAgainstPerson, func(d *Document) (float64, int, int) {
		for _, h := range []cue{cHarmStrong, cHarm} {
			for _, o := range []cue{cYou, cThird, cNamed, cAllOf} {
				if ok, a, b := d.followed(h, o, 3); ok && !d.has(cFigSelf) {
					return 1, a, b
				}
			}
		}
		return 0, -1, -1
	}},
	{"self_harm_verb", KindIntentToHarm, func(d *Document) (float64, int, int) {
		ok, a, b := d.followed(cSelf, cHarmStrong, 2)
		if !ok {
			ok, a, b = d.followed(cSelf, cHarm, 1)
		}
		return at(ok && !d.has(cFigSelf), a, b)
	}},
	{"harm_third", KindHarmAgainstPerson, func(d *Document) (float64, int, int) {
		ok, a, b := d.followed(cHarmStrong, cThird, 3)
		if !ok {
			ok, a, b = d.followed(cHarmStrong, cNamed, 3)
		}
		return at(ok, a, b)
	}},
	{"harm_group", KindHarmAgainstPerson, func(d *Document) (float64, int, int) {
		ok, a, b := d.followed(cHarmStrong, cAllOf, 4)
		return at(ok, a, b)
	}},
	{"intent_harm_person", KindIntentToHarm, func(d *Document) (float64, int, int) {
		ok, a, b := d.harmAgainst(objPerson, true, cHarmStrong, cHarm)
		return at(ok && !d.has(cFigSelf), a, b)
	}},
	{"harm_strong_person", KindHarmAgainstPerson, func(d *Document) (float64, int, int) {
		ok, a, b := d.harmAgainst(objPerson, false, cHarmStrong)
		return at(ok && !d.has(cFigSelf), a, b)
	}},
	{"harm_thing", "", func(d *Document) (float64, int, int) {
		ok, _, _ := d.harmAgainst(objThing, false, cHarmStrong, cHarm)
		return b2f(ok)
	}},
	{"harm_strong", "", func(d *Document) (float64, int, int) { return capped(d.count(cHarmStrong), 2) }},
	{"harm_weak", "", func(d *Document) (float64, int, int) { return capped(d.count(cHarm), 3) }},
	{"weapon", "", func(d *Document) (float64, int, int) { return b2f(d.has(cWeapon)) }},
	{"time_place", KindThreatTimeAndPlace, func(d *Document) (float64, int, int) {
		if d.coAny(cTimePlace, cIntent, cVeiled, cIncite) && (d.has(cHarmStrong) || d.has(cHarm) || d.has(cVeiled) || d.has(cWeapon)) {
			a, b := d.span(cTimePlace)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"obfuscated_harm", KindObfuscatedHarm, func(d *Document) (float64, int, int) {
		for _, i := range d.byCue[cHarmStrong] {
			h := d.hits[i]
			if d.toks[h.from].flags&tokFolded != 0 {
				return 1, d.norm.orig(int(d.toks[h.from].start)), d.norm.orig(int(d.toks[h.to-1].end))
			}
		}
		return 0, -1, -1
	}},
	{"fake_report_content", "", func(d *Document) (float64, int, int) {
		return b2f(d.coAny(cFalseReport, cPolice, cEmergency) || d.has(cSwat) || d.has(cCoded))
	}},
	{"negated_harm", "", func(d *Document) (float64, int, int) {
		return b2f(d.negated(cHarmStrong) || d.negated(cHarm) || d.negated(cIntent) || d.negated(cIncite))
	}},
	{"condemn", "", func(d *Document) (float64, int, int) {
		return capped(d.countOutside(cCondemn, cInciteStrong, cVeiled, cIntent), 2)
	}},
	{"meta", "", func(d *Document) (float64, int, int) { return b2f(d.has(cMeta)) }},
	{"quoted_threat", "", func(d *Document) (float64, int, int) {
		return b2f(d.quotedHas(cHarmStrong) || d.quotedHas(cVeiled) || d.quotedHas(cInciteStrong) || d.quotedHas(cHarm))
	}},
	{"fiction", "", func(d *Document) (float64, int, int) { return capped(d.count(cFiction), 2) }},
	{"game", "", func(d *Document) (float64, int, int) { return capped(d.count(cGame), 2) }},
	{"sport", "", func(d *Document) (float64, int, int) { return capped(d.count(cSport), 2) }},
	{"figurative", "", func(d *Document) (float64, int, int) { return b2f(d.has(cFigurative) || d.has(cFigSelf)) }},
	{"news", "", func(d *Document) (float64, int, int) { return capped(d.count(cNews), 2) }},
	{"history", "", func(d *Document) (float64, int, int) { return capped(d.count(cHistory), 2) }},
	{"advice", "", func(d *Document) (float64, int, int) {
		return capped(d.countOutside(cAdvice, cInciteStrong, cVeiled, cIntent), 2)
	}},
	{"hunting", "", func(d *Document) (float64, int, int) { return capped(d.huntingContext(), 2) }},
	{"tech", "", func(d *Document) (float64, int, int) { return capped(d.count(cTech), 2) }},
	{"insult", "", func(d *Document) (float64, int, int) { return capped(d.count(cInsult), 3) }},
	{"death_wish", "", func(d *Document) (float64, int, int) { return b2f(d.has(cDieWish)) }},
}

// huntingAnchors are hunting words with no everyday second meaning; the
// rest of the hunting cue ("range", "tag", "bow", "buck", "Doe", "hunt
// her down") counts only beside another hunting word.
var huntingAnchors = map[string]bool{
	"hunting": true, "hunter": true, "hunters": true, "deer": true, "pheasant": true, "elk": true, "geese": true,
	"turkey": true, "bagged": true, "limit": true, "archery": true, "skeet": true, "clays": true, "trout": true,
	"warden": true, "season": true, "fishing": true, "sight": true,
}

// huntingContext counts the hunting cues of the author's own words, or 0
// when none of them is unambiguous and there is only one.
func (d *Document) huntingContext() float64 {
	n, anchored := 0, false
	for _, ih := range d.byCue[cHunting] {
		h := d.hits[ih]
		if d.toks[h.from].flags&tokQuoted != 0 {
			continue
		}
		n++
		for k := h.from; k < h.to; k++ {
			if t := d.toks[k]; huntingAnchors[t.s] && t.flags&tokCap == 0 {
				anchored = true
			}
		}
	}
	if !anchored && n < 2 {
		return 0
	}
	return float64(n)
}
