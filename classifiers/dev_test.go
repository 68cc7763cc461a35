package classifiers

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestDevReport(t *testing.T) {
	path := os.Getenv("TW_DEV")
	if path == "" {
		t.Skip("TW_DEV not set")
	}
	var posts []LabelledPost
	if path == "holdout" || path == "train" {
		tr, h := loadLabelled(t)
		posts = h
		if path == "train" {
			posts = tr
		}
	} else {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		posts, _, _ = ReadLabelled(f, path)
	}
	c, err := New(config.Default().Classify)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := c.ScoreLabelled(context.Background(), posts)
	var ms []SignalMetrics
	for _, sig := range msg.Signals {
		ms = append(ms, Metrics(sc, sig, 0.5))
	}
	WriteReport(os.Stdout, ms, false)
	for _, s := range sc {
		for _, sig := range msg.Signals {
			y, ok := s.Post.Label(sig)
			if !ok {
				continue
			}
			if (s.Scores[sig] >= 0.5) != (y == 1) {
				fmt.Printf("%s %s y=%d p=%.2f %q\n   %v\n", s.Post.ID, sig, y, s.Scores[sig], trunc(s.Post.Text), c.Explain(s.Post.Text)[sig])
			}
		}
	}
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
