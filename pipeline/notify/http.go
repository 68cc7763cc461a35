package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPError is a sink request the receiving system refused or failed.
type HTTPError struct {
	// Status is the HTTP status code (0 when no response came).
	Status int
	// RetryAfter is the wait the server asked for (429, 503), or 0.
	RetryAfter time.Duration
	msg        string
	// unsent is set when no connection to the receiving system could be
	// opened: the request certainly never reached it.
	unsent bool
}

func (e *HTTPError) Error() string { return e.msg }

// RetryAfter returns the wait a failed delivery's server asked for.
func RetryAfter(err error) (time.Duration, bool) {
	var he *HTTPError
	if errors.As(err, &he) && he.RetryAfter > 0 {
		return he.RetryAfter, true
	}
	return 0, false
}

// RateLimited reports whether err says the receiving system refused the
// call for its rate (429), with or without a Retry-After.
func RateLimited(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusTooManyRequests
}

// NotDelivered reports whether err, the error of a failed delivery, says
// the receiving system certainly did not take the notification: it
// answered with a redirect or a 4xx (408 and 429 included), or no
// connection to it could be opened. A timeout, a connection cut once the
// request was sent, a 5xx or any other error leave it open: the receiver
// may have acted on it.
func NotDelivered(err error) bool {
	var he *HTTPError
	if !errors.As(err, &he) {
		return false
	}
	return he.unsent || he.Status >= 300 && he.Status < 500
}

// dialFailed reports whether a request failed before a connection to the
// server was open (refused, unknown host), so nothing of it was sent.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Request is one HTTP request of a sink.
type Request struct {
	Method string // default POST
	// URL may hold a secret (Slack and webhook URLs do): it never appears
	// in an error, only its scheme and host.
	URL    string
	Body   []byte
	Header http.Header
	// Secrets are scrubbed from any error text, in addition to the URL.
	Secrets []string
}

// Do sends the request and classifies the outcome the way every HTTP sink
// does: 2xx is success; 408, 429 and 5xx and transport errors are
// retryable (with the server's Retry-After); other statuses are not. The
// error names the endpoint (scheme and host), the status and the start of
// the response body, with every secret removed.
func Do(ctx context.Context, c *http.Client, r Request) (retry bool, err error) {
	_, retry, err = DoResponse(ctx, c, r)
	return retry, err
}

// DoResponse is Do that also returns the body of a successful response
// (capped at 1 MiB).
func DoResponse(ctx context.Context, c *http.Client, r Request) (body []byte, retry bool, err error) {
	secrets := append([]string{r.URL}, r.Secrets...)
	if u, perr := url.Parse(r.URL); perr == nil {
		// The path and query hold keys for some services; the user info a
		// password.
		if u.RawQuery != "" {
			secrets = append(secrets, u.RawQuery)
		}
		if len(u.Path) > 1 {
			secrets = append(secrets, u.Path)
		}
		if ep := u.EscapedPath(); len(ep) > 1 && ep != u.Path {
			// As sent, and as a receiver echoes it.
			secrets = append(secrets, ep)
		}
		if u.User != nil {
			p, ok := u.User.Password()
			if ok {
				secrets = append(secrets, p)
			} else {
				// A token given as the user name (https://TOKEN@host).
				secrets = append(secrets, u.User.Username())
			}
			// The Authorization header the client builds from them.
			secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+p)))
		}
	}
	where := Endpoint(r.URL)
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, false, &HTTPError{msg: scrub(fmt.Sprintf("cannot build request to %s: %v", where, unwrapURLError(err)), secrets)}
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "ThreatWatch-notify/1")
	if c.CheckRedirect == nil {
		// Following a redirect either turns the POST into a GET that
		// "succeeds" without delivering anything (301, 302, 303) or sends
		// the alert and its signature on to another address (307, 308).
		cc := *c
		cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c = &cc
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, true, &HTTPError{msg: scrub(fmt.Sprintf("cannot reach %s: %v", where, unwrapURLError(err)), secrets), unsent: dialFailed(err)}
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, false, nil
	}
	_ = rerr
	he := &HTTPError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	// Scrubbed before it is cut: a secret the body echoes across the cut
	// would otherwise lose its end and no longer be recognized.
	snippet := scrub(strings.TrimSpace(string(b)), secrets)
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	he.msg = scrub(fmt.Sprintf("%s answered %s: %q", where, resp.Status, snippet), secrets)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		he.msg = scrub(fmt.Sprintf("%s answered %s, redirecting to %s: notifications are not sent on to another address; configure the receiver with the new URL", where, resp.Status, Endpoint(resp.Header.Get("Location"))), secrets)
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500
	return nil, retry, he
}

// Endpoint returns the part of a URL that is safe to print: scheme and
// host.
func Endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the configured URL"
	}
	return u.Scheme + "://" + u.Host
}

// ShownURL is raw as a settings error may print it: with what may be user
// info (everything before the last "@", after any "//") replaced, since a
// mistyped URL may still hold a password.
func ShownURL(raw string) string {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	start := 0
	if i := strings.Index(raw, "//"); i >= 0 && i < at {
		start = i + 2
	}
	return raw[:start] + "<secret>" + raw[at:]
}

// unwrapURLError drops net/http's `Post "<full url>": ` prefix, which would
// print the secret URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "<secret>")
		}
	}
	return s
}

// ScrubError returns err with every secret removed from its text (for
// sinks that fail outside Do, and as a last line of defence in the stage).
func ScrubError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	s := scrub(err.Error(), secrets)
	if s == err.Error() {
		return err
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return &HTTPError{Status: he.Status, RetryAfter: he.RetryAfter, msg: s, unsent: he.unsent}
	}
	return errors.New(s)
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// IsHTTPURL reports whether s is an absolute http or https URL with a
// host: what every HTTP sink's settings check asks of its URL.
func IsHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
