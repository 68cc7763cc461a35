package main

import (
	"strings"
	"testing"
)

// config's subcommands take --help as help, not as a file name, and
// refuse arguments they would ignore.
func TestConfigSubcommandsTakeHelpAndRefuseStrayArguments(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		want     string
		wantNone string
	}{
		{[]string{"config", "check", "--help"}, 0, "Usage: threatwatch config check FILE", "cannot read config"},
		{[]string{"config", "check", "-h"}, 0, "Usage: threatwatch config check FILE", "cannot read config"},
		{[]string{"config", "example", "--help"}, 0, "Usage: threatwatch config", "kafka:"},
		{[]string{"config", "example", "extra"}, 2, `unexpected argument "extra"`, "kafka:"},
		{[]string{"config", "defaults", "extra"}, 2, `unexpected argument "extra"`, "kafka:"},
	} {
		code, out, errOut := run(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(out+errOut, tc.wantNone) {
			t.Errorf("%v: exit %d, stdout %.80q, stderr %q; want %d and %q, without %q", tc.args, code, out, errOut, tc.code, tc.want, tc.wantNone)
		}
	}
}
