package classifiers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// ReadLabelled reads a labelled JSON-lines file: {"id","text","doxxing":0|1,
// "swatting":0|1,"threat":0|1} with any label absent meaning unlabelled,
// and optional "quoted" (a list of quoted blocks). A bad line (one that
// does not decode, or one over msg.MaxLine) is returned as a
// *msg.LineError in bad and skipped; the lines after it are read.
func ReadLabelled(r io.Reader, name string) (posts []LabelledPost, bad []error, err error) {
	return ReadLabelledWhere(r, name, nil)
}

// ReadLabelledWhere is ReadLabelled on the lines for which keep returns
// true (nil keeps all). keep sees each line as read; line numbers in
// errors count every line.
func ReadLabelledWhere(r io.Reader, name string, keep func(line []byte) bool) (posts []LabelledPost, bad []error, err error) {
	lines := msg.NewLines(r, msg.MaxLine)
	for {
		b, err := lines.Next()
		switch {
		case errors.Is(err, io.EOF):
			return posts, bad, nil
		case errors.Is(err, msg.ErrLineTooLong):
			bad = append(bad, &msg.LineError{Name: name, Line: lines.Line(), Err: err})
			continue
		case err != nil:
			return posts, bad, fmt.Errorf("cannot read %s: %w", name, err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 || keep != nil && !keep(b) {
			continue
		}
		line := lines.Line()
		var p LabelledPost
		if err := json.Unmarshal(b, &p); err != nil {
			bad = append(bad, &msg.LineError{Name: name, Line: line, Err: err})
			continue
		}
		if perr := checkLabels(&p); perr != nil {
			bad = append(bad, &msg.LineError{Name: name, Line: line, Err: perr})
			continue
		}
		if p.ID == "" {
			p.ID = fmt.Sprintf("%s:%d", name, line)
		}
		posts = append(posts, p)
	}
}

func checkLabels(p *LabelledPost) error {
	for _, sig := range msg.Signals {
		if v, ok := p.Label(sig); ok && v != 0 && v != 1 {
			return fmt.Errorf("label %s=%d, want 0 or 1", sig, v)
		}
	}
	return nil
}

// SignalMetrics are one signal's figures on a labelled set.
type SignalMetrics struct {
	Signal    msg.Signal
	Threshold float64
	N, Pos    int
	TP, FP    int
	FN, TN    int
	Precision float64
	Recall    float64
	F1        float64
	// AUC is the ROC AUC (probability a random positive outscores a
	// random negative; ties count half). 0 when a class is missing.
	AUC float64
	// Calibration buckets the scores in tenths: per bucket, how many
	// posts, their mean score and the fraction that are positive.
	Calibration []CalibrationBin
	// Errors lists the ids of misclassified posts (false positives first).
	FalsePositives, FalseNegatives []string
}

// CalibrationBin is one row of a calibration table.
type CalibrationBin struct {
	Lo, Hi    float64
	N         int
	MeanScore float64
	Positive  float64 // fraction of posts in the bin that are positive
}

// Scored pairs a labelled post with its scores.
type Scored struct {
	Post   LabelledPost
	Scores map[msg.Signal]float64
}

// ScoreLabelled scores every labelled post.
func (c *Classifier) ScoreLabelled(ctx context.Context, posts []LabelledPost) ([]Scored, error) {
	out := make([]Scored, 0, len(posts))
	for i := range posts {
		s, err := c.Score(ctx, posts[i].Post())
		if err != nil {
			return nil, err
		}
		out = append(out, Scored{Post: posts[i], Scores: s.Scores})
	}
	return out, nil
}

// Metrics computes a signal's figures at a threshold.
func Metrics(scored []Scored, sig msg.Signal, threshold float64) SignalMetrics {
	m := SignalMetrics{Signal: sig, Threshold: threshold}
	type ys struct {
		score float64
		y     int
	}
	var all []ys
	for _, s := range scored {
		y, ok := s.Post.Label(sig)
		if !ok {
			continue
		}
		v := s.Scores[sig]
		all = append(all, ys{v, y})
		m.N++
		pred := v >= threshold
		switch {
		case y == 1 && pred:
			m.TP++
		case y == 1:
			m.FN++
			m.FalseNegatives = append(m.FalseNegatives, s.Post.ID)
		case pred:
			m.FP++
			m.FalsePositives = append(m.FalsePositives, s.Post.ID)
		default:
			m.TN++
		}
	}
	m.Pos = m.TP + m.FN
	if m.TP+m.FP > 0 {
		m.Precision = float64(m.TP) / float64(m.TP+m.FP)
	}
	if m.Pos > 0 {
		m.Recall = float64(m.TP) / float64(m.Pos)
	}
	if m.Precision+m.Recall > 0 {
		m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
	}
	// AUC by ranks (Mann-Whitney), ties averaged.
	sort.Slice(all, func(i, j int) bool { return all[i].score < all[j].score })
	neg := m.N - m.Pos
	if m.Pos > 0 && neg > 0 {
		rankSum := 0.0
		for i := 0; i < len(all); {
			j := i
			for j < len(all) && all[j].score == all[i].score {
				j++
			}
			avg := float64(i+j+1) / 2 // ranks are 1-based
			for k := i; k < j; k++ {
				if all[k].y == 1 {
					rankSum += avg
				}
			}
			i = j
		}
		m.AUC = (rankSum - float64(m.Pos)*float64(m.Pos+1)/2) / (float64(m.Pos) * float64(neg))
	}
	for b := 0; b < 10; b++ {
		bin := CalibrationBin{Lo: float64(b) / 10, Hi: float64(b+1) / 10}
		sum, pos := 0.0, 0
		for _, x := range all {
			in := x.score >= bin.Lo && x.score < bin.Hi || b == 9 && x.score >= 1
			if in {
				bin.N++
				sum += x.score
				pos += x.y
			}
		}
		if bin.N > 0 {
			bin.MeanScore = sum / float64(bin.N)
			bin.Positive = float64(pos) / float64(bin.N)
		}
		m.Calibration = append(m.Calibration, bin)
	}
	return m
}

// ExpectedCalibrationError is the bin-weighted mean gap between mean score
// and observed positive rate.
func (m SignalMetrics) ExpectedCalibrationError() float64 {
	if m.N == 0 {
		return 0
	}
	e := 0.0
	for _, b := range m.Calibration {
		d := b.MeanScore - b.Positive
		if d < 0 {
			d = -d
		}
		e += d * float64(b.N) / float64(m.N)
	}
	return e
}

// WriteReport prints figures the way `threatwatch eval` shows them.
func WriteReport(w io.Writer, ms []SignalMetrics, verbose bool) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-9s %9s %5s %5s %4s %4s %4s %9s %7s %6s %6s %6s\n", "signal", "threshold", "n", "pos", "tp", "fp", "fn", "precision", "recall", "f1", "auc", "ece")
	for _, m := range ms {
		fmt.Fprintf(&sb, "%-9s %9.2f %5d %5d %4d %4d %4d %9.3f %7.3f %6.3f %6.3f %6.3f\n", m.Signal, m.Threshold, m.N, m.Pos, m.TP, m.FP, m.FN,
			m.Precision, m.Recall, m.F1, m.AUC, m.ExpectedCalibrationError())
	}
	for _, m := range ms {
		fmt.Fprintf(&sb, "\ncalibration %s:\n  %-11s %5s %10s %10s\n", m.Signal, "score", "n", "mean", "positive")
		for _, b := range m.Calibration {
			if b.N == 0 {
				continue
			}
			fmt.Fprintf(&sb, "  [%.1f,%.1f)  %5d %10.3f %10.3f\n", b.Lo, b.Hi, b.N, b.MeanScore, b.Positive)
		}
		if verbose {
			fmt.Fprintf(&sb, "  false positives: %s\n  false negatives: %s\n", strings.Join(m.FalsePositives, " "), strings.Join(m.FalseNegatives, " "))
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// ErrNoLabels is returned when a labelled file has no usable line.
var ErrNoLabels = errors.New("no labelled posts")
