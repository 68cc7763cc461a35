package config

// Classify configures the classify stage (classifiers).
type Classify struct{}

func (c *Classify) setDefaults() {}

func (c *Classify) validate(path string) error {
	var p Problems
	_ = path
	return p.Err()
}
