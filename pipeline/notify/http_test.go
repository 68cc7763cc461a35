package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A receiver that redirects is a failure that names where it points, never
// a delivery: a POST turned into a GET would "succeed" without delivering,
// and a 307 or 308 would send the alert and its signature elsewhere.
func TestARedirectIsNotADelivery(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = io.WriteString(w, "<html>moved</html>")
	}))
	defer other.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			elsewhere.Store(0)
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/hooks/T000/B000/XXXXSECRET", code)
			}))
			defer recv.Close()
			retry, err := Do(context.Background(), recv.Client(), Request{URL: recv.URL + "/hooks/secret-path", Body: []byte(`{"alert":1}`)})
			if err == nil {
				t.Fatalf("%d was taken for a delivery", code)
			}
			if retry {
				t.Errorf("%d is retried; the address will not change by itself", code)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("the redirect was followed: the other address got %d requests", n)
			}
			msg := err.Error()
			if !strings.Contains(msg, "redirecting to "+Endpoint(other.URL)) || strings.Contains(msg, "SECRET") || strings.Contains(msg, "secret-path") {
				t.Errorf("error %q: want the new endpoint named and no path", msg)
			}
		})
	}
}

// A receiver that echoes the request in its error body may put a secret
// anywhere in it, also across the point where the error's quote of the
// body is cut: no part of the secret may survive the cut.
func TestAnErrorQuotingTheBodyHoldsNoPartOfASecret(t *testing.T) {
	const key = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"
	f := func(at int) {
		t.Helper()
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, strings.Repeat("x", at)+key+" was refused")
		}))
		defer recv.Close()
		_, err := Do(context.Background(), recv.Client(), Request{URL: recv.URL + "/v2/enqueue", Secrets: []string{key}})
		if err == nil {
			t.Fatalf("secret at byte %d: a 400 was taken for a delivery", at)
		}
		if msg := err.Error(); strings.Contains(msg, key[:5]) {
			t.Errorf("secret at byte %d: error %q holds part of it", at, msg)
		}
	}
	f(0)
	f(150)
	f(170) // cut in the middle of the secret
	f(185)
	f(195)
	f(400)
}

// A receiver that echoes what it was sent (its path, as sent: percent
// encoded; the Authorization header Go builds from the URL's user info)
// in an error body put the URL's secrets in the error, the log and the
// audit log: only the decoded path and a password were scrubbed.
func TestAnErrorEchoingTheRequestHoldsNoSecretOfTheURL(t *testing.T) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "bad request "+r.URL.EscapedPath()+" auth="+r.Header.Get("Authorization"))
	}))
	defer recv.Close()
	host := strings.TrimPrefix(recv.URL, "http://")
	for _, c := range []struct {
		name, url string
		secrets   []string
	}{
		{"a percent-encoded path", "http://" + host + "/hooks/T0%2FB0%2FSEKRETPATHKEY", []string{"SEKRETPATHKEY"}},
		{"a token as the user name", "http://TOKENAS_USERNAME99@" + host + "/hook", []string{"TOKENAS_USERNAME99", "VE9LRU5BU19VU0VSTkFNRTk5Og=="}},
		{"a user name and password", "http://ops:PASSW0RD_HUNTER2@" + host + "/hook", []string{"PASSW0RD_HUNTER2", "b3BzOlBBU1NXMFJEX0hVTlRFUjI="}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Do(context.Background(), recv.Client(), Request{URL: c.url, Body: []byte(`{}`)})
			if err == nil {
				t.Fatal("a 400 was taken for a delivery")
			}
			for _, s := range c.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q holds %q", err, s)
				}
			}
		})
	}
}
