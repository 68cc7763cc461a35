package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// TestABodyWithDataAfterItsJSONIsABadRequest: a client that sends two
// objects, or an object and then anything, meant something the server
// did not read. Taking the first and dropping the rest would record an
// acknowledgement or a silence the caller may not have asked for.
func TestABodyWithDataAfterItsJSONIsABadRequest(t *testing.T) {
	h := newHarness(t, nil)
	firing, _ := h.seed()
	ack := "/api/v1/alerts/" + firing + "/ack"
	for _, c := range []struct {
		name, path, body string
		want             int
	}{
		{"a second object after the note", ack, `{"note":"x"}{"a":1}`, http.StatusBadRequest},
		{"a word after the note", ack, `{"note":"x"} and more`, http.StatusBadRequest},
		{"an array after the note", ack, `{"note":"x"}[]`, http.StatusBadRequest},
		{"a second silence after the first", "/api/v1/silences", `{"matchers":["site=\"forum-a\""],"duration":"1h"}{"matchers":["site=\"forum-b\""],"duration":"1h"}`, http.StatusBadRequest},
		{"white space after the object is fine", ack, "{\"note\":\"x\"}\n\t ", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, b, _ := h.do("POST", c.path, config.RoleResponder, c.body)
			if code != c.want {
				t.Fatalf("POST %s %q: %d %s, want %d", c.path, c.body, code, b, c.want)
			}
			if c.want == http.StatusBadRequest && !strings.Contains(string(b), "after") {
				t.Errorf("the error does not say what is wrong: %s", b)
			}
		})
	}
	var sils struct{ Silences []SilenceView }
	h.getJSON("/api/v1/silences", config.RoleResponder, &sils)
	if len(sils.Silences) != 0 {
		t.Errorf("a refused body created silences: %+v", sils.Silences)
	}
}
