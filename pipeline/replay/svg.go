package replay

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Chart colours: level, baseline, and one per signal in msg.Signals order.
var (
	colorLevel    = "#1f5fa8"
	colorBaseline = "#8a8a8a"
	colorFiring   = "#c0392b"
	colorResolved = "#2e8b57"
	colorSignals  = [3]string{"#d62728", "#ff9f1a", "#8e44ad"}
)

// chart geometry
const (
	chartW     = 960
	chartH     = 320
	padL       = 58
	padR       = 16
	padT       = 28
	levelH     = 170
	mixGap     = 26
	mixH       = 50
	axisH      = 22
	plotW      = chartW - padL - padR
	mixTop     = padT + levelH + mixGap
	axisTop    = mixTop + mixH
	legendTopY = 16
)

// ChartSVG draws one series as a standalone SVG image: the level and the
// baseline over time with alert onsets (red) and resolutions (green)
// marked, and below it the signal mix (each signal's share of the level).
// from and to give the time axis, so the charts of one report line up.
// The drawing is pure Go and deterministic: the same series gives the same
// bytes.
func ChartSVG(s *Series, from, to time.Time) string {
	if !to.After(from) {
		to = from.Add(time.Hour)
	}
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return padL + plotW*t.Sub(from).Seconds()/span }
	ymax := 1.0
	for _, p := range s.Points {
		ymax = max(ymax, p.Level, p.Baseline)
	}
	ymax, yticks := niceScale(ymax * 1.08)
	y := func(v float64) float64 { return padT + levelH - levelH*v/ymax }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, chartW, chartH, chartW, chartH)
	title := s.Site
	if s.Target != "" {
		title = "target " + s.Target
		if s.Site != "" {
			title += " on " + s.Site
		}
	}
	fmt.Fprintf(&b, `<title>threat level: %s</title>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>`, chartW, chartH)
	// Legend.
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold" font-size="12">%s</text>`, padL, legendTopY, html.EscapeString(title))
	lx := chartW - padR - 470
	legend := func(color, label string, dash bool) {
		d := ""
		if dash {
			d = ` stroke-dasharray="5,3"`
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><text x="%d" y="%d">%s</text>`,
			lx, legendTopY-4, lx+18, legendTopY-4, color, d, lx+22, legendTopY, label)
		lx += 26 + 7*len(label)
	}
	legend(colorLevel, "level", false)
	legend(colorBaseline, "baseline", true)
	legend(colorFiring, "alert fired", false)
	legend(colorResolved, "resolved", false)

	// Grid and y axis.
	for _, v := range yticks {
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#e6e6e6"/>`, padL, f1(yy), padL+plotW, f1(yy))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end">%s</text>`, padL-6, f1(yy+4), fmtTick(v))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#bbb"/>`, padL, padT, plotW, levelH)
	fmt.Fprintf(&b, `<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">level</text>`, padT+levelH/2, padT+levelH/2)

	// Time axis.
	step, layout := timeStep(to.Sub(from))
	for t := ceilTime(from, step); !t.After(to); t = t.Add(step) {
		xx := x(t)
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#f0f0f0"/>`, f1(xx), padT, f1(xx), padT+levelH)
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#999"/>`, f1(xx), axisTop, f1(xx), axisTop+4)
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`, f1(xx), axisTop+16, t.UTC().Format(layout))
	}

	if len(s.Points) > 0 {
		// Level area and line, baseline dashed.
		var lvl, base strings.Builder
		for i, p := range s.Points {
			sep := " "
			if i == 0 {
				sep = ""
			}
			lvl.WriteString(sep + f1(x(p.Time)) + "," + f1(y(p.Level)))
			base.WriteString(sep + f1(x(p.Time)) + "," + f1(y(p.Baseline)))
		}
		first, last := s.Points[0], s.Points[len(s.Points)-1]
		fmt.Fprintf(&b, `<polygon points="%s,%s %s %s,%s" fill="%s" fill-opacity="0.12"/>`,
			f1(x(first.Time)), f1(y(0)), lvl.String(), f1(x(last.Time)), f1(y(0)), colorLevel)
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"/>`, lvl.String(), colorLevel)
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.4" stroke-dasharray="5,3"/>`, base.String(), colorBaseline)

		// Signal mix: stacked shares, one band per signal.
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#bbb"/>`, padL, mixTop, plotW, mixH)
		fmt.Fprintf(&b, `<text x="%d" y="%d">signal mix</text>`, padL, mixTop-6)
		mx := padL + 70
		for i, sig := range msg.Signals {
			if i >= len(colorSignals) {
				break
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="9" height="9" fill="%s"/><text x="%d" y="%d">%s</text>`, mx, mixTop-14, colorSignals[i], mx+12, mixTop-6, sig)
			mx += 24 + 7*len(sig)
		}
		// Each bucket is drawn as a step up to the next one, so a gap with
		// no signal shows as a gap, not as a slope.
		for j, p := range s.Points {
			tot := p.Signals[0] + p.Signals[1] + p.Signals[2]
			if tot <= 0 {
				continue
			}
			x0 := x(p.Time)
			x1 := x(to)
			if j+1 < len(s.Points) {
				x1 = x(s.Points[j+1].Time)
			}
			if w := x1 - x0; w > 0 {
				acc := 0.0
				for i := range colorSignals {
					share := p.Signals[i] / tot
					if share <= 0 {
						continue
					}
					y1 := mixTop + mixH - mixH*(acc+share)
					fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, f1(x0), f1(y1), f1(max(w, 0.6)), f1(mixH*share), colorSignals[i])
					acc += share
				}
			}
		}
	} else {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#888">no level points</text>`, padL+plotW/2, padT+levelH/2)
	}

	// Alert markers over everything.
	for _, m := range s.Markers {
		xx := f1(x(m.Time))
		color := colorFiring
		if m.Status == msg.StatusResolved {
			color = colorResolved
		}
		label := fmt.Sprintf("%s %s %s at %s", m.Name, m.Severity, m.Status, m.Time.UTC().Format("2006-01-02 15:04"))
		if m.Status == MarkerEscalated {
			label = fmt.Sprintf("%s escalated to %s at %s", m.Name, m.Severity, m.Time.UTC().Format("2006-01-02 15:04"))
		}
		fmt.Fprintf(&b, `<g><title>%s</title><line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-width="1.5" stroke-dasharray="3,2"/>`,
			html.EscapeString(label), xx, padT, xx, padT+levelH, color)
		if m.Status == msg.StatusFiring {
			fmt.Fprintf(&b, `<polygon points="%s,%d %s,%d %s,%d" fill="%s"/>`, f1(x(m.Time)-5), padT-8, f1(x(m.Time)+5), padT-8, xx, padT, color)
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func f1(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

func fmtTick(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// niceScale rounds max up to a round number and returns 4-6 ticks.
func niceScale(m float64) (float64, []float64) {
	raw := m / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	var step float64
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		step = f * mag
		if step >= raw {
			break
		}
	}
	top := math.Ceil(m/step) * step
	var ticks []float64
	for v := 0.0; v <= top+step/2; v += step {
		ticks = append(ticks, v)
	}
	return top, ticks
}

// timeStep picks a tick interval giving at most about 8 labels.
func timeStep(d time.Duration) (time.Duration, string) {
	for _, c := range []struct {
		d      time.Duration
		layout string
	}{
		{5 * time.Minute, "15:04"}, {15 * time.Minute, "15:04"}, {time.Hour, "Jan 2 15:04"}, {3 * time.Hour, "Jan 2 15:04"},
		{6 * time.Hour, "Jan 2 15:04"}, {12 * time.Hour, "Jan 2 15:04"}, {24 * time.Hour, "Jan 2"}, {48 * time.Hour, "Jan 2"},
		{7 * 24 * time.Hour, "Jan 2"}, {14 * 24 * time.Hour, "Jan 2"}, {28 * 24 * time.Hour, "Jan 2 2006"}, {91 * 24 * time.Hour, "Jan 2006"},
	} {
		if d/c.d <= 8 {
			return c.d, c.layout
		}
	}
	return 365 * 24 * time.Hour, "2006"
}

func ceilTime(t time.Time, step time.Duration) time.Time {
	c := t.Truncate(step)
	if c.Before(t) {
		c = c.Add(step)
	}
	return c
}
