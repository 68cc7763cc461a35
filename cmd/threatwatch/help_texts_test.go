package main

import (
	"slices"
	"strings"
	"testing"
)

// --help tells what a command takes and nothing false: the token hashing
// the docs use is listed under serve, and a default computed at run time
// is not printed as the placeholder behind it.
func TestHelpTextsAreAccurate(t *testing.T) {
	f := func(name string, args []string, want, notWant []string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			_, _, stderr := run(t, "", args...)
			for _, w := range want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%v: help lacks %q:\n%s", args, w, stderr)
				}
			}
			for _, w := range notWant {
				if strings.Contains(stderr, w) {
					t.Errorf("%v: help shows %q:\n%s", args, w, stderr)
				}
			}
		})
	}
	f("serve lists --hash-token", []string{"serve", "--help"},
		[]string{"threatwatch serve --hash-token [--generate] [--name NAME] [--role ROLE]", "-hash-token"}, nil)
	f("serve --hash-token shows no default for the flag it is", []string{"serve", "--hash-token", "--help"},
		[]string{"-generate", "-role"}, []string{"(default true)"})
	f("replay shows the warm-up's default once", []string{"replay", "--help"},
		[]string{"-warmup duration", "default: the history the baselines use"}, []string{"-1ns", "-from value", "-to value"})
	f("export names its times as replay does", []string{"export", "--help"},
		[]string{"-from TIME", "-to TIME"}, []string{"-from value", "-to value"})
	// NAME... is one of these: the help is where an operator learns them.
	f("bench names its benchmarks", []string{"bench", "--help"},
		[]string{"runner ", "scrape ", "classify ", "watchlist ", "e2e ", "aggregate ", "replay "}, nil)
	// e2e offers 1,000 posts/s for at most 30 s, whatever --n asks.
	f("bench says where e2e caps --n", []string{"bench", "--help"}, []string{"at most 30,000 posts"}, nil)
	// docs/notify.md sends the first test page with `notify test`.
	f("notify lists notify test", []string{"notify", "--help"},
		[]string{"threatwatch notify test [--config FILE] [--receiver NAME] [--no-resolve]"}, nil)
}

// A command's usage line names every flag it defines: `score --help`
// left out --workers and --config, and `eval --help` --explain, so the
// one line people read did not show them. Every command is held to it;
// replay's "[flags]" says the list follows.
func TestUsageLinesNameEveryFlag(t *testing.T) {
	for _, c := range commands {
		args := []string{c.name, "--help"}
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			usage, flags := usageAndFlags(stderr)
			if usage == "" {
				t.Fatalf("no usage line in:\n%s", stderr)
			}
			if strings.Contains(usage, "[flags]") {
				// Says there are more; they are listed below it.
				return
			}
			for _, name := range flags {
				if !strings.Contains(usage, "--"+name+" ") && !strings.Contains(usage, "--"+name+"]") {
					t.Errorf("usage line lacks --%s: %q", name, usage)
				}
			}
		})
	}
}

// usageAndFlags splits a command's --help into its usage line and the
// names of the flags package flag lists under it ("  -name value").
func usageAndFlags(help string) (usage string, flags []string) {
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "Usage: "):
			usage = line
		case usage != "" && len(flags) == 0 && strings.HasPrefix(strings.TrimSpace(line), "threatwatch "):
			// A second form of the command, under the first.
			usage += "\n" + line
		case strings.HasPrefix(line, "  -"):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
			flags = append(flags, name)
		}
	}
	return usage, flags
}

// The command list says what a command does; a subcommand it names must
// exist (msg's summary offered "convert", which msg refuses).
func TestCommandSummariesNameOnlySubcommandsThatExist(t *testing.T) {
	for _, tc := range []struct {
		command string
		verbs   []string // subcommands a summary could claim
	}{
		{"msg", []string{"check", "convert"}},
		{"config", []string{"check", "example", "defaults"}},
	} {
		var summary string
		for _, c := range commands {
			if c.name == tc.command {
				summary = c.summary
			}
		}
		if summary == "" {
			t.Fatalf("no command %s", tc.command)
		}
		words := strings.FieldsFunc(summary, func(r rune) bool { return !('a' <= r && r <= 'z') })
		for _, verb := range tc.verbs {
			if !slices.Contains(words, verb) {
				continue
			}
			if code, _, stderr := run(t, "", tc.command, verb, "--help"); code != 0 {
				t.Errorf("the summary of %s (%q) names %s, but `%s %s --help` exits %d: %s", tc.command, summary, verb, tc.command, verb, code, stderr)
			}
		}
	}
}

// --hash-token=true is the flag written another way: it hashes a token,
// it does not start the console.
func TestServeHashTokenWithAValueHashes(t *testing.T) {
	code, stdout, stderr := run(t, "a-token-of-sixteen-chars-or-more\n", "serve", "--hash-token=true", "--role", "analyst")
	if code != 0 || !strings.Contains(stdout, "sha256: ") || !strings.Contains(stdout, "role: analyst") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
