package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a value that must never be printed: passwords, tokens, webhook
// URLs with keys in them. In YAML it is written as one of
//
//	password: {env: KAFKA_PASSWORD}      # from an environment variable
//	password: {file: /run/secrets/kafka} # from a file (trailing newline cut)
//	password: ${KAFKA_PASSWORD}          # shorthand for env
//	password: literal                    # accepted, not recommended
//
// String, fmt, JSON, YAML and slog all show "<secret>".
type Secret struct {
	value  string
	source string
}

// NewSecret wraps a value (for tests and for code that builds configs).
func NewSecret(v string) Secret { return Secret{value: v, source: "literal"} }

// Value returns the secret itself. Call it only where the value is used.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was given.
func (s Secret) IsSet() bool { return s.value != "" }

// Source says where the value came from (env:NAME, file:PATH, literal),
// which is safe to print.
func (s Secret) Source() string { return s.source }

func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "<secret>"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalJSON never writes the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML never writes the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads the forms described on Secret.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		v := n.Value
		if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") {
			return s.fromEnv(strings.TrimSuffix(strings.TrimPrefix(v, "${"), "}"), n.Line)
		}
		s.value, s.source = v, "literal"
		return nil
	case yaml.MappingNode:
		var m struct {
			Env  string `yaml:"env"`
			File string `yaml:"file"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		switch {
		case m.Env != "" && m.File != "":
			return fmt.Errorf("line %d: a secret takes env or file, not both", n.Line)
		case m.Env != "":
			return s.fromEnv(m.Env, n.Line)
		case m.File != "":
			b, err := os.ReadFile(m.File)
			if err != nil {
				return fmt.Errorf("line %d: cannot read secret file: %w", n.Line, err)
			}
			s.value, s.source = strings.TrimRight(string(b), "\r\n"), "file:"+m.File
			return nil
		}
		return fmt.Errorf("line %d: a secret needs env or file", n.Line)
	}
	return fmt.Errorf("line %d: a secret is a string or {env: NAME} or {file: PATH}", n.Line)
}

func (s *Secret) fromEnv(name string, line int) error {
	v, ok := os.LookupEnv(name)
	if !ok {
		return fmt.Errorf("line %d: environment variable %s is not set", line, name)
	}
	s.value, s.source = v, "env:"+name
	return nil
}

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
