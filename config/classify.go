package config

import "fmt"

// Classify configures the classify stage (classifiers).
type Classify struct {
	// Thresholds are the default alert thresholds per signal: a score at or
	// above one counts as a positive (eval reports precision and recall
	// there; the aggregator may use its own).
	Thresholds Thresholds `yaml:"thresholds"`
	// QuotedWeight scales the score of text quoted from other posts before
	// it is combined with the author's own words: quoting a threat is not
	// making one. 0 ignores quotes; 1 treats them as the author's words.
	QuotedWeight float64 `yaml:"quoted_weight"`
	// NER selects the named-entity recognizer run on posts that score:
	// "prose" (default) or "off" (entities from the cheap pass only).
	NER string `yaml:"ner"`
	// NERMinScore is the lowest signal score at which a post is worth the
	// NER pass (it costs about a millisecond a sentence).
	NERMinScore float64 `yaml:"ner_min_score"`
	// NERMaxSentences bounds the sentences of one post given to NER.
	NERMaxSentences int `yaml:"ner_max_sentences"`
}

// Thresholds holds one alert threshold per signal, each in (0,1].
type Thresholds struct {
	Doxxing  float64 `yaml:"doxxing"`
	Swatting float64 `yaml:"swatting"`
	Threat   float64 `yaml:"threat"`
}

// Of returns the threshold of a signal by name (0 for an unknown one).
func (t Thresholds) Of(signal string) float64 {
	switch signal {
	case "doxxing":
		return t.Doxxing
	case "swatting":
		return t.Swatting
	case "threat":
		return t.Threat
	}
	return 0
}

// Default classifier settings; docs/classifiers.md explains them.
const (
	DefaultThreshold       = 0.5
	DefaultQuotedWeight    = 0.35
	DefaultNERMinScore     = 0.5
	DefaultNERMaxSentences = 1
)

func (c *Classify) setDefaults() {
	setDefault(&c.Thresholds.Doxxing, DefaultThreshold)
	setDefault(&c.Thresholds.Swatting, DefaultThreshold)
	setDefault(&c.Thresholds.Threat, DefaultThreshold)
	setDefault(&c.QuotedWeight, DefaultQuotedWeight)
	setDefault(&c.NER, "prose")
	setDefault(&c.NERMinScore, DefaultNERMinScore)
	setDefault(&c.NERMaxSentences, DefaultNERMaxSentences)
}

func (c *Classify) validate(path string) error {
	var p Problems
	for _, t := range []struct {
		name string
		v    float64
	}{{"doxxing", c.Thresholds.Doxxing}, {"swatting", c.Thresholds.Swatting}, {"threat", c.Thresholds.Threat}} {
		if !(t.v > 0 && t.v <= 1) {
			p.Addf(fmt.Sprintf("%s.thresholds.%s", path, t.name), ErrOutOfRange, "%v, want a score in (0,1]", t.v)
		}
	}
	if !(c.QuotedWeight >= 0 && c.QuotedWeight <= 1) {
		p.Addf(path+".quoted_weight", ErrOutOfRange, "%v, want 0..1", c.QuotedWeight)
	}
	switch c.NER {
	case "prose", "off":
	default:
		p.Addf(path+".ner", ErrInvalidEnum, "%q, want prose or off", c.NER)
	}
	if !(c.NERMinScore >= 0 && c.NERMinScore <= 1) {
		p.Addf(path+".ner_min_score", ErrOutOfRange, "%v, want 0..1", c.NERMinScore)
	}
	if c.NERMaxSentences < 0 || c.NERMaxSentences > 100 {
		p.Addf(path+".ner_max_sentences", ErrOutOfRange, "%d, want 0..100", c.NERMaxSentences)
	}
	return p.Err()
}
