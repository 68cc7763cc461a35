package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// TestAListedOriginIsAllowedHoweverItIsSpelled lists the console's origin
// the way an operator may write it: a browser sends it lower-case and
// without its scheme's default port, and must be let in all the same.
// Another site with a similar name is not.
func TestAListedOriginIsAllowedHoweverItIsSpelled(t *testing.T) {
	for _, tc := range []struct {
		listed, origin string
		allowed        bool
	}{
		{"https://soc.example.org", "https://soc.example.org", true},
		{"https://soc.example.org/", "https://soc.example.org", true},
		{"https://SOC.Example.org", "https://soc.example.org", true},
		{"HTTPS://soc.example.org", "https://soc.example.org", true},
		{"https://soc.example.org:443", "https://soc.example.org", true},
		{"http://soc.example.org:80", "http://soc.example.org", true},
		{"https://soc.example.org:8443", "https://soc.example.org:8443", true},
		{"https://soc.example.org:8443", "https://soc.example.org", false},
		{"https://soc.example.org", "http://soc.example.org", false},
		{"https://soc.example.org", "https://soc.example.org.evil.example", false},
		{"https://soc.example.org", "null", false},
	} {
		t.Run(tc.listed+" and "+tc.origin, func(t *testing.T) {
			h := newHarness(t, func(c *config.Serve) { c.CORSAllowedOrigins = []string{tc.listed} })
			req, _ := http.NewRequest("OPTIONS", h.ts.URL+"/api/v1/alerts", nil)
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", "GET")
			res, err := h.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got := res.StatusCode == http.StatusNoContent && res.Header.Get("Access-Control-Allow-Origin") == tc.origin
			if got != tc.allowed {
				t.Errorf("preflight from %s with %s listed: %d, allow-origin %q; want allowed=%v", tc.origin, tc.listed, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), tc.allowed)
			}
		})
	}
}

// TestACrossOriginClientCanReadTheHeadersTheAPIDocuments: a page on a
// listed origin can read only the response headers CORS exposes, so
// Retry-After (429, 503) and the export's headers must be exposed.
func TestACrossOriginClientCanReadTheHeadersTheAPIDocuments(t *testing.T) {
	h := newHarness(t, func(c *config.Serve) { c.CORSAllowedOrigins = []string{"https://soc.example.org"} })
	h.seed()
	req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/export/alerts?max=1", nil)
	req.Header.Set("Origin", "https://soc.example.org")
	req.Header.Set("Authorization", "Bearer "+testTokens[config.RoleAnalyst])
	res, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	exposed := strings.ToLower(res.Header.Get("Access-Control-Expose-Headers"))
	for _, name := range []string{"Retry-After", "X-Export-Max", "Content-Disposition"} {
		if !strings.Contains(exposed, strings.ToLower(name)) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, name)
		}
	}
}
