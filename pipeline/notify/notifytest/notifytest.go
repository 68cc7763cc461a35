// Package notifytest has what sink and stage tests share: alerts carrying
// personal data in every free-text field, the raw values that must never
// reach a payload, and a recording sink.
package notifytest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// The raw personal data planted in PIIAlert. None may appear in anything a
// sink sends; the placeholders must.
var (
	RawAddress = "1428 Elm Street"
	RawPhone   = "+1 (555) 867-5309"
	RawEmail   = "jane.roe@example.com"
	// RawPII lists the raw values and telling fragments of them.
	RawPII = []string{RawAddress, "1428 Elm", RawPhone, "867-5309", "5558675309", RawEmail, "jane.roe@", "jane.roe%40"}
	// Placeholders are what redaction puts in their place.
	Placeholders = []string{"[ADDRESS]", "[PHONE]", "[EMAIL]"}
)

// Start is the fixed episode start used by the alerts here.
var Start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Alert returns a firing alert without personal data.
func Alert(site string) *msg.Alert {
	labels := map[string]string{"alertname": "ThreatSpike", "site": site, "signal": "swatting", "severity": "critical", "target": "t_3fa9c0"}
	return &msg.Alert{
		Schema: msg.SchemaAlert, Labels: labels,
		Annotations: map[string]string{"summary": "Swatting talk spiking on " + site, "description": "Level far above the site's baseline"},
		Fingerprint: msg.Fingerprint(labels, Start), Status: msg.StatusFiring,
		StartsAt: Start, EventTime: Start, Level: 7.5, Baseline: 1.2,
		Signals: map[msg.Signal]float64{msg.SignalSwatting: 0.93, msg.SignalDoxxing: 0.71},
	}
}

// PIIAlert returns a firing alert whose annotations, evidence snippets,
// thread titles, URLs and an extra label hold an address, a phone number
// and an e-mail address.
func PIIAlert(site string) *msg.Alert {
	a := Alert(site)
	a.Annotations["summary"] = "Doxxing of the person at " + RawAddress + " on " + site
	a.Annotations["description"] = "Posts list the phone " + RawPhone + " and the email " + RawEmail
	a.Labels["note"] = "reach " + RawEmail
	a.Evidence = []msg.Contributor{
		{PostID: site + ":1", URL: "https://" + site + ".example/t/1?ref=" + RawEmail, Thread: "She lives at " + RawAddress,
			Snippet: "call her at " + RawPhone + " or mail " + RawEmail + ", address " + RawAddress, At: Start, Weight: 0.9},
		{PostID: site + ":2", URL: "https://" + site + ".example/t/2", Snippet: "send the SWAT team to " + RawAddress + " tonight", At: Start.Add(time.Minute)},
	}
	return a
}

// LeakedPII returns the raw values found in b.
func LeakedPII(b []byte) []string {
	var out []string
	s := string(b)
	// JSON escapes some characters; check both forms.
	alt := strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">").Replace(s)
	for _, p := range RawPII {
		if strings.Contains(s, p) || strings.Contains(alt, p) {
			out = append(out, p)
		}
	}
	return out
}

// Call is one call a Recorder saw.
type Call struct {
	Alerts []msg.Alert
	At     time.Time
}

// Recorder is a sink that records its calls and fails as told.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
	// Fail, when set, decides each call's outcome (n counts from 1).
	Fail func(n int) (retry bool, err error)
}

// Notify records the call.
func (r *Recorder) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := Call{At: time.Now()}
	for _, a := range alerts {
		c.Alerts = append(c.Alerts, *a)
	}
	r.calls = append(r.calls, c)
	if r.Fail != nil {
		return r.Fail(len(r.calls))
	}
	return false, nil
}

// Calls returns the calls so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Statuses returns the status of every alert sent, in order.
func (r *Recorder) Statuses() []string {
	var out []string
	for _, c := range r.Calls() {
		for _, a := range c.Alerts {
			out = append(out, a.Status)
		}
	}
	return out
}

// ErrDown is the error a failing Recorder returns.
var ErrDown = errors.New("receiver down")
