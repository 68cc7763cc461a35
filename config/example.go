package config

import (
	_ "embed"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Example is the documented example configuration (example.yaml beside this
// file); a test checks that it parses and validates.
//
//go:embed example.yaml
var Example string

// WriteYAML writes c as YAML. Secrets print as "<secret>".
func WriteYAML(w io.Writer, c *Config) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("cannot encode config: %w", err)
	}
	return enc.Close()
}
