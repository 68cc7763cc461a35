package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// --from and --to take a time in the zone the analyst gives, or UTC;
// whatever the form, the same instant.
func TestReplayTimeFlag(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		var tf timeFlag
		if err := tf.Set(in); err != nil {
			t.Errorf("%q: %v", in, err)
			return
		}
		if got := tf.t.Format(time.RFC3339Nano); got != want {
			t.Errorf("%q = %s, want %s", in, got, want)
		}
	}
	f("2026-03-04", "2026-03-04T00:00:00Z")
	f("2026-03-04T12:00", "2026-03-04T12:00:00Z")
	f("2026-03-04 12:00", "2026-03-04T12:00:00Z")
	f("2026-03-04T12:00:30", "2026-03-04T12:00:30Z")
	f("2026-03-04 12:00:30", "2026-03-04T12:00:30Z")
	f("2026-03-04T12:00:00+02:00", "2026-03-04T10:00:00Z")
	f("2026-03-04 12:00:00+02:00", "2026-03-04T10:00:00Z")
	f("2026-03-04T12:00+02:00", "2026-03-04T10:00:00Z")
	f("2026-03-04T12:00-05:30", "2026-03-04T17:30:00Z")
	f("2026-03-04T12:00Z", "2026-03-04T12:00:00Z")
	f("2026-03-04 12:00Z", "2026-03-04T12:00:00Z")
	for _, bad := range []string{"last tuesday", "2026-03-04T25:00", "04/03/2026", "2026-03-04T12"} {
		var tf timeFlag
		if err := tf.Set(bad); err == nil {
			t.Errorf("%q accepted as %v", bad, tf.t)
		}
	}
}

// Scripts run replays and look at the exit code: a command line that
// cannot mean anything is a usage error (2), and a replay that replayed
// nothing because every line was bad is a failure (1), not a success
// with an empty report.
func TestReplayExitCodes(t *testing.T) {
	dir := t.TempDir()
	alerts := filepath.Join(dir, "alerts.jsonl")
	if code, _, stderr := run(t, "", "replay", "--progress", "never", "--alerts", alerts, campaignScenario); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f := func(name string, want int, args ...string) {
		t.Helper()
		code, _, stderr := run(t, "", append([]string{"replay", "--progress", "never"}, args...)...)
		if code != want {
			t.Errorf("%s: exit %d, want %d (%s)", name, code, want, stderr)
		}
	}
	f("--from after --to", 2, "--from", "2026-03-05", "--to", "2026-03-04", campaignScenario)
	f("--from equal to --to", 2, "--from", "2026-03-05", "--to", "2026-03-05", campaignScenario)
	f("--compare-alerts without --compare", 2, "--compare-alerts", filepath.Join(dir, "b.jsonl"), campaignScenario)
	f("an alerts file given as input", 1, alerts)
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("not json\n{\"schema\":\"post/9\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f("every line bad", 1, bad)
	f("a range holding no post", 0, "--from", "2027-01-01", campaignScenario)
	f("--from before --to", 0, "--from", "2026-03-04", "--to", "2026-03-05", campaignScenario)

	if code, _, stderr := run(t, "", "export", "--topic", "scored", "--from", "2026-03-05", "--to", "2026-03-04"); code != 2 || !strings.Contains(stderr, "not before --to") {
		t.Errorf("export --from after --to: exit %d, want 2 saying so (%s)", code, stderr)
	}
	code, _, stderr := run(t, "", "replay", "--progress", "never", bad)
	if code == 1 && !strings.Contains(stderr, "2 bad lines") {
		t.Errorf("the failure does not say why: %s", stderr)
	}
}

// A replay that could not page on spikes for a while, for want of history,
// says so where the analyst reads the result: on standard error and in
// the report, which is what gets forwarded.
func TestReplaySaysWhenItsBaselinesWereNotReady(t *testing.T) {
	dir := t.TempDir()
	f := func(name string, args []string, want ...string) {
		t.Helper()
		report := filepath.Join(dir, "r.html")
		code, _, stderr := run(t, "", append([]string{"replay", "--progress", "never", "--report", report}, append(args, campaignScenario)...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		html, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: standard error does not say %q:\n%s", name, w, stderr)
			}
			if !strings.Contains(string(html), w) {
				t.Errorf("%s: the report does not say %q", name, w)
			}
		}
	}
	// The scenario starts 2026-03-02 and holds five days.
	f("six hours in", []string{"--from", "2026-03-02T06:00"}, "baselines not ready", "no spike alert could fire before 2026-03-03 00:00 UTC")
	f("the whole history", nil, "baselines start empty")
	f("two and a half days in", []string{"--from", "2026-03-04T12:00"}, "baselines thin")
}

// '-' writes an output to standard output, for a pipe into jq: what
// reaches it must be that output alone, every line whole.
func TestReplayStandardOutputHoldsOneOutput(t *testing.T) {
	dir := t.TempDir()
	strict := filepath.Join(dir, "strict.yaml")
	if err := os.WriteFile(strict, []byte("aggregate:\n  spike:\n    fire_score: 12\n    severe_score: 24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--alerts", "-", "--levels", "-"},
		{"--levels", "-", "--report", "-"},
		{"--compare", strict, "--alerts", "-", "--compare-alerts", "-"},
	} {
		code, _, stderr := run(t, "", append(append([]string{"replay", "--progress", "never"}, args...), campaignScenario)...)
		if code != 2 || !strings.Contains(stderr, "standard output") {
			t.Errorf("%q: exit %d, want 2 naming standard output (%s)", args, code, stderr)
		}
	}
	code, stdout, stderr := run(t, "", "replay", "--progress", "never", "--compare", strict, "--alerts", "-", campaignScenario)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, `{"schema":"alert/1"`) {
			t.Fatalf("standard output line %d is not an alert: %.120s", i+1, line)
		}
	}
	if !strings.Contains(stderr, "compare current vs strict:") {
		t.Errorf("with the alerts on standard output, the comparison belongs on standard error: %s", stderr)
	}
}

