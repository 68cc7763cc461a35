package config

// Watchlist configures the watchlist stage (classifiers/watchlist).
type Watchlist struct{}

func (c *Watchlist) setDefaults() {}

func (c *Watchlist) validate(path string) error {
	var p Problems
	_ = path
	return p.Err()
}
