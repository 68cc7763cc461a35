package api

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// TestATimeWithAnOffsetMeansTheSameInstantHoweverItIsWritten sends the
// same instant as from in the forms a person or a script writes it: UTC,
// an offset escaped, and an offset typed into a URL as it is, whose "+" a
// query string reads as a space. Each must select the same series.
func TestATimeWithAnOffsetMeansTheSameInstantHoweverItIsWritten(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	from := h.now.Add(-time.Hour).UTC()
	to := h.now.Add(time.Minute).UTC()
	east := time.FixedZone("", 2*3600)
	west := time.FixedZone("", -5*3600)
	for _, tc := range []struct{ name, from string }{
		{"in UTC", from.Format(time.RFC3339)},
		{"with an escaped offset east of UTC", url.QueryEscape(from.In(east).Format(time.RFC3339))},
		{"with an offset east of UTC typed unescaped", from.In(east).Format(time.RFC3339)},
		{"with fractional seconds and an offset typed unescaped", from.In(east).Format("2006-01-02T15:04:05.000Z07:00")},
		{"with an offset west of UTC", from.In(west).Format(time.RFC3339)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "unescaped") && !strings.Contains(tc.from, "+") {
				t.Fatalf("the case should carry a raw +: %s", tc.from)
			}
			code, body, _ := h.do("GET", "/api/v1/levels?site=forum-a&step=10m&from="+tc.from+"&to="+to.Format(time.RFC3339), config.RoleViewer, nil)
			var ser Series
			if code != 200 || json.Unmarshal(body, &ser) != nil {
				t.Fatalf("from=%s: %d %s", tc.from, code, body)
			}
			if !ser.From.Equal(from) || len(ser.Points) == 0 {
				t.Errorf("from=%s: series from %v with %d points, want from %v", tc.from, ser.From, len(ser.Points), from)
			}
		})
	}
}
