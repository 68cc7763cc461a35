package classifiers

import "github.com/threatwatch/threatwatch/pipeline/msg"

// Evidence kinds of the swatting signal.
const (
	KindSwatRequest  = "swat_request"
	KindFalseReport  = "false_report"
	KindCodedSwat    = "coded_swat"
	KindSwatReport   = "swat_report"
	KindBombThreat   = "bomb_threat"
	KindHypothetical = "hypothetical_swat"
)

// newSwatting scores calls, plans and coordination of false emergency
// reports meant to send armed police to a target, and (weighing less)
// reports that someone was swatted.
func newSwatting(m *Model) Scorer {
	return newLinear(msg.SignalSwatting, m, swattingFeatures)
}

var swattingFeatures = []feature{
	{"false_report", KindFalseReport, func(d *Document) (float64, int, int) {
		if d.coAny(cFalseReport, cEmergency, cPolice, cSwat) {
			a, b := d.sentSpan(cFalseReport)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"emergency_police", KindFalseReport, func(d *Document) (float64, int, int) {
		if d.co(cEmergency, cPolice) {
			a, b := d.sentSpan(cEmergency, cPolice)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"swat_plan", KindSwatRequest, func(d *Document) (float64, int, int) {
		if d.coAny(cSwat, cIncite, cIntent, cTimePlace) || d.coAny(cFalseReport, cIncite, cIntent) {
			a, b := d.span(cSwat)
			if a < 0 {
				a, b = d.span(cFalseReport)
			}
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"coded", KindCodedSwat, func(d *Document) (float64, int, int) {
		a, b := d.span(cCoded)
		if a < 0 {
			return 0, -1, -1
		}
		v, _, _ := capped(d.count(cCoded), 2)
		return v, a, b
	}},
	{"swatted_report", KindSwatReport, func(d *Document) (float64, int, int) {
		a, b := d.span(cSwatted)
		return at(a >= 0, a, b)
	}},
	{"bomb_threat", KindBombThreat, func(d *Document) (float64, int, int) {
		a, b := d.span(cBombThreat)
		return at(a >= 0, a, b)
	}},
	{"hypothetical", KindHypothetical, func(d *Document) (float64, int, int) {
		if d.has(cHypothetical) && (d.has(cPolice) || d.has(cEmergency)) {
			a, b := d.span(cHypothetical)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"swat_word", "", func(d *Document) (float64, int, int) { return b2f(d.has(cSwat)) }},
	{"swat_discussed", "", func(d *Document) (float64, int, int) {
		// Swatting or hoax calls in a sentence of news, condemnation,
		// advice, history, fiction or games: talk about swatting.
		for _, c := range []cue{cSwat, cFalseReport, cSwatted} {
			if d.coAny(c, cNews, cCondemn, cMeta, cAdvice, cHistory, cFiction, cGame) {
				return 1, -1, -1
			}
		}
		return 0, -1, -1
	}},
	{"swat_named", KindSwatRequest, func(d *Document) (float64, int, int) {
		if d.coAny(cNamed, cSwat, cEmergency) && (d.has(cPolice) || d.has(cSwat)) {
			a, b := d.sentSpan(cNamed, cSwat)
			return 1, a, b
		}
		return 0, -1, -1
	}},
	{"emergency", "", func(d *Document) (float64, int, int) { return capped(d.count(cEmergency), 2) }},
	{"police", "", func(d *Document) (float64, int, int) { return capped(d.count(cPolice), 2) }},
	{"address_present", "", func(d *Document) (float64, int, int) { return b2f(d.has(cPIIAddress) || d.has(cPIIStreet)) }},
	{"literal_swat", "", func(d *Document) (float64, int, int) { return b2f(d.co(cSwat, cLiteralSwat)) }},
	{"relative_job", "", func(d *Document) (float64, int, int) { return b2f(d.has(cRelativeJob)) }},
	{"news", "", func(d *Document) (float64, int, int) { return capped(d.count(cNews), 2) }},
	{"fiction", "", func(d *Document) (float64, int, int) { return capped(d.count(cFiction), 2) }},
	{"game", "", func(d *Document) (float64, int, int) { return capped(d.count(cGame), 2) }},
	{"history", "", func(d *Document) (float64, int, int) { return capped(d.count(cHistory), 2) }},
	{"advice", "", func(d *Document) (float64, int, int) { return capped(d.count(cAdvice), 2) }},
	{"condemn", "", func(d *Document) (float64, int, int) { return capped(d.count(cCondemn), 2) }},
	{"meta", "", func(d *Document) (float64, int, int) { return b2f(d.has(cMeta)) }},
	{"negated", "", func(d *Document) (float64, int, int) { return b2f(d.negated(cSwat) || d.negated(cFalseReport)) }},
	{"quoted_swat", "", func(d *Document) (float64, int, int) {
		return b2f(d.quotedHas(cSwat) || d.quotedHas(cFalseReport) || d.quotedHas(cCoded))
	}},
}
