package api

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// An export stops at max alerts. It used to end as cleanly as a whole
// one, so an analyst could not tell that more had matched; the trailers
// now give the count and say whether more matched (checked, not guessed
// from a full last page), and X-Export-Max gives the cap up front.
func TestAnExportSaysWhetherMoreAlertsMatchedThanItsMax(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	_, all, _ := h.do("GET", "/api/v1/export/alerts?format=jsonl&max=100", config.RoleAnalyst, nil)
	total := strings.Count(string(all), "\n")
	if total < 2 {
		t.Fatalf("the seed gives %d alerts, want at least 2", total)
	}
	for _, c := range []struct {
		max       int
		count     int
		truncated string
	}{
		{total - 1, total - 1, "true"},
		{total, total, "false"}, // a full last page, and nothing after it
		{total + 5, total, "false"},
	} {
		req, err := http.NewRequest("GET", h.ts.URL+"/api/v1/export/alerts?format=jsonl&max="+strconv.Itoa(c.max), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testTokens[config.RoleAnalyst])
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(body), "\n"); got != c.count {
			t.Errorf("max %d: %d alerts, want %d", c.max, got, c.count)
		}
		if res.Header.Get("X-Export-Max") != strconv.Itoa(c.max) {
			t.Errorf("max %d: X-Export-Max %q", c.max, res.Header.Get("X-Export-Max"))
		}
		if got := res.Trailer.Get("X-Export-Count"); got != strconv.Itoa(c.count) {
			t.Errorf("max %d: X-Export-Count trailer %q, want %d", c.max, got, c.count)
		}
		if got := res.Trailer.Get("X-Export-Truncated"); got != c.truncated {
			t.Errorf("max %d: X-Export-Truncated trailer %q, want %s", c.max, got, c.truncated)
		}
	}
}
