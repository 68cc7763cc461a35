package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// TestWatchlistImportOfNothingRemovesNobody: the documented way to import
// is `gpg -d persons.yaml.gpg | threatwatch watchlist import -`. When gpg
// fails (no agent, wrong passphrase, file missing), its error goes to the
// terminal and the pipe carries nothing; a shell without pipefail runs
// the import all the same. Read as a file of no persons, that import
// would remove every protected person. An input with no document at all
// must be refused and change nothing; an explicit `persons: []` still
// empties the list.
func TestWatchlistImportOfNothingRemovesNobody(t *testing.T) {
	srv := redistest.Start(t)
	cfg := watchlistEnv(t, srv, "k1")
	file := filepath.Join(t.TempDir(), "persons.yaml")
	if err := os.WriteFile(file, []byte(watchlistFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "", "watchlist", "import", "--config", cfg, file); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	listed := func(want string) {
		t.Helper()
		if code, out, errOut := run(t, "", "watchlist", "list", "--config", cfg); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("list: exit %d, want %q in %q %q", code, want, out, errOut)
		}
	}
	for _, in := range []string{"", "\n", "# persons.yaml\n"} {
		for _, sub := range []string{"import", "add"} {
			code, out, errOut := run(t, in, "watchlist", sub, "--config", cfg, "-")
			if code == 0 || !strings.Contains(errOut, "empty") {
				t.Errorf("%s of %q: exit %d, %q %q; want it refused as empty", sub, in, code, out, errOut)
			}
		}
		listed("key k1: 2 persons")
	}
	if code, out, errOut := run(t, "persons: []\n", "watchlist", "import", "--force", "--config", cfg, "-"); code != 0 || !strings.Contains(out, "removed 2") {
		t.Fatalf("import of persons: []: exit %d, %q %q", code, out, errOut)
	}
}