// A usage error is found before any output is created: a rerun with a
// mistake must not empty the outputs of the run before it.
func TestReplayUsageErrorLeavesEarlierOutputs(t *testing.T) {
	dir := t.TempDir()
	alerts := filepath.Join(dir, "alerts.jsonl")
	if code, _, stderr := run(t, "", "replay", "--progress", "never", "--alerts", alerts, campaignScenario); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	before, err := os.ReadFile(alerts)
	if err != nil || len(before) == 0 {
		t.Fatalf("no alerts written: %v", err)
	}
	other := filepath.Join(dir, "step.yaml")
	if err := os.WriteFile(other, []byte("aggregate:\n  step: 10m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "", "replay", "--progress", "never", "--compare", other, "--alerts", alerts, campaignScenario)
	if code != 2 || !strings.Contains(stderr, "aggregate.step") {
		t.Fatalf("a --compare config with another step: exit %d, want 2 naming aggregate.step (%s)", code, stderr)
	}
	if after, _ := os.ReadFile(alerts); string(after) != string(before) {
		t.Errorf("the usage error left the alerts file with %d bytes, it had %d", len(after), len(before))
	}
}

// An output named like an input was created, and so emptied, before the
// input was read: a typo destroyed the history and the replay went on
// over what was left, exiting 0. Two outputs naming one file cut each
// other's lines.
func TestReplayRefusesAnOutputThatIsAnInputOrAnotherOutput(t *testing.T) {
	dir := t.TempDir()
	orig, err := os.ReadFile(campaignScenario)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "history.jsonl.gz")
	if err := os.WriteFile(in, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	strict := filepath.Join(dir, "strict.yaml")
	if err := os.WriteFile(strict, []byte("aggregate:\n  spike:\n    fire_score: 12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	f := func(name string, args ...string) {
		t.Helper()
		code, _, stderr := run(t, "", append([]string{"replay", "--progress", "never"}, args...)...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (%s)", name, code, stderr)
		}
		if b, _ := os.ReadFile(in); string(b) != string(orig) {
			t.Fatalf("%s: the input was overwritten", name)
		}
	}
	f("--alerts is the input", "--alerts", in, in)
	f("--levels is the input, given by directory", "--levels", in, dir)
	f("--report is the input by another path", "--report", filepath.Join(dir, ".", "history.jsonl.gz"), in)
	f("--compare-alerts is the input", "--compare", strict, "--compare-alerts", in, in)
	f("--alerts and --levels are one file", "--alerts", out, "--levels", out, in)
	f("--alerts and --compare-alerts are one file", "--compare", strict, "--alerts", out, "--compare-alerts", filepath.Join(dir, "x", "..", "out.jsonl"), in)
}

// --slack 0 means no slack: the topic is read by timestamp over exactly
// [--from, --to). Zero was taken for unset and read as an hour. A post
// published just before --to but written to the topic after it is read
// with the default hour of slack and not with none.
func TestReplaySlackZeroMeansNoSlack(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	from, to := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	var batch []kafka.Message
	for i, at := range []time.Time{from.Add(time.Hour), to.Add(-10 * time.Minute)} {
		p := &msg.Post{Site: "forum", SitePostID: fmt.Sprint(i), Published: at, Text: "chatter"}
		p.Normalize()
		b, err := msg.Encode(&msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"})
		if err != nil {
			t.Fatal(err)
		}
		// Written twenty minutes after it was published.
		batch = append(batch, kafka.Message{Key: []byte(p.Key()), Value: b, Time: at.Add(20 * time.Minute)})
	}
	w := kc.Bus.Writer(kc.Topic(kc.Config.Topics.Scored), bus.WriterOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f := func(cmd, want string, slack ...string) {
		t.Helper()
		args := append([]string{cmd, "--config", cfg, "--topic", "scored", "--progress", "never", "--from", "2026-03-02", "--to", "2026-03-03"}, slack...)
		code, _, stderr := runWithin(t, time.Minute, args...)
		if code != 0 || !strings.Contains(stderr, want) {
			t.Errorf("%s %v: exit %d, want 0 and %q: %s", cmd, slack, code, want, stderr)
		}
	}
	f("replay", "replayed 2 posts")
	f("replay", "replayed 1 posts", "--slack", "0")
	f("export", "exported 2 posts")
	f("export", "exported 1 posts", "--slack", "0")
	for _, cmd := range []string{"replay", "export"} {
		code, _, stderr := run(t, "", cmd, "--config", cfg, "--topic", "scored", "--slack", "-1h")
		if code != 2 || !strings.Contains(stderr, "--slack") {
			t.Errorf("%s --slack -1h: exit %d, want 2 naming --slack (%s)", cmd, code, stderr)
		}
	}
}

// --warmup -1h was taken for unset and replaced by the default warm-up;
// --max-charts 0 for unset and replaced by 40 charts. A negative duration
// is a usage error, and 0 charts means none.
func TestReplayFlagsTakeZeroAndRefuseNegatives(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := run(t, "", "replay", "--progress", "never", "--from", "2026-03-04", "--warmup", "-1h", campaignScenario)
	if code != 2 || !strings.Contains(stderr, "warmup") {
		t.Errorf("--warmup -1h: exit %d, want 2 naming warmup (%s)", code, stderr)
	}
	code, _, stderr = run(t, "", "replay", "--progress", "never", "--max-charts", "-1", campaignScenario)
	if code != 2 || !strings.Contains(stderr, "--max-charts") {
		t.Errorf("--max-charts -1: exit %d, want 2 naming --max-charts (%s)", code, stderr)
	}
	charts, report := filepath.Join(dir, "charts"), filepath.Join(dir, "r.html")
	code, _, stderr = run(t, "", "replay", "--progress", "never", "--max-charts", "0", "--charts", charts, "--report", report, campaignScenario)
	if code != 0 {
		t.Fatalf("--max-charts 0: exit %d: %s", code, stderr)
	}
	if svgs, _ := filepath.Glob(filepath.Join(charts, "*.svg")); len(svgs) != 0 {
		t.Errorf("--max-charts 0 wrote %d charts, want none", len(svgs))
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(html), `site-0`) {
		t.Error("--max-charts 0: the report has site charts, want none")
	}
}
