package config

// Scrape configures the scrape stage (scrapers).
type Scrape struct{}

func (c *Scrape) setDefaults() {}

func (c *Scrape) validate(path string) error {
	var p Problems
	_ = path
	return p.Err()
}
