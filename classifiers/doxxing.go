package classifiers

import "github.com/threatwatch/threatwatch/pipeline/msg"

// Evidence kinds of the doxxing signal beyond the personal-data kinds.
const (
	KindDoxRequest   = "dox_request"
	KindDoxDrop      = "dox_drop"
	KindResidence    = "residence"
	KindWorkplace    = "workplace"
	KindRoutine      = "routine"
	KindFamily       = "family"
	KindVehicle      = "vehicle"
	KindDoxFound     = "dox_found"
	KindHarassCall   = "harassment_call"
	KindPrivateOther = "private_detail"
)

// maxPIIEvidence caps the personal-data spans one post reports as
// evidence (a paste of thousands of numbers needs a few, not all).
const maxPIIEvidence = 25

// doxScorer is the doxxing signal: a linear model over personal data and
// its context, plus every piece of personal data as evidence when the
// post scores.
type doxScorer struct{ *linearScorer }

// newDoxxing scores private information published or sought.
func newDoxxing(m *Model) Scorer {
	return doxScorer{newLinear(msg.SignalDoxxing, m, doxxingFeatures)}
}

func (s doxScorer) Score(d *Document) (float64, []msg.Span) {
	p, ev := s.linearScorer.Score(d)
	if p < 0.3 {
		return p, ev
	}
	for i, x := range d.pii {
		if i == maxPIIEvidence {
			break
		}
		w := 0.5
		if x.kind == KindStreetName || x.kind == KindPostalCode {
			w = 0.25
		}
		ev = append(ev, msg.Span{Kind: x.kind, Start: x.start, End: x.end, Weight: w})
	}
	return p, mergeSpans(ev)
}

// privateCtx reports personal data in a sentence about someone other than
// the author, or about where they live, work or can be found.
func privateCtx(d *Document, pii cue) bool {
	return d.coAny(pii, cThird, cNamed, cLives, cWork, cFamily, cRequest, cFound, cDropLabel)
}

