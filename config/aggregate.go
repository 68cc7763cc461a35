package config

// Aggregate configures the aggregate stage (pipeline/aggregate).
type Aggregate struct{}

func (c *Aggregate) setDefaults() {}

func (c *Aggregate) validate(path string) error {
	var p Problems
	_ = path
	return p.Err()
}
