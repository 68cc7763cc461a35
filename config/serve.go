package config

// Serve configures the serve stage (the API server).
type Serve struct{}

func (c *Serve) setDefaults() {}

func (c *Serve) validate(path string) error {
	var p Problems
	_ = path
	return p.Err()
}
