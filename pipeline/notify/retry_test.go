package notify_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/notify"
)

// Retry.Wait is the one decision of how long a failed call waits and
// whether the receiver asked for it (then every instance holds back).
func TestRetryWaitDecidesTheWaitAfterAFailedCall(t *testing.T) {
	r := notify.Retry{Attempts: 4, Initial: 10 * time.Second, Max: time.Minute}
	f := func(name string, err error, n int, lo, hi time.Duration, wantAsked bool) {
		t.Run(name, func(t *testing.T) {
			for range 20 { // jitter
				wait, asked := r.Wait(err, n)
				if wait < lo || wait > hi || asked != wantAsked {
					t.Fatalf("Wait = %v, %v; want %v..%v, %v", wait, asked, lo, hi, wantAsked)
				}
			}
		})
	}
	limited := &notify.HTTPError{Status: http.StatusTooManyRequests}
	f("a 429 without Retry-After asks for the backoff", limited, 1, 8*time.Second, 10*time.Second, true)
	f("a 429 without Retry-After again asks for a longer backoff", limited, 3, 32*time.Second, 40*time.Second, true)
	f("a 429 without Retry-After never asks past the maximum", limited, 10, 48*time.Second, time.Minute, true)
	f("a Retry-After is honored", &notify.HTTPError{Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second}, 1, 45*time.Second, 45*time.Second, true)
	f("a Retry-After is cut to the maximum", &notify.HTTPError{Status: http.StatusServiceUnavailable, RetryAfter: time.Hour}, 1, time.Minute, time.Minute, true)
	f("a Retry-After shorter than the backoff waits the backoff", &notify.HTTPError{Status: http.StatusTooManyRequests, RetryAfter: time.Second}, 1, 8*time.Second, 10*time.Second, true)
	f("a 503 without Retry-After asks nothing", &notify.HTTPError{Status: http.StatusServiceUnavailable}, 1, 8*time.Second, 10*time.Second, false)
	f("a transport error asks nothing", errors.New("connection reset"), 2, 16*time.Second, 20*time.Second, false)
}