var doxxingFeatures = []feature{
	{"address", KindStreetAddress, func(d *Document) (float64, int, int) {
		ps := d.piiOf(KindStreetAddress)
		if len(ps) == 0 {
			return 0, -1, -1
		}
		return 1, ps[0].start, ps[0].end
	}},
	{"address_private", KindResidence, func(d *Document) (float64, int, int) {
		if d.co(cPIIAddress, cLives) || privateCtx(d, cPIIAddress) && !d.has(cSelf) {
			a, b := d.sentSpan(cPIIAddress)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"street_name", "", func(d *Document) (float64, int, int) { return b2f(d.has(cPIIStreet)) }},
	{"street_private", KindResidence, func(d *Document) (float64, int, int) {
		if d.coAny(cPIIStreet, cLives, cThird, cFamily) {
			a, b := d.sentSpan(cPIIStreet)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"phone", "", func(d *Document) (float64, int, int) { return b2f(d.has(cPIIPhone)) }},
	{"phone_private", KindPhone, func(d *Document) (float64, int, int) {
		if privateCtx(d, cPIIPhone) || d.coAny(cPIIPhone, cHarass) || d.has(cPIIPhone) && (d.has(cRequest) || d.has(cFound) || d.count(cDropLabel) >= 2) {
			a, b := d.sentSpan(cPIIPhone)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"email", "", func(d *Document) (float64, int, int) { return b2f(d.has(cPIIEmail)) }},
	{"strong_pii", KindPrivateOther, func(d *Document) (float64, int, int) {
		ps := d.piiOf(KindSSN, KindPaymentCard, KindCoordinates, KindPlate, KindDOB)
		if len(ps) == 0 {
			return 0, -1, -1
		}
		return 1, ps[0].start, ps[0].end
	}},
	{"ip", "", func(d *Document) (float64, int, int) { return b2f(len(d.piiOf(KindIPAddress)) > 0) }},
	{"ip_private", KindIPAddress, func(d *Document) (float64, int, int) {
		ps := d.piiOf(KindIPAddress)
		if len(ps) > 0 && privateCtx(d, cPIIOther) {
			return 1, ps[0].start, ps[0].end
		}
		return 0, -1, -1
	}},
	{"pii_kinds", "", func(d *Document) (float64, int, int) {
		seen := map[string]bool{}
		for _, p := range d.pii {
			seen[p.kind] = true
		}
		return capped(float64(len(seen)), 3)
	}},
	{"drop_labels", KindDoxDrop, func(d *Document) (float64, int, int) {
		if d.count(cDropLabel) < 2 {
			return 0, -1, -1
		}
		a, b := d.span(cDropLabel)
		v, _, _ := capped(d.count(cDropLabel)-1, 3)
		return v, a, b
	}},
	{"residence", KindResidence, func(d *Document) (float64, int, int) {
		if d.coAny(cLives, cThird, cNamed) {
			a, b := d.span(cLives)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"residence_any", "", func(d *Document) (float64, int, int) { return capped(d.count(cLives), 3) }},
	{"workplace", KindWorkplace, func(d *Document) (float64, int, int) {
		if d.coAny(cWork, cThird, cNamed) {
			a, b := d.span(cWork)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"routine", KindRoutine, func(d *Document) (float64, int, int) {
		if d.coAny(cRoutine, cThird, cNamed) {
			a, b := d.span(cRoutine)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"family", KindFamily, func(d *Document) (float64, int, int) {
		if d.coAny(cFamily, cThird, cNamed) && (d.has(cLives) || d.has(cWork) || d.has(cRoutine) || d.has(cPIIStreet) || d.has(cPIIAddress)) {
			a, b := d.span(cFamily)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"vehicle", KindVehicle, func(d *Document) (float64, int, int) {
		if d.coAny(cVehicle, cThird, cNamed, cPIIStrong) {
			a, b := d.span(cVehicle)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"request", KindDoxRequest, func(d *Document) (float64, int, int) {
		if d.coAny(cRequest, cLives, cWork, cVehicle, cPIIPhone, cThird, cNamed, cRoutine) {
			a, b := d.span(cRequest)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"found", KindDoxFound, func(d *Document) (float64, int, int) {
		if d.has(cFound) {
			a, b := d.span(cFound)
			v, _, _ := capped(d.count(cFound), 2)
			return v, a, b
		}
		return 0, -1, -1
	}},
	{"harass_call", KindHarassCall, func(d *Document) (float64, int, int) {
		if d.has(cHarass) && (d.has(cPIIPhone) || d.has(cPIIAddress) || d.has(cWork) || d.has(cLives)) {
			a, b := d.span(cHarass)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"private_ctx_count", "", func(d *Document) (float64, int, int) {
		n := 0
		for _, c := range []cue{cLives, cWork, cRoutine, cFamily, cVehicle, cFound, cRequest} {
			if d.has(c) {
				n++
			}
		}
		return capped(float64(n), 4)
	}},
	{"self", "", func(d *Document) (float64, int, int) {
		return b2f(d.coAny(cSelf, cPIIPhone, cPIIAddress, cPIIEmail, cPIIStreet))
	}},
	{"self_count", "", func(d *Document) (float64, int, int) { return capped(d.count(cSelf), 6) }},
	{"selling", "", func(d *Document) (float64, int, int) { return b2f(d.has(cSelling) || d.dollar) }},
	{"selling_pii", "", func(d *Document) (float64, int, int) {
		return b2f((d.has(cSelling) || d.dollar) && (d.has(cPIIPhone) || d.has(cPIIAddress) || d.has(cPIIEmail)))
	}},
	{"business_pii", "", func(d *Document) (float64, int, int) {
		return b2f(d.coAny(cBusiness, cPIIPhone, cPIIAddress, cPIIEmail, cPIIStreet))
	}},
	{"business", "", func(d *Document) (float64, int, int) { return capped(d.count(cBusiness), 3) }},
	{"public_role", "", func(d *Document) (float64, int, int) { return b2f(d.has(cPublicRole)) }},
	{"privacy_meta", "", func(d *Document) (float64, int, int) { return capped(d.count(cPrivacyMeta), 2) }},
	{"praise", "", func(d *Document) (float64, int, int) { return capped(d.count(cPraise), 2) }},
	{"advice", "", func(d *Document) (float64, int, int) { return capped(d.count(cAdvice), 2) }},
	{"news", "", func(d *Document) (float64, int, int) { return capped(d.count(cNews), 2) }},
	{"negated", "", func(d *Document) (float64, int, int) { return b2f(d.negated(cRequest) || d.negated(cLives)) }},
}
