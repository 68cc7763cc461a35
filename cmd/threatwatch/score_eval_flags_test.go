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

// evalFile writes a small labelled file for the eval tests.
func evalFile(t *testing.T) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "labelled.jsonl")
	lines := `{"id":"1","text":"I'm going to find you and kill you, Marek.","threat":1,"doxxing":0}
{"id":"2","text":"My mom is going to kill me when she sees the car.","threat":0,"doxxing":0}
{"id":"3","text":"Tobin Greer lives at 15 Millrace Ln, Pruitt Hollow. His cell is (423) 555-0119.","doxxing":1,"threat":0}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

// A threshold for a signal that does not exist used to be taken and
// ignored (a typo such as "treat=0.6" reported the default threshold
// without a word); every override must name a known signal.
func TestEvalRefusesAThresholdForAnUnknownSignal(t *testing.T) {
	in := evalFile(t)
	f := func(thr string, wantCode int, want ...string) {
		t.Helper()
		code, _, errOut := run(t, "", "eval", "--threshold", thr, "--input", in)
		if code != wantCode {
			t.Errorf("--threshold %s: exit %d, want %d; stderr %q", thr, code, wantCode, errOut)
		}
		for _, w := range want {
			if !strings.Contains(errOut, w) {
				t.Errorf("--threshold %s: stderr lacks %q: %q", thr, w, errOut)
			}
		}
	}
	f("bogus=0.5", 2, `unknown signal "bogus"`, "doxxing, swatting, threat")
	f("threat=0.6,treat=0.4", 2, `unknown signal "treat"`)
	f("=0.5", 2, "doxxing, swatting, threat")
	f("threat=1.5", 2, "(0,1]")
	f("threat=0.6,doxxing=0.4", 0)
	f("threat=0.6, doxxing=0.4", 0)
}

// --explain explains the errors --errors lists: asked for alone, it used
// to print nothing more than a plain run. It implies --errors.
func TestEvalExplainImpliesErrors(t *testing.T) {
	in := evalFile(t)
	// A threshold of 1 makes every threat-labelled post a false negative,
	// so there is something to explain whatever the model's version.
	args := []string{"eval", "--threshold", "threat=1", "--input", in}
	_, plain, _ := run(t, "", args...)
	code, both, errOut := run(t, "", append([]string{"eval", "--errors", "--explain"}, args[1:]...)...)
	if code != 0 || !strings.Contains(both, "false negatives: 1") || !strings.Contains(both, "\nthreat 1: ") {
		t.Fatalf("--errors --explain: exit %d, stderr %q, stdout:\n%s", code, errOut, both)
	}
	code, explain, errOut := run(t, "", append([]string{"eval", "--explain"}, args[1:]...)...)
	if code != 0 || explain != both {
		t.Errorf("--explain alone: exit %d, stderr %q; stdout differs from --errors --explain:\n%s\nwant:\n%s", code, errOut, explain, both)
	}
	if explain == plain {
		t.Errorf("--explain alone printed what a plain run prints:\n%s", explain)
	}
}

// score reads posts for their text alone, and a post with no time or no
// site is scored. Its scored line used to claim "published" and
// "fetched" of year 1, which replay then refused line by line with no
// hint why; now the zero times are left out and score says once how many
// posts cannot go on to replay or the pipeline.
func TestScoreLeavesOutZeroTimesAndCountsPostsThatCannotBeReplayed(t *testing.T) {
	posts := []string{
		`{"id":"bare","text":"hello there"}`,
		`{"id":"timed","site":"forum-a","published":"2026-03-01T12:00:00Z","fetched":"2026-03-01T12:05:00Z","text":"hello there"}`,
		`{"id":"nosite","fetched":"2026-03-01T12:05:00Z","text":"hello there"}`,
		`{"id":"notime","site":"forum-a","text":"hello there"}`,
	}
	code, out, errOut := run(t, strings.Join(posts, "\n"), "score")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d output lines, want 4:\n%s", len(lines), out)
	}
	keys := func(line string) map[string]json.RawMessage {
		t.Helper()
		var s struct {
			Post map[string]json.RawMessage `json:"post"`
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		return s.Post
	}
	for i, tc := range []struct {
		id                 string
		published, fetched bool
	}{
		{id: "bare"},
		{id: "timed", published: true, fetched: true},
		{id: "nosite", fetched: true},
		{id: "notime"},
	} {
		line := lines[i]
		if strings.Contains(line, "0001-01-01") {
			t.Errorf("%s: scored line claims a zero time: %s", tc.id, line)
		}
		p := keys(line)
		if _, ok := p["published"]; ok != tc.published {
			t.Errorf("%s: published present %v, want %v: %s", tc.id, ok, tc.published, line)
		}
		if _, ok := p["fetched"]; ok != tc.fetched {
			t.Errorf("%s: fetched present %v, want %v: %s", tc.id, ok, tc.fetched, line)
		}
		// The field names stay the schema's: the line still decodes as
		// a scored message, with the times it had.
		s, err := msg.Decode[msg.Scored]([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		if s.Post.ID != tc.id || s.Scores == nil {
			t.Errorf("%s: decoded %+v", tc.id, s)
		}
		if tc.id == "timed" {
			want := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			if !s.Post.Published.Equal(want) || s.Post.Site != "forum-a" || s.Post.Validate() != nil {
				t.Errorf("timed post changed: %+v", s.Post)
			}
		}
	}
	if n := strings.Count(errOut, "cannot be replayed"); n != 1 {
		t.Errorf("the warning is printed %d times, want once:\n%s", n, errOut)
	}
	if !strings.Contains(errOut, "3 of 4 posts had no time or no site") {
		t.Errorf("stderr does not count the 3 posts without a time or a site:\n%s", errOut)
	}
	if code, _, errOut := run(t, posts[1], "score"); code != 0 || strings.Contains(errOut, "cannot be replayed") {
		t.Errorf("a post with a time and a site: exit %d, stderr %q", code, errOut)
	}
}
