// Package spike decides what is normal for one key (a site or a target) and
// how far its current level stands above that, in the key's own units.
//
// A detector reads the key's hourly history (window.Hourly) and returns an
// Estimate: a robust baseline and a robust scale. The aggregator turns
// level, baseline and scale into a score and the alert lifecycle decides
// what pages. Detectors keep no state of their own, so a key's state is
// its history alone and checkpoints stay small and exact.
package spike

import (
	"math"
	"slices"

	"github.com/threatwatch/threatwatch/pipeline/window"
)

// Estimate is what normal looks like for a key, for a one-hour level.
type Estimate struct {
	// Baseline is the expected hourly level.
	Baseline float64
	// Scale is the robust spread of the hourly level around Baseline.
	Scale float64
	// Rel is the relative spread: Scale = Rel x Baseline (floored).
	Rel float64
	// Ready is false while the key has less history than the detector
	// needs to page on it.
	Ready bool
	// Seasonal says Baseline follows the hour of day (enough days seen).
	Seasonal bool
	// Hours is how many hours of history the estimate used.
	Hours int
	// DailyPeak is the key's typical daily peak: the median, over the
	// complete days (UTC) of the history, of each day's busiest hour. A
	// level the key reaches on a typical day is not a spike, whatever the
	// hour; 0 when no complete day is known.
	DailyPeak float64
}

// Detector estimates normal from a key's history.
//
// Estimate is called with the hourly history, the hours in which the key's
// spike condition held (nil: learn from every hour), and the hour h the
// current level's window ends in; it must use only hours before h (the
// current hour is the one being judged), must not retain its arguments,
// and must be deterministic. It is called once per key per hour, not per
// post.
type Detector interface {
	Estimate(hist *window.Hourly, spikes *window.Flags, h int64) Estimate
}

// Seasonal is the default detector: a seasonal median with a robust scale.
//
//   - Baseline: the median of the same two hours of the day (the hour the
//     window ends in and the one before, which the one-hour sliding window
//     overlaps) over the past Days days. A median of same-hour values
//     follows the daily rhythm, is not moved by a spike on one of the days
//     (a past incident does not raise the bar for the next one), follows
//     slow growth within days, and, with Days = 7, sees five weekdays and
//     two weekend days, so a quiet weekend never makes a weekday look like a
//     spike. With fewer than MinSeasonalDays days it is the median of all
//     hours seen.
//   - Scale: volumes vary by ratios (a busy hour bursts by more posts than
//     a quiet one), so the spread is measured relative to normal: for every
//     past hour, |hour - its hour-of-day median| / that median, and the
//     relative spread Rel is estimated twice, each estimate consistent with
//     a standard deviation were the residuals normal: 1.4826 x their median,
//     and their 98th percentile / 2.054. Threat and mention volumes are
//     bursty (heavy tailed): the median sees only the calm middle and would
//     call every ordinary burst a spike, while the 98th percentile learns
//     how far the key's recurring bursts go (a burst seen in more than 2% of
//     the hours, about 3 hours a week, is part of normal) yet is not moved
//     by one incident of an hour or two. Scale = Rel x Baseline, floored at
//     the Poisson spread sqrt(Baseline) (a count cannot be steadier than
//     that) and at MinScale.
//   - Incidents are not normal: hours in which the key's spike condition
//     held (the spikes flags the aggregator keeps) are left out of the
//     spread. Without this, an incident of several bursts in a day (more
//     than 2% of a week's hours) would teach the detector that such bursts
//     are ordinary, and the next wave of the same campaign would not page.
//     What does recur is caught by the daily peak instead.
//   - DailyPeak: the median over the past days of each day's busiest hour.
//     The aggregator never pages on a level the key reaches on a typical
//     day, whatever the hour: a level that is ordinary at the evening peak
//     is a shift in timing at 6 am, not a new campaign, and bursts that
//     come back most days are the key's normal even when the hours they
//     fall in vary.
//
// A hostile normal is just a high baseline with its own spread: only a rise
// well outside the key's own variation scores high.
type Seasonal struct {
	// Days of history looked at (at most the ring's length).
	Days int
	// LearningHours of history are needed before Ready.
	LearningHours int64
	// MinScale floors Scale.
	MinScale float64
	// MinSeasonalDays are needed before the baseline follows the hour of
	// day.
	MinSeasonalDays int

	scratch []float64
	resid   []float64
	days    []float64
	profile [24]float64
}

// NewSeasonal returns the default detector.
func NewSeasonal(days int, learningHours int64, minScale float64) *Seasonal {
	return &Seasonal{Days: days, LearningHours: learningHours, MinScale: minScale, MinSeasonalDays: 3}
}

