package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// `threatwatch bench e2e` writes its figures where the command writes
// (so they can be captured), latency included, and prints only what it
// measured: a CPU time or allocation count shown as 0.0 reads as free.
func TestBenchE2EPrintsWhatItMeasured(t *testing.T) {
	code, out, errOut := runWithin(t, 90*time.Second, "bench", "--n", "300", "e2e")
	if code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "e2e posts->alerts") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no e2e result line in %q", out)
	}
	if !regexp.MustCompile(`latency p50 \d+ms, p90 \d+ms, p99 \d+ms, max \d+ms`).MatchString(out) {
		t.Errorf("stdout %q lacks the latency", out)
	}
	for _, unmeasured := range []string{" 0.0 allocs/msg", " 0 B/msg", " 0.0 µs CPU/msg"} {
		if strings.Contains(line, unmeasured) {
			t.Errorf("result %q shows %q", line, unmeasured)
		}
	}
}
