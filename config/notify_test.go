package config

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// Each testdata/notify/conf.<case>.yml is paired with the error it must
// produce ("" for a file that must load).
func TestNotifyConfigCases(t *testing.T) {
	cases := map[string]string{
		"good":                 "",
		"unknown-receiver":     `notify.routes[0].receivers[1]: is not one of the allowed values: no receiver named "b"`,
		"dup-receiver":         `notify.receivers[1].name: is not one of the allowed values: "a" is used by another receiver`,
		"bad-matcher":          `notify.routes[0].matchers[0]: is not one of the allowed values: invalid matcher: site: error parsing regexp`,
		"unused-receiver":      `notify.receivers[1].name: is not used: receiver "lonely" is used by no route`,
		"no-type":              "notify.receivers[0].type: is required",
		"bad-retry":            "notify.retry.attempts: is out of range: 50, want 1..20",
		"settings-not-mapping": "settings must be a mapping",
		"bad-external-url":     `notify.external_url: is not one of the allowed values: "threatwatch.example.org" is not an http(s) URL`,
	}
	files, _ := filepath.Glob("testdata/notify/conf.*.yml")
	if len(files) != len(cases) {
		t.Fatalf("%d case files but %d expectations: keep them paired", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", "notify", "conf."+name+".yml"))
			switch {
			case want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case want != "" && err == nil:
				t.Fatalf("loaded, want error containing %q", want)
			case want != "" && !strings.Contains(err.Error(), want):
				t.Fatalf("error %q\ndoes not contain %q", err, want)
			}
		})
	}
}

func TestNotifyDefaultsSendToStdout(t *testing.T) {
	c := Default()
	if len(c.Notify.Receivers) != 1 || c.Notify.Receivers[0].Type != "file" || c.Notify.DefaultReceivers[0] != DefaultReceiverName {
		t.Fatalf("default receivers: %+v", c.Notify.Receivers)
	}
	if c.Notify.RepeatInterval != DefaultRepeatInterval {
		t.Fatalf("repeat interval %v", c.Notify.RepeatInterval)
	}
}

func TestPrintedNotifyConfigMasksSecrets(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "notify", "conf.good.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteYAML(&b, c); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, secret := range []string{"0123456789abcdef0123456789abcdef", "secretpart"} {
		if strings.Contains(out, secret) {
			t.Errorf("printed config shows a secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"routing_key: <secret>", "/var/log/threatwatch/alerts.jsonl", "name: team-sec"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed config lacks %q:\n%s", want, out)
		}
	}
	// What is printed loads again (with the secrets replaced).
	if _, err := Parse(b.Bytes()); err != nil {
		t.Errorf("printed config does not parse: %v", err)
	}
}
