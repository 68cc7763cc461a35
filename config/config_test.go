package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each testdata/conf.<case>.yml is paired here with the exact error it must
// produce ("" for a file that must load).
func TestConfigCases(t *testing.T) {
	cases := map[string]string{
		"good":               "",
		"unknown-key":        `kafka.brokerz: unknown key (did you mean "brokers"?)`,
		"broker-no-port":     `kafka.brokers[0]: is not one of the allowed values: "localhost" is not host:port`,
		"bad-partitions":     "kafka.partitions: is out of range: -1, want 1..10000",
		"bad-sasl":           `kafka.sasl.mechanism: is not one of the allowed values: "kerberos", want plain, scram-sha-256 or scram-sha-512`,
		"secret-env-missing": "environment variable TW_TEST_UNSET_VAR is not set",
		"bad-topic":          `topics.posts: is not one of the allowed values: "bad topic!" is not a legal Kafka topic name`,
		"dup-topic":          `"posts" is also used by`,
		"bad-log-level":      `log.level: is not one of the allowed values: "loud", want debug, info, warn or error`,
		"bad-redis-url":      "redis.url: is not one of the allowed values: want a redis://, rediss:// or unix:// URL",
		"sentinel-no-addrs":  "redis.sentinel.addrs: is required: with a sentinel master_name",
		"bad-duration":       "cannot parse config",
		"bad-feed-stall":     "serve.feed.stall: is out of range: 45s, want >= 2 x feed.check (1m0s)",
		"tls-not-enabled":    "redis.tls.enabled: is required: ca_file has no effect without it",
		"negative-dedup-ttl": "runner.dedup_ttl: is out of range: -1h0m0s, want > 0",
		"sasl-no-password":   "kafka.sasl.password: is required: with a SASL mechanism",
		"listen-clash":       `serve.listen: is not one of the allowed values: "0.0.0.0:8080" binds the port of http.listen (":8080"); give them different ports`,
	}
	files, _ := filepath.Glob("testdata/conf.*.yml")
	if len(files) != len(cases) {
		t.Fatalf("%d case files but %d expectations: keep them paired", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", "conf."+name+".yml"))
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

func TestValidateNamesEveryProblemAtOnce(t *testing.T) {
	c := Default()
	c.Kafka.Partitions = 0
	c.Log.Format = "xml"
	err := c.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want a *FieldError, got %v", err)
	}
	for _, path := range []string{"kafka.partitions", "log.format"} {
		if !strings.Contains(err.Error(), path+":") {
			t.Errorf("error does not name %s: %v", path, err)
		}
	}
	if !errors.Is(err, ErrOutOfRange) || !errors.Is(err, ErrInvalidEnum) {
		t.Errorf("sentinels not reachable with errors.Is: %v", err)
	}
}

func TestExampleConfigLoadsAndDefaultsValidate(t *testing.T) {
	if _, err := Parse([]byte(Example)); err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestEmptyFileRunsOnEmbeddedDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Kafka.Brokers) != 0 || c.Redis.URL.IsSet() {
		t.Fatal("an empty config must leave brokers and Redis unset (embedded)")
	}
	if c.Topics.Name(c.Topics.Posts) != "posts" {
		t.Fatalf("posts topic = %q", c.Topics.Name(c.Topics.Posts))
	}
}

func TestSecretsAreNeverPrinted(t *testing.T) {
	t.Setenv("TW_TEST_PASSWORD", "hunter2-very-secret")
	c, err := Parse([]byte("kafka:\n  sasl:\n    mechanism: plain\n    username: u\n    password: ${TW_TEST_PASSWORD}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.SASL.Password.Value() != "hunter2-very-secret" {
		t.Fatal("secret not read from the environment")
	}
	var sb strings.Builder
	if err := WriteYAML(&sb, c); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(c)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("cfg", "password", c.Kafka.SASL.Password)
	for name, out := range map[string]string{
		"yaml": sb.String(), "json": string(js), "%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c),
		"%#v": fmt.Sprintf("%#v", c.Kafka.SASL.Password), "slog": logged.String(),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s output leaks the secret", name)
		}
	}
	if c.Kafka.SASL.Password.Source() != "env:TW_TEST_PASSWORD" {
		t.Errorf("source = %q", c.Kafka.SASL.Password.Source())
	}
}

func TestSecretFromFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("redis:\n  password: {file: " + f + "}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Password.Value() != "from-file" {
		t.Fatalf("got %q", c.Redis.Password.Value())
	}
}
