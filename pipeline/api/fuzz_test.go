package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// FuzzAPI sends any method, path, query and body to the API as each role,
// on the seeded data with its planted personal data. Whatever the request,
// the answer is a clear client error or a success, never a server error
// (a 5xx here is an input the handlers did not expect), a JSON answer is
// valid JSON, and nothing a viewer receives holds the planted data.
// Seeds are the endpoints every other test calls; the live stream is left
// out, since it does not end.
func FuzzAPI(f *testing.F) {
	h := newHarness(f, nil)
	firing, resolved := h.seed()
	roles := []string{"", config.RoleViewer, config.RoleResponder, config.RoleAnalyst}
	for _, e := range endpoints(firing, resolved, TargetID("clara sorrenti")) {
		var body []byte
		if e.body != nil {
			body, _ = json.Marshal(e.body)
		}
		for i, r := range roles {
			if r == e.role {
				f.Add(e.method, e.path, body, uint8(i))
			}
		}
	}
	handler := h.srv.Handler()
	f.Fuzz(func(t *testing.T, method, target string, body []byte, role uint8) {
		if strings.HasPrefix(target, "/api/v1/events") {
			return
		}
		req, err := http.NewRequest(method, "http://api.test"+target, bytes.NewReader(body))
		if err != nil || req.URL.Path == "" || req.URL.Host != "api.test" {
			return // not a request a client could send
		}
		who := roles[int(role)%len(roles)]
		if who != "" {
			req.Header.Set("Authorization", "Bearer "+testTokens[who])
		}
		if len(body) > 0 {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		res := rec.Result()
		out := rec.Body.Bytes()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s as %q: %d %s", method, target, who, res.StatusCode, out)
		}
		if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && !json.Valid(out) {
			t.Fatalf("%s %s: invalid JSON: %s", method, target, out)
		}
		if who == config.RoleViewer || who == "" {
			if p := containsPII(out); p != "" {
				t.Fatalf("%s %s as %q holds %q:\n%s", method, target, who, p, out)
			}
		}
	})
}
