package docgen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the config structs")

const reference = "../../docs/config.md"

func generate(t *testing.T) []byte {
	t.Helper()
	c, err := ParseComments("..")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Generate(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReferenceIsCurrent(t *testing.T) {
	got := generate(t)
	if *update {
		if err := os.WriteFile(reference, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(reference)
	if err != nil {
		t.Fatalf("cannot read the committed reference: %v (run: go generate ./config/docgen)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/config.md is stale: the config structs or their comments changed.\nRun: go generate ./config/docgen\nfirst difference near: %q", firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return la[i]
		}
	}
	return "(one is a prefix of the other)"
}

func TestGenerate(t *testing.T) {
	out := string(generate(t))
	f := func(name, want string) {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(out, want) {
				t.Errorf("reference lacks %q", want)
			}
		})
	}
	f("a top-level section links to its table", "| `kafka` | section |")
	f("a nested section gets its own table", "## `kafka.tls`")
	f("durations show their type and default", "| `retention` | duration | `2160h0m0s` |")
	f("field comments become descriptions", "Brokers are host:port seeds.")
	f("secrets are typed as secrets", "| `password` | secret |")
	f("integers show their default", "| `partitions` | integer | `6` |")
	f("section docs come from the type comment when the field has none", "HTTP configures the operational HTTP listener.")
	t.Run("every yaml key of the example configuration is documented", func(t *testing.T) {
		// The example is the other hand-written view of the config; a key in
		// it that the reference lacks means the walk missed a field.
		ex, err := os.ReadFile(filepath.Join("..", "example.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(ex), "\n") {
			trim := strings.TrimSpace(line)
			if trim == "" || strings.HasPrefix(trim, "#") || strings.HasPrefix(trim, "-") || !strings.Contains(trim, ":") {
				continue
			}
			key := strings.TrimSpace(trim[:strings.Index(trim, ":")])
			if strings.ContainsAny(key, " {}\"'") {
				continue
			}
			if !strings.Contains(out, "| `"+key+"` |") {
				t.Errorf("example key %q is not in the reference", key)
			}
		}
	})
	t.Run("missing source is an error, not an empty reference", func(t *testing.T) {
		if _, err := ParseComments(t.TempDir()); err == nil {
			t.Fatal("ParseComments of an empty directory succeeded")
		}
	})
}

// A field without a comment takes a sibling's only when that comment is
// about it ("Partitions and ReplicationFactor are used..."), not when it
// merely mentions its name further on ("rediss:// for TLS").
func TestFieldDocTakesOnlyASiblingCommentAboutTheField(t *testing.T) {
	c := &Comments{fields: map[string]map[string]string{"T": {
		"URL":               "URL is redis://host:port/db or rediss:// for TLS. A password in the URL is accepted but better given as Password.",
		"TLS":               "",
		"Password":          "",
		"Partitions":        "Partitions and ReplicationFactor are used when creating topics.",
		"ReplicationFactor": "",
		"RetryMin":          "RetryMin, RetryMax and Attempts bound the backoff.",
		"RetryMax":          "",
		"Attempts":          "",
	}}}
	f := func(field, want string) {
		t.Helper()
		if got := c.fieldDoc("T", field); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	f("TLS", "")
	f("Password", "")
	f("ReplicationFactor", "Partitions and ReplicationFactor are used when creating topics.")
	f("RetryMax", "RetryMin, RetryMax and Attempts bound the backoff.")
	f("Attempts", "RetryMin, RetryMax and Attempts bound the backoff.")
}

func TestReferenceDescribesEveryTLSKeyAndNoSectionWithAnotherKeysComment(t *testing.T) {
	out := string(generate(t))
	for _, sec := range []string{"kafka.tls", "redis.tls"} {
		i := strings.Index(out, "## `"+sec+"`\n")
		if i < 0 {
			t.Fatalf("no section %s", sec)
		}
		body := out[i:]
		if j := strings.Index(body[1:], "\n## "); j >= 0 {
			body = body[:j+1]
		}
		if strings.Contains(body, "URL is redis://") {
			t.Errorf("%s is described by redis.url's comment:\n%s", sec, body)
		}
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "| `") && strings.HasSuffix(line, "|  |") {
				t.Errorf("%s: a key without a description: %s", sec, line)
			}
		}
	}
	if strings.Contains(out, "| `password` | secret |  | URL is") {
		t.Error("redis.password is described by redis.url's comment")
	}
}
