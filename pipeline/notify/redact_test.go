package notify

import (
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
)

func TestRedactText(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := redactText(in); got != want {
			t.Errorf("redactText(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("Swatting talk spiking on forum-a", "Swatting talk spiking on forum-a")
	f("Level 7.50 against a baseline of 1.20", "Level 7.50 against a baseline of 1.20")
	f("mail jane.roe@example.com now", "mail [EMAIL] now")
	f("She lives at 1428 Elm Street", "She lives at [ADDRESS]")
	f("reach 555-1234 today", "reach [PHONE] today")
	f("https://x.example/t/1?ref=jane.roe@example.com", "https://x.example/t/1?ref=[EMAIL]")
}

// The fallback rules alone, which catch what the classifiers' extractors
// leave.
func TestFallbackRedact(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := fallbackRedact(in); got != want {
			t.Errorf("fallbackRedact(%q) = %q, want %q", in, got, want)
		}
	}
	f("call +1 (555) 867-5309", "call [PHONE]")
	f("call 07700 900123", "call [PHONE]")
	f("she is at 22B Baker St, apt 4", "she is at [ADDRESS]")
	f("10 Downing Street", "[ADDRESS]")
	f("posted on 2026-03-01 at 12:00", "posted on 2026-03-01 at 12:00") // a date is not a phone
	f("Level 7.50 over 1.20", "Level 7.50 over 1.20")
	f("a@b.co", "[EMAIL]")
}

func TestRedactCopiesAndCleansEveryTextField(t *testing.T) {
	in := notifytest.PIIAlert("forum-a")
	before := in.Annotations["description"]
	out := Redact(in)
	if in.Annotations["description"] != before || in.Evidence[0].Snippet == out.Evidence[0].Snippet {
		t.Fatal("Redact modified its input or did not copy it")
	}
	var all []string
	for _, v := range out.Annotations {
		all = append(all, v)
	}
	for _, v := range out.Labels {
		all = append(all, v)
	}
	for _, e := range out.Evidence {
		all = append(all, e.Snippet, e.Thread, e.URL)
	}
	joined := strings.Join(all, "\n")
	if leaked := notifytest.LeakedPII([]byte(joined)); len(leaked) > 0 {
		t.Fatalf("Redact left %v in:\n%s", leaked, joined)
	}
	// Identity labels are kept as they are, so routing and silences work.
	for _, k := range []string{"alertname", "site", "signal", "severity", "target"} {
		if out.Labels[k] != in.Labels[k] {
			t.Errorf("label %s changed: %q -> %q", k, in.Labels[k], out.Labels[k])
		}
	}
	if out.Fingerprint != in.Fingerprint || out.Status != in.Status || out.Signals[msg.SignalSwatting] != in.Signals[msg.SignalSwatting] {
		t.Error("Redact changed the alert's identity or scores")
	}
}

func BenchmarkRedact(b *testing.B) {
	a := notifytest.PIIAlert("forum-a")
	b.ReportAllocs()
	for b.Loop() {
		_ = Redact(a)
	}
}

func TestRedactKeepsTheAlertsOwnIdentityInTexts(t *testing.T) {
	a := notifytest.Alert("forum-a")
	a.Labels["target"] = "tgt-0123456789abcdef" // ten digits in a row
	a.Annotations["summary"] = "Threat level severe for target tgt-0123456789abcdef: call 555-867-5309"
	out := Redact(a)
	if want := "Threat level severe for target tgt-0123456789abcdef: call [PHONE]"; out.Annotations["summary"] != want {
		t.Fatalf("summary %q, want %q", out.Annotations["summary"], want)
	}
}

// An escalation names the alert it supersedes by fingerprint: a hash whose
// digit runs are not a phone number. Any other value under those keys is
// redacted as text.
func TestRedactKeepsTheFingerprintsThatLinkAnEscalation(t *testing.T) {
	a := notifytest.Alert("forum-a")
	a.Annotations["escalates"] = "5e5543315992027ed"
	a.Annotations["superseded_by"] = "call 555-867-5309"
	out := Redact(a)
	if got := out.Annotations["escalates"]; got != "5e5543315992027ed" {
		t.Errorf("escalates %q, want the fingerprint as it is", got)
	}
	if got := out.Annotations["superseded_by"]; got != "call [PHONE]" {
		t.Errorf("superseded_by %q, want a value that is no fingerprint redacted", got)
	}
}

// A link's host is redacted as text, as its path is: an evidence link is
// not always the monitored site's, and a host can be a victim's own
// address or domain. A loopback host names no one and is kept, so a forum
// on this machine (the demo's) keeps a working link. Userinfo is dropped,
// and percent escapes stay whole.
func TestRedactURLKeepsOnlyALoopbackHost(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := redactURL(in, nil); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
	f("http://127.0.0.1:40503/threads/5#p12", "http://127.0.0.1:40503/threads/5#p12")
	f("http://[::1]:8080/threads/5", "http://[::1]:8080/threads/5")
	f("http://localhost:8080/t/ring-555-867-5309", "http://localhost:8080/t/ring-%5BPHONE%5D")
	f("https://198.51.100.7/t/1", "https://%5BIP%5D/t/1")
	f("https://call-555-867-5309.example/about", "https://call-%5BPHONE%5D.example/about")
	f("https://x.example/t/1?ref=jane.roe@example.com", "https://x.example/t/1?ref=%5BEMAIL%5D")
	f("https://jane.roe:s3cret@forum.example/t/1", "https://forum.example/t/1")
	f("https://forum.example/t/caf%C3%A9-555-867-5309", "https://forum.example/t/caf%C3%A9-%5BPHONE%5D")
	f("https://forum.example/t/caf%C3%A9", "https://forum.example/t/caf%C3%A9")
	f("", "")
}
