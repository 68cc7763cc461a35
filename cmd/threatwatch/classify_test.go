package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestScoreKeepsOrderAndReportsBadLinesByNumber(t *testing.T) {
	in := strings.Join([]string{
		`{"id":"a","text":"Selling my bike, text me at (702) 555-0143."}`,
		`{"id":"b","text":"Dana Kowalski lives at 4412 Larkspur Drive, Tessaly. Her cell is (541) 555-0137, go say hi."}`,
		`not json`,
		`{"text":"no id"}`,
		`{"id":"c","text":"I'm going to find you and kill you, Marek."}`,
		``,
		`{"id":"d","text":""}`,
	}, "\n")
	code, out, errOut := run(t, in, "score")
	if code != 1 {
		t.Errorf("exit code %d, want 1 (lines were skipped)", code)
	}
	for _, want := range []string{"-:3:", "-:4:", "skipped 2 bad lines"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	var ids []string
	scores := map[string]map[msg.Signal]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		s, err := msg.Decode[msg.Scored]([]byte(line))
		if err != nil {
			t.Fatalf("bad output line %q: %v", line, err)
		}
		ids = append(ids, s.Post.ID)
		scores[s.Post.ID] = s.Scores
		if strings.Contains(line, "555-0137") && strings.Contains(line, `"snippet"`) {
			for _, e := range s.Evidence {
				if strings.Contains(e.Snippet, "555-0137") {
					t.Errorf("snippet leaks a phone number: %q", e.Snippet)
				}
			}
		}
	}
	if strings.Join(ids, ",") != "a,b,c,d" {
		t.Errorf("output order %v, want a,b,c,d", ids)
	}
	if scores["b"][msg.SignalDoxxing] < 0.5 || scores["a"][msg.SignalDoxxing] >= 0.5 || scores["c"][msg.SignalThreat] < 0.5 {
		t.Errorf("unexpected scores %v", scores)
	}
}

func TestScoreWritesToAFile(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(in, []byte(`{"id":"x","text":"hello there"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "", "score", "--input", in, "--output", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil || s["classifier"] == nil {
		t.Errorf("output %q is not a scored post", b)
	}
}

func TestEvalPrintsMetricsAndCalibration(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "labelled.jsonl")
	lines := `{"id":"1","text":"I'm going to find you and kill you, Marek.","threat":1,"doxxing":0}
{"id":"2","text":"My mom is going to kill me when she sees the car.","threat":0,"doxxing":0}
{"id":"3","text":"Tobin Greer lives at 15 Millrace Ln, Pruitt Hollow. His cell is (423) 555-0119.","doxxing":1,"threat":0,"toxic":1}
{"id":"4","text":"City hall is at 1 Municipal Plaza.","doxxing":0}
{"id":"5","text":"x","threat":7}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "eval", "--input", in)
	if code != 1 || !strings.Contains(errOut, "labelled.jsonl:5:") {
		t.Errorf("exit %d, stderr %q: want the bad label reported with its line", code, errOut)
	}
	for _, want := range []string{"precision", "recall", "f1", "auc", "calibration threat:", "doxxing", "false-positive rate"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "swatting ") {
		t.Errorf("swatting has no labels and must not be reported:\n%s", out)
	}
	code, out, _ = run(t, "", "eval", "--input", in, "--where", "toxic=1")
	if code != 0 || !strings.Contains(out, ": 1 posts") {
		t.Errorf("--where toxic=1: exit %d\n%s", code, out)
	}
	if code, _, _ := run(t, "", "eval"); code != 2 {
		t.Errorf("eval without --input: exit %d, want 2", code)
	}
}

// A runaway line (over msg.MaxLine) costs that line only: score and eval
// report it, read the lines after it, and end. Before, score never ended
// (the line reader reported the same line forever) and eval stopped at it.
func TestScoreAndEvalSkipALineOverTheCap(t *testing.T) {
	dir := t.TempDir()
	runaway := `{"id":"big","text":"` + strings.Repeat("a", msg.MaxLine) + `"}`
	in := filepath.Join(dir, "in.jsonl")
	lines := `{"id":"1","text":"hello there","threat":0,"toxic":1}` + "\n" + runaway + "\n" + `{"id":"2","text":"I'm going to find you and kill you.","threat":1,"toxic":1}` + "\n"
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "scored.jsonl")
	code, _, errOut := runWithin(t, 2*time.Minute, "score", "--input", in, "--output", out)
	if code != 1 || !strings.Contains(errOut, "in.jsonl:2: line longer than") || !strings.Contains(errOut, "scored 2 posts") {
		t.Errorf("score: exit %d, stderr %.300q", code, errOut)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("score wrote %d scored posts, want 2", n)
	}
	for _, args := range [][]string{{"eval", "--input", in}, {"eval", "--input", in, "--where", "toxic=1"}} {
		code, stdout, errOut := runWithin(t, 2*time.Minute, args...)
		if code != 1 || !strings.Contains(errOut, "in.jsonl:2: line longer than") || !strings.Contains(stdout, ": 2 posts (1 lines skipped)") {
			t.Errorf("%v: exit %d, stdout %.300q, stderr %.300q", args, code, stdout, errOut)
		}
	}
}
