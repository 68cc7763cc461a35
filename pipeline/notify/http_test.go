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