// Estimate implements Detector.
func (d *Seasonal) Estimate(hist *window.Hourly, spikes *window.Flags, h int64) Estimate {
	hi := min(h-1, hist.Head)
	lo := max(hist.Since, hist.Head-int64(hist.Len())+1, h-int64(d.Days)*24)
	if !hist.Started() || hi < lo {
		return Estimate{Scale: d.MinScale, Ready: d.LearningHours <= 0}
	}
	n := hi - lo + 1
	e := Estimate{Hours: int(n), Ready: n >= d.LearningHours}
	days := int(n / 24)
	e.Seasonal = days >= d.MinSeasonalDays

	// Hour-of-day profile (or one flat median) of the history.
	if e.Seasonal {
		for hod := int64(0); hod < 24; hod++ {
			d.scratch = d.scratch[:0]
			for j := hi - mod(hi-hod, 24); j >= lo; j -= 24 {
				v, _ := hist.At(j)
				d.scratch = append(d.scratch, v)
			}
			d.profile[hod] = median(d.scratch)
		}
	} else {
		d.scratch = d.scratch[:0]
		for j := lo; j <= hi; j++ {
			v, _ := hist.At(j)
			d.scratch = append(d.scratch, v)
		}
		flat := median(d.scratch)
		for i := range d.profile {
			d.profile[i] = flat
		}
	}

	// Baseline for the window ending in hour h: the same two hours of day.
	if e.Seasonal {
		d.scratch = d.scratch[:0]
		for _, target := range [2]int64{h, h - 1} {
			for j := target - 24; j >= lo; j -= 24 {
				if j <= hi {
					v, _ := hist.At(j)
					d.scratch = append(d.scratch, v)
				}
			}
		}
		e.Baseline = median(d.scratch)
	} else {
		e.Baseline = d.profile[0]
	}

	e.DailyPeak = d.dailyPeak(hist, spikes, lo, hi)

	// Robust relative scale of the residuals once the rhythm is removed,
	// over the hours that were not spikes.
	d.resid = d.resid[:0]
	for j := lo; j <= hi; j++ {
		if spikes.Has(j) {
			continue
		}
		v, _ := hist.At(j)
		p := d.profile[mod(j, 24)]
		d.resid = append(d.resid, math.Abs(v-p)/max(p, d.MinScale))
	}
	if len(d.resid) == 0 {
		// Every hour was a spike: nothing calm to learn a spread from.
		e.Scale = max(math.Sqrt(max(e.Baseline, 0)), d.MinScale)
		return e
	}
	mad := median(d.resid) // sorts resid
	q98 := d.resid[(len(d.resid)-1)*98/100]
	e.Rel = max(1.4826*mad, q98/2.054)
	e.Scale = max(e.Rel*e.Baseline, math.Sqrt(max(e.Baseline, 0)), d.MinScale)
	return e
}

// dailyPeak is the median, over the complete days (UTC) in hours lo..hi,
// of each day's largest hourly total, leaving out the spike that is going
// on: the run of spike hours that reaches hi. Counted, that spike would
// raise the bar it has to clear as soon as its day completes (on a key
// with one or two complete days, the median is that day) and stop paging
// while it still holds. Past spikes count: a burst the key has most days
// is its typical peak.
func (d *Seasonal) dailyPeak(hist *window.Hourly, spikes *window.Flags, lo, hi int64) float64 {
	ongoing := hi + 1
	for ongoing > lo && spikes.Has(ongoing-1) {
		ongoing--
	}
	d.days = d.days[:0]
	for day := floorDiv(lo+23, 24); day*24+23 <= hi; day++ {
		peak, calm := 0.0, false
		for j := day * 24; j < day*24+24; j++ {
			if j >= ongoing {
				break
			}
			v, _ := hist.At(j)
			peak, calm = max(peak, v), true
		}
		if calm {
			d.days = append(d.days, peak)
		}
	}
	return median(d.days)
}

// Score is how far level stands above the estimate, in robust standard
// deviations, for a level summed over factor hours (window / 1h): baseline
// and spread are scaled to the window, and the Poisson floor recomputed.
func Score(level float64, e Estimate, factor float64, minScale float64) (baseline, score float64) {
	b := e.Baseline * factor
	s := max(e.Scale*factor, math.Sqrt(max(b, 0)), minScale)
	return b, (level - b) / s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

// median sorts v in place and returns its median (0 for none).
func median(v []float64) float64 {
	n := len(v)
	if n == 0 {
		return 0
	}
	slices.Sort(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
