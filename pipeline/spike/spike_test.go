package spike

import (
	"math"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/window"
)

// fill puts days of hourly totals with a daily rhythm around mean into h.
func fill(h *window.Hourly, days int, mean float64) int64 {
	var last int64
	for i := int64(0); i < int64(days*24); i++ {
		v := mean * (1 + 0.5*math.Sin(float64(i%24)/24*2*math.Pi))
		h.Add(1000*24+i, v)
		last = 1000*24 + i
	}
	return last
}

func TestSeasonal(t *testing.T) {
	d := NewSeasonal(7, 24, 1)
	t.Run("a new key is not ready", func(t *testing.T) {
		h := window.NewHourly(168)
		h.Add(1000, 3)
		if e := d.Estimate(h, nil, 1005); e.Ready {
			t.Errorf("ready after 5 hours: %+v", e)
		}
	})
	t.Run("the baseline follows the hour of day", func(t *testing.T) {
		h := window.NewHourly(168)
		last := fill(h, 7, 100)
		peak, trough := last+1-24+6, last+1-24+18 // hours 6 and 18 of the day
		ep, et := d.Estimate(h, nil, peak+24), d.Estimate(h, nil, trough+24)
		if !ep.Ready || !ep.Seasonal || ep.Baseline < 130 || et.Baseline > 70 {
			t.Errorf("peak %+v trough %+v", ep, et)
		}
	})
	t.Run("a hostile normal is just a high baseline", func(t *testing.T) {
		h := window.NewHourly(168)
		last := fill(h, 7, 500)
		e := d.Estimate(h, nil, last+1)
		b, z := Score(e.Baseline*1.1, e, 1, 1)
		if z > 3 {
			t.Errorf("10%% above a hostile normal scores %v (baseline %v)", z, b)
		}
		if _, z := Score(e.Baseline*5, e, 1, 1); z < 6 {
			t.Errorf("five times a hostile normal scores only %v", z)
		}
	})
	t.Run("one past incident does not raise the bar", func(t *testing.T) {
		h := window.NewHourly(168)
		last := fill(h, 7, 50)
		before := d.Estimate(h, nil, last+1)
		h2 := window.NewHourly(168)
		fill(h2, 7, 50)
		h2.Add(last-30, 5000) // one hour of a past incident
		after := d.Estimate(h2, nil, last+1)
		if after.Scale > before.Scale*1.2 || after.Baseline != before.Baseline {
			t.Errorf("one incident moved the estimate: %+v -> %+v", before, after)
		}
	})
	t.Run("a day of incidents does not raise the bar when its hours are flagged", func(t *testing.T) {
		h := window.NewHourly(168)
		last := fill(h, 7, 50)
		before := d.Estimate(h, nil, last+1)
		// Six burst hours on one day: more than 2% of the week, so without
		// the flags the spread learns them.
		spikes := window.NewFlags(168)
		for _, j := range []int64{last - 40, last - 39, last - 35, last - 34, last - 30, last - 29} {
			h.Add(j, 2000)
			spikes.Set(j)
		}
		learned := d.Estimate(h, nil, last+1)
		if learned.Scale < before.Scale*3 {
			t.Fatalf("the unflagged bursts should widen the spread: %v -> %v", before.Scale, learned.Scale)
		}
		flagged := d.Estimate(h, spikes, last+1)
		if flagged.Scale > before.Scale*1.2 {
			t.Errorf("flagged incident hours moved the spread: %v -> %v", before.Scale, flagged.Scale)
		}
	})
	t.Run("the daily peak is the median of each day's busiest hour", func(t *testing.T) {
		h := window.NewHourly(168)
		start := int64(1000 * 24) // midnight UTC
		for i := start; i < start+7*24; i++ {
			h.Add(i, 10)
		}
		// Day peaks: 40, 50, 60, 70, 80, and one day of a 5000 incident.
		for k, v := range []float64{40, 50, 60, 70, 80, 5000} {
			h.Add(start+int64(k)*24+20, v-10)
		}
		e := d.Estimate(h, nil, start+7*24)
		// Seven complete days: 10, 40, 50, 60, 70, 80, 5000; median 60.
		if e.DailyPeak != 60 {
			t.Errorf("daily peak %v, want 60", e.DailyPeak)
		}
		// In the middle of a day, the partial first day is not a day.
		if e := d.Estimate(h, nil, start+7*24+12); e.DailyPeak != 65 {
			t.Errorf("daily peak at noon %v, want 65 (six complete days)", e.DailyPeak)
		}
	})
	t.Run("the spike going on is not a day's peak; past spikes are", func(t *testing.T) {
		h := window.NewHourly(168)
		f := window.NewFlags(168)
		start := int64(1000 * 24) // midnight UTC
		for i := start - 6; i < start+24; i++ {
			h.Add(i, 5)
		}
		// A campaign in the last two hours of the day: flagged as it fired.
		for _, i := range []int64{start + 22, start + 23} {
			h.Add(i, 135)
			f.Set(i)
		}
		// The day has just completed: its peak is the calm 5, not the
		// campaign still going on.
		if e := d.Estimate(h, f, start+24); e.DailyPeak != 5 {
			t.Errorf("daily peak while the spike goes on: %v, want 5", e.DailyPeak)
		}
		// Once it has stopped (a calm hour after it), the day's peak is
		// its burst again: a burst the key has most days is its typical
		// peak, flagged or not.
		h.Add(start+24, 5)
		if e := d.Estimate(h, f, start+25); e.DailyPeak != 140 {
			t.Errorf("daily peak after the spike: %v, want 140", e.DailyPeak)
		}
		// Without flags nothing is left out.
		if e := d.Estimate(h, nil, start+24); e.DailyPeak != 140 {
			t.Errorf("daily peak with no spike flags: %v, want 140", e.DailyPeak)
		}
	})
	t.Run("a quiet key's scale is floored", func(t *testing.T) {
		h := window.NewHourly(168)
		for i := int64(0); i < 72; i++ {
			h.Add(i, 0)
		}
		if e := d.Estimate(h, nil, 72); e.Scale < 1 || e.Baseline != 0 {
			t.Errorf("quiet estimate %+v", e)
		}
	})
}

// BenchmarkEstimate is one estimate over a full week of history: the
// aggregator makes one per key per hour of event time.
func BenchmarkEstimate(b *testing.B) {
	d := NewSeasonal(7, 24, 1)
	h := window.NewHourly(168)
	last := fill(h, 8, 40)
	f := window.NewFlags(168)
	f.Set(last - 30)
	f.Set(last - 29)
	b.ReportAllocs()
	for i := range b.N {
		_ = d.Estimate(h, f, last+1-int64(i%2))
	}
}
