package api

import (
	"net/url"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestTheHourlyTierKeepsThePartialHourAtTheLeftEdge asks the hourly tier
// for ranges that start inside an hour, as the 7 d and 30 d charts do
// (their from is now minus the range): the hour from starts in holds
// levels inside the range and must be in the answer, not dropped.
func TestTheHourlyTierKeepsThePartialHourAtTheLeftEdge(t *testing.T) {
	h := newHarness(t, nil)
	hour := h.now.Truncate(time.Hour).Add(-5 * time.Hour)
	for _, p := range []struct {
		after time.Duration
		level float64
	}{{40 * time.Minute, 9}, {70 * time.Minute, 3}, {130 * time.Minute, 4}} {
		h.level(msg.Level{Site: "s", Time: hour.Add(p.after), Level: p.level, Baseline: 1, Name: "normal"})
	}
	from := hour.Add(30 * time.Minute)
	to := hour.Add(3 * time.Hour)
	f := func(step string, wantMax []float64, wantT []time.Time) {
		t.Helper()
		var ser Series
		h.getJSON("/api/v1/levels?site=s&step="+step+"&from="+url.QueryEscape(from.Format(time.RFC3339))+"&to="+url.QueryEscape(to.Format(time.RFC3339)), config.RoleViewer, &ser)
		if ser.Tier != "hourly" {
			t.Fatalf("step %s: tier %s", step, ser.Tier)
		}
		if len(ser.Points) != len(wantMax) {
			t.Fatalf("step %s: %d points %+v, want maxima %v", step, len(ser.Points), ser.Points, wantMax)
		}
		for i, p := range ser.Points {
			if p.Max != wantMax[i] || !p.T.Equal(wantT[i]) {
				t.Errorf("step %s, point %d: max %v at %v, want %v at %v", step, i, p.Max, p.T, wantMax[i], wantT[i])
			}
			if p.T.Before(from) || !p.T.Before(to) {
				t.Errorf("step %s, point %d at %v is outside [%v, %v)", step, i, p.T, from, to)
			}
		}
	}
	// The first bucket starts at from; the others on the hour they hold.
	f("1h", []float64{9, 3, 4}, []time.Time{from, hour.Add(time.Hour), hour.Add(2 * time.Hour)})
	f("6h", []float64{9}, []time.Time{from})
}
