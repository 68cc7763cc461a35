package classifiers

import (
	"context"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestQualityOnOwnLabelledPosts is the regression bar on the project's
// own labelled posts (testdata/labelled.jsonl): the training split must
// stay well fitted and the held-out quarter, which training never sees,
// above a floor. A lexicon or feature change that loses ground fails here.
func TestQualityOnOwnLabelledPosts(t *testing.T) {
	train, held := loadLabelled(t)
	c := newTestClassifier(t)
	check := func(name string, posts []LabelledPost, minF1, minAUC, maxECE float64) {
		t.Helper()
		scored, err := c.ScoreLabelled(context.Background(), posts)
		if err != nil {
			t.Fatal(err)
		}
		for _, sig := range msg.Signals {
			m := Metrics(scored, sig, c.Thresholds().Of(string(sig)))
			t.Logf("%s %-8s n=%d pos=%d P=%.3f R=%.3f F1=%.3f AUC=%.3f ECE=%.3f", name, sig, m.N, m.Pos, m.Precision, m.Recall, m.F1, m.AUC, m.ExpectedCalibrationError())
			if m.F1 < minF1 || m.AUC < minAUC || m.ExpectedCalibrationError() > maxECE {
				t.Errorf("%s %s: F1 %.3f (min %.2f), AUC %.3f (min %.2f), ECE %.3f (max %.2f); false positives %v, false negatives %v",
					name, sig, m.F1, minF1, m.AUC, minAUC, m.ExpectedCalibrationError(), maxECE, m.FalsePositives, m.FalseNegatives)
			}
		}
	}
	check("train", train, 0.85, 0.97, 0.06)
	check("held-out", held, 0.72, 0.90, 0.08)
}

// TestHardNegativeFalsePositiveRate bounds false alarms on the labelled
// hard negatives and chatter (rows positive for no signal).
func TestHardNegativeFalsePositiveRate(t *testing.T) {
	train, held := loadLabelled(t)
	c := newTestClassifier(t)
	scored, err := c.ScoreLabelled(context.Background(), append(train, held...))
	if err != nil {
		t.Fatal(err)
	}
	neg, flagged := 0, 0
	for _, s := range scored {
		pos := false
		for _, sig := range msg.Signals {
			if y, _ := s.Post.Label(sig); y == 1 {
				pos = true
			}
		}
		if pos {
			continue
		}
		neg++
		for _, sig := range msg.Signals {
			if s.Scores[sig] >= c.Thresholds().Of(string(sig)) {
				flagged++
				t.Logf("flagged %s %s %.2f", s.Post.ID, sig, s.Scores[sig])
				break
			}
		}
	}
	rate := float64(flagged) / float64(neg)
	t.Logf("%d of %d negative posts flagged (%.1f%%)", flagged, neg, 100*rate)
	if rate > 0.04 {
		t.Errorf("%.1f%% of negative posts flagged, want at most 4%%", 100*rate)
	}
}
