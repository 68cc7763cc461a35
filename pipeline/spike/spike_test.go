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
		if e := d.Estimate(h, 1005); e.Ready {
			t.Errorf("ready after 5 hours: %+v", e)
		}
	})
	t.Run("the baseline follows the hour of day", func(t *testing.T) {
		h := window.NewHourly(168)
		last := fill(h, 7, 100)
		peak, trough := last+1-24+6, last+1-24+18 // hours 6 and 18 of the day
		ep, et := d.Estimate(h, peak+24), d.Estimate(h, trough+24)
		if !ep.Ready || !ep.Seasonal || ep.Baseline < 130 || et.Baseline > 70 {
			t.Errorf("peak %+v trough %+v", ep, et)
		}
	})
	t.Run("a hostile normal is just a high baseline", func(t *testing.T) {
		h := window.NewHourly(168)
		last := fill(h, 7, 500)
		e := d.Estimate(h, last+1)
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
		before := d.Estimate(h, last+1)
		h2 := window.NewHourly(168)
		fill(h2, 7, 50)
		h2.Add(last-30, 5000) // one hour of a past incident
		after := d.Estimate(h2, last+1)
		if after.Scale > before.Scale*1.2 || after.Baseline != before.Baseline {
			t.Errorf("one incident moved the estimate: %+v -> %+v", before, after)
		}
	})
	t.Run("a quiet key's scale is floored", func(t *testing.T) {
		h := window.NewHourly(168)
		for i := int64(0); i < 72; i++ {
			h.Add(i, 0)
		}
		if e := d.Estimate(h, 72); e.Scale < 1 || e.Baseline != 0 {
			t.Errorf("quiet estimate %+v", e)
		}
	})
}
