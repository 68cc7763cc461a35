package config

// Notify configures the notify stage (pipeline/notify).
type Notify struct{}

func (c *Notify) setDefaults() {}

func (c *Notify) validate(path string) error {
	var p Problems
	_ = path
	return p.Err()
}
