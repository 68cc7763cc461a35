package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// A flag belongs to the subcommands it is documented for. Taken and
// ignored elsewhere, `watchlist add --dry-run FILE` wrote the persons for
// real while the operator believed it changed nothing: every other
// subcommand refuses it before it reads the file or touches Redis.
func TestWatchlistRefusesFlagsOfAnotherSubcommand(t *testing.T) {
	srv := redistest.Start(t)
	cfg := watchlistEnv(t, srv, "k1", "k2")
	file := filepath.Join(t.TempDir(), "persons.yaml")
	if err := os.WriteFile(file, []byte(watchlistFile), 0o600); err != nil {
		t.Fatal(err)
	}
	f := func(flag, sub string, args ...string) {
		t.Helper()
		args = append([]string{"watchlist", sub, "--config", cfg}, args...)
		code, out, errOut := run(t, "", args...)
		if code != 2 || !strings.Contains(errOut, "-"+flag) || strings.Contains(out, "changed") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and the flag named", args, code, out, errOut)
		}
		noPlain(t, "stderr", errOut)
	}
	f("dry-run", "add", "--dry-run", file)
	f("force", "add", "--force", file)
	f("json", "add", "--json", file)
	f("to", "add", "--to", "k2", file)
	f("dry-run", "rotate", "--dry-run", "--to", "k2", file)
	f("json", "import", "--json", "--dry-run", file)
	f("retire", "import", "--retire", "k1", file)
	f("force", "list", "--force")
	f("dry-run", "remove", "--dry-run", "wl-0001")

	// Nothing of the refused commands reached the list.
	if code, out, errOut := run(t, "", "watchlist", "list", "--config", cfg); code != 0 || !strings.Contains(out, "the list is empty") {
		t.Fatalf("list after refused commands: exit %d, %q %q", code, out, errOut)
	}
	// Each subcommand's --help shows its own flags only.
	_, _, help := run(t, "", "watchlist", "add", "--help")
	if strings.Contains(help, "-dry-run") || strings.Contains(help, "-retire") || !strings.Contains(help, "watchlist add") {
		t.Errorf("watchlist add --help:\n%s", help)
	}
	_, _, help = run(t, "", "watchlist", "import", "--help")
	if !strings.Contains(help, "-dry-run") || !strings.Contains(help, "-force") || strings.Contains(help, "-json") {
		t.Errorf("watchlist import --help:\n%s", help)
	}
}
