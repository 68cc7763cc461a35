package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run calls the binary's entry point in-process.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	en := &env{stdin: strings.NewReader(stdin), stdout: &o, stderr: &e, getenv: func(string) string { return "" }}
	code = runMain(context.Background(), en, args)
	return code, o.String(), e.String()
}

// runWithin is run for a command that used to hang on the input given: the
// test fails, naming it, if the command has not ended after d.
func runWithin(t *testing.T, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := run(t, "", args...)
		done <- result{code, out, errOut}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.errOut
	case <-time.After(d):
		t.Fatalf("%.200q did not end within %v", args, d)
		return 0, "", ""
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, "", c.name, "--help")
			if code != 0 && code != 3 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if code == 0 && !strings.Contains(stderr, "Usage: threatwatch "+c.name) && !strings.Contains(stderr, "Usage") {
				t.Fatalf("--help printed no usage: %q", stderr)
			}
		})
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	code, _, stderr := run(t, "", "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// bench refuses what it cannot measure before it starts a broker.
func TestBenchRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--n", "0"}, "--n must be at least 1"},
		{[]string{"bench", "--n", "10", "classify", "nosuch"}, `no benchmark "nosuch"`},
	} {
		code, _, stderr := run(t, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("kafka:\n  partitions: 3\n"), 0o600)
	os.WriteFile(bad, []byte("kafka:\n  partitions: 0\n  bogus: 1\n"), 0o600)
	if code, out, errOut := run(t, "", "config", "check", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good config: exit %d %s %s", code, out, errOut)
	}
	code, _, errOut := run(t, "", "config", "check", bad)
	if code != 1 || !strings.Contains(errOut, "bogus") {
		t.Fatalf("bad config: exit %d, %q", code, errOut)
	}
	code, out, _ := run(t, "", "config", "example")
	if code != 0 || !strings.Contains(out, "kafka:") {
		t.Fatalf("config example: exit %d", code)
	}
}

func TestMsgCheckReportsBadLinesByNumber(t *testing.T) {
	in := "{\"site\":\"s\",\"site_post_id\":\"1\",\"text\":\"hi\",\"fetched\":\"2026-01-01T00:00:00Z\"}\nnope\n{\"site\":\"s\",\"site_post_id\":\"2\",\"text\":\"ho\",\"fetched\":\"2026-01-01T00:00:00Z\"}\n"
	code, out, errOut := run(t, in, "msg", "check", "--type", "post", "--output", "-")
	if code != 1 {
		t.Fatalf("exit %d, want 1 for a file with a bad line", code)
	}
	if !strings.Contains(errOut, "-:2:") || !strings.Contains(errOut, "2 valid post messages, 1 bad lines") {
		t.Fatalf("stderr %q does not name line 2", errOut)
	}
	if strings.Count(out, `"schema":"post/1"`) != 2 {
		t.Fatalf("normalized output: %q", out)
	}
}

// An argument a command does not take is refused before anything starts:
// ignored, it would make `score FILE` read standard input and `run
// --config x.yaml` (as `run x.yaml`) run on the embedded defaults.
func TestStrayArgumentsAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "threatwatch.yaml"}, `unexpected argument "threatwatch.yaml"`},
		{[]string{"classify", "x"}, `unexpected argument "x"`},
		{[]string{"serve", "x"}, `unexpected argument "x"`},
		{[]string{"demo", "fast"}, `unexpected argument "fast"`},
		{[]string{"consume", "--topic", "alerts", "x"}, `unexpected argument "x"`},
		{[]string{"nab-score", "x"}, `unexpected argument "x"`},
		{[]string{"nab-convert", "x"}, `unexpected argument "x"`},
		{[]string{"notify", "test", "x"}, `unexpected argument "x"`},
		{[]string{"score", "a.jsonl", "--output", "b.jsonl"}, `unexpected argument "--output" after the input file`},
		{[]string{"score", "--input", "a.jsonl", "b.jsonl"}, "the input is given twice"},
		{[]string{"eval", "--input", "a.jsonl", "b.jsonl"}, "the input is given twice"},
	} {
		code, _, stderr := runWithin(t, 10*time.Second, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// The token to hash is never echoed back, even when given in the wrong place.
	code, _, stderr := run(t, "", "serve", "--hash-token", "s3cret-token-value-0123")
	if code != 2 || strings.Contains(stderr, "s3cret") || !strings.Contains(stderr, "standard input") {
		t.Errorf("hash-token with an argument: exit %d, stderr %q", code, stderr)
	}
}

// score and eval take their input file as their argument too.
func TestScoreAndEvalTakeTheInputAsAnArgument(t *testing.T) {
	in := filepath.Join(t.TempDir(), "posts.jsonl")
	if err := os.WriteFile(in, []byte(`{"id":"a","text":"I will find you and kill you","threat":1}`+"\n"+`{"id":"b","text":"nice weather today","threat":0}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "", "score", in)
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(stderr, "scored 2 posts") {
		t.Fatalf("score FILE: exit %d, %d lines out, stderr %q", code, strings.Count(out, "\n"), stderr)
	}
	code, out, stderr = run(t, "", "eval", in)
	if code != 0 || !strings.Contains(out, "2 posts") {
		t.Fatalf("eval FILE: exit %d, out %q, stderr %q", code, out, stderr)
	}
}

// config check runs the checks a stage runs when it starts, so a file it
// passes does not stop a stage: every site's engine must exist and take
// the site's settings, as every receiver must.
func TestConfigCheckRefusesWhatAStageWouldRefuseAtItsStart(t *testing.T) {
	f := func(name, yml, want string) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "tw.yaml")
		if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "", "config", "check", file)
		if code != 1 || !strings.Contains(errOut, want) || strings.Contains(out, "ok") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1 and %q", name, code, out, errOut, want)
		}
	}
	f("an unknown engine", "scrape:\n  sites:\n    - name: forum\n      engine: xenfor0\n      url: https://forum.example.org/\n",
		`scrape.sites[0].engine: is not one of the allowed values: unknown engine "xenfor0"`)
	f("an unknown sink", "notify:\n  receivers:\n    - name: r\n      type: carrier-pigeon\n  default_receivers: [r]\n",
		"notify.receivers[0]")
}
