package config

import (
	"errors"
	"strings"
	"testing"
)

func TestClassifyDefaultsAndValidation(t *testing.T) {
	c := Default()
	if c.Classify.Thresholds.Threat != DefaultThreshold || c.Classify.QuotedWeight != DefaultQuotedWeight || c.Classify.NER != "prose" {
		t.Errorf("defaults not applied: %+v", c.Classify)
	}
	f := func(yaml, wantPath string) {
		t.Helper()
		c, err := Parse([]byte(yaml))
		if err == nil {
			err = c.Validate()
		}
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), wantPath) {
			t.Errorf("%q: got %v, want a problem at %s", yaml, err, wantPath)
		}
	}
	f("classify: {thresholds: {threat: 1.5}}", "classify.thresholds.threat")
	f("classify: {thresholds: {doxxing: -0.2}}", "classify.thresholds.doxxing")
	f("classify: {quoted_weight: 2}", "classify.quoted_weight")
	f("classify: {ner: spacy}", "classify.ner")
	f("classify: {ner_min_score: 3}", "classify.ner_min_score")
	f("classify: {ner_max_sentences: 1000}", "classify.ner_max_sentences")
	c, err := Parse([]byte("classify: {thresholds: {swatting: 0.6}, ner: off}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || c.Classify.Thresholds.Of("swatting") != 0.6 || c.Classify.NER != "off" {
		t.Errorf("valid section rejected or misread: %v %+v", err, c.Classify)
	}
}
