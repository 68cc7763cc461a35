package config

import (
	"strings"
	"testing"
)

// A decoding error named a Go type ("field broker not found in type
// config.Kafka"), which the operator never wrote, and an unset secret
// variable named no key at all; a second YAML document was ignored
// without a word, so a redis.url given there was not used and config
// check said ok. Each now names the key path the operator wrote.
func TestDecodeErrorsNameTheKeyPath(t *testing.T) {
	t.Setenv("TW_KEYPATH_SET", "x")
	for _, c := range []struct {
		name, yml string
		want      []string
		never     string
	}{
		{"an unknown key", "kafka:\n  broker: ['k:9092']\n",
			[]string{"line 2: kafka.broker: unknown key", `did you mean "brokers"`}, "config.Kafka"},
		{"an unknown key in a flow mapping", "aggregate: {spike: {fire_scor: 3}}\n",
			[]string{"aggregate.spike.fire_scor: unknown key", `did you mean "fire_score"`}, "config."},
		{"an unknown key in a list item", "notify:\n  receivers:\n    - name: a\n      typo: 1\n",
			[]string{"line 4: notify.receivers[0].typo: unknown key"}, "config."},
		{"an unknown key at the top", "kafak:\n  brokers: ['k:9092']\n",
			[]string{"line 1: kafak: unknown key", `did you mean "kafka"`}, "config.Config"},
		{"a value of the wrong type", "aggregate:\n  spike:\n    fire_score: high\n",
			[]string{"line 3: aggregate.spike.fire_score: cannot unmarshal"}, ""},
		{"an unset secret variable", "kafka:\n  sasl:\n    mechanism: plain\n    username: u\n    password: {env: TW_KEYPATH_UNSET}\n",
			[]string{"line 5: kafka.sasl.password: environment variable TW_KEYPATH_UNSET is not set"}, ""},
		{"a second document", "kafka: {brokers: ['k:9092']}\n---\nredis: {url: 'redis://r:6379'}\n",
			[]string{"more than one YAML document"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yml))
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if c.never != "" && strings.Contains(err.Error(), c.never) {
				t.Errorf("error %q names a Go type (%q)", err, c.never)
			}
		})
	}
	// A document separator with nothing after it is one document.
	if _, err := Parse([]byte("kafka: {brokers: ['k:9092']}\n---\n")); err != nil {
		t.Errorf("a trailing document separator: %v", err)
	}
}
