package classifiers

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Model is a set of logistic models, one per signal, over the features
// each signal's scorer defines. It is trained by Train from labelled posts
// and stored as JSON (model/weights.json, embedded in the binary).
type Model struct {
	Version string `json:"version"`
	// Data names the labelled file the weights were trained from, and
	// Cases how many cases it held per signal.
	Data    string                  `json:"data"`
	Cases   map[string]int          `json:"cases,omitempty"`
	Signals map[string]*LinearModel `json:"signals"`
}

// LinearModel is one signal's logistic model: score = σ(Bias + Σ w·x).
type LinearModel struct {
	Bias    float64            `json:"bias"`
	Weights map[string]float64 `json:"weights"`
}

// Fingerprint is a stable text form of the weights (for the version).
func (m *Model) Fingerprint() string {
	b, _ := json.Marshal(m.Signals)
	return string(b)
}

//go:embed model/weights.json
var embeddedWeights []byte

var (
	embeddedOnce  sync.Once
	embeddedModel *Model
	embeddedErr   error
)

// EmbeddedModel returns the model compiled into the binary.
func EmbeddedModel() (*Model, error) {
	embeddedOnce.Do(func() {
		embeddedModel, embeddedErr = ParseModel(embeddedWeights)
	})
	return embeddedModel, embeddedErr
}

// ParseModel decodes a model file.
func ParseModel(b []byte) (*Model, error) {
	var m Model
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("cannot decode model: %w", err)
	}
	if len(m.Signals) == 0 {
		return nil, fmt.Errorf("cannot use model: no signals")
	}
	return &m, nil
}

// Encode writes the model as indented JSON with sorted keys.
func (m *Model) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// feature is one input of a signal's linear model. f returns its value
// (usually 0 or 1) and, when it fired, where in the original text
// (start < 0: nowhere in particular). kind names the evidence it gives
// when its contribution to the score is positive; "" gives none.
type feature struct {
	name string
	kind string
	f    func(d *Document) (float64, int, int)
}

// linearScorer is a Scorer made of features and a trained linear model.
type linearScorer struct {
	signal   msg.Signal
	features []feature
	model    *LinearModel
}

func (s *linearScorer) Signal() msg.Signal { return s.signal }

// vector computes the features of d.
func (s *linearScorer) vector(d *Document, x []float64, locs [][2]int) {
	for i, f := range s.features {
		v, a, b := f.f(d)
		x[i] = v
		if locs != nil {
			locs[i] = [2]int{a, b}
		}
	}
}

// Score implements Scorer.
func (s *linearScorer) Score(d *Document) (float64, []msg.Span) {
	if s.model == nil {
		return 0, nil
	}
	var xb [64]float64
	var lb [64][2]int
	n := len(s.features)
	var x []float64
	var locs [][2]int
	if n <= len(xb) {
		x, locs = xb[:n], lb[:n]
	} else {
		x, locs = make([]float64, n), make([][2]int, n)
	}
	s.vector(d, x, locs)
	z := s.model.Bias
	for i, f := range s.features {
		z += s.model.Weights[f.name] * x[i]
	}
	p := sigmoid(z)
	if p < 0.15 {
		return p, nil
	}
	var ev []msg.Span
	for i, f := range s.features {
		contrib := s.model.Weights[f.name] * x[i]
		if f.kind == "" || contrib <= 0.25 || locs[i][0] < 0 {
			continue
		}
		ev = append(ev, msg.Span{Kind: f.kind, Start: locs[i][0], End: locs[i][1], Weight: round3(contrib)})
	}
	return p, mergeSpans(ev)
}

// mergeSpans keeps one span per kind and location.
func mergeSpans(ev []msg.Span) []msg.Span {
	if len(ev) < 2 {
		return ev
	}
	out := ev[:0]
	seen := map[[3]any]int{}
	for _, e := range ev {
		k := [3]any{e.Kind, e.Start, e.End}
		if j, ok := seen[k]; ok {
			out[j].Weight = round3(out[j].Weight + e.Weight)
			continue
		}
		seen[k] = len(out)
		out = append(out, e)
	}
	return out
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// LabelledPost is one line of a labelled file: a post and, per signal,
// 1 (positive), 0 (negative) or absent (unlabelled).
type LabelledPost struct {
	ID       string   `json:"id"`
	Text     string   `json:"text"`
	Quoted   []string `json:"quoted,omitempty"`
	Doxxing  *int     `json:"doxxing,omitempty"`
	Swatting *int     `json:"swatting,omitempty"`
	Threat   *int     `json:"threat,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// Label returns the label of a signal and whether it is set.
func (l *LabelledPost) Label(sig msg.Signal) (int, bool) {
	var p *int
	switch sig {
	case msg.SignalDoxxing:
		p = l.Doxxing
	case msg.SignalSwatting:
		p = l.Swatting
	case msg.SignalThreat:
		p = l.Threat
	}
	if p == nil {
		return 0, false
	}
	return *p, true
}

// Post returns the labelled post as a Post.
func (l *LabelledPost) Post() *msg.Post {
	p := &msg.Post{ID: l.ID, Site: "labelled", Text: l.Text, Quoted: l.Quoted}
	p.Normalize()
	return p
}

// TrainOptions tune Train. The zero value uses the defaults.
type TrainOptions struct {
	L2         float64 // ridge penalty per case (default 0.001)
	Iterations int     // full-batch gradient steps (default 6000)
	Rate       float64 // step size (default 0.5)
	Version    string
	Data       string
}

// Train fits each registered signal's linear model on the labelled posts
// (own text only, as the scorers see it) by full-batch gradient descent on
// the L2-regularized log loss. It is deterministic: the same posts give the
// same weights, so the committed weights can be checked against a retrain.
func Train(posts []LabelledPost, o TrainOptions) (*Model, error) {
	if o.L2 == 0 {
		o.L2 = 0.001
	}
	if o.Iterations == 0 {
		o.Iterations = 6000
	}
	if o.Rate == 0 {
		o.Rate = 0.5
	}
	if o.Version == "" {
		o.Version = "1"
	}
	blank := &Model{Signals: map[string]*LinearModel{}}
	c := &Classifier{lex: sharedLexicon()}
	scorers := Scorers(blank)
	out := &Model{Version: o.Version, Data: o.Data, Cases: map[string]int{}, Signals: map[string]*LinearModel{}}
	docs := make([]*Document, len(posts))
	for i := range posts {
		docs[i] = &Document{}
		c.prepare(docs[i], posts[i].Text, "text")
	}
	for _, sc := range scorers {
		ls, ok := asLinear(sc)
		if !ok {
			continue
		}
		var xs [][]float64
		var ys []float64
		for i := range posts {
			y, ok := posts[i].Label(ls.signal)
			if !ok {
				continue
			}
			x := make([]float64, len(ls.features))
			ls.vector(docs[i], x, nil)
			xs = append(xs, x)
			ys = append(ys, float64(y))
		}
		if len(xs) == 0 {
			return nil, fmt.Errorf("cannot train %s: no labelled posts", ls.signal)
		}
		w, b := fitLogistic(xs, ys, o)
		lm := &LinearModel{Bias: round6(b), Weights: map[string]float64{}}
		for i, f := range ls.features {
			lm.Weights[f.name] = round6(w[i])
		}
		out.Signals[string(ls.signal)] = lm
		out.Cases[string(ls.signal)] = len(xs)
	}
	return out, nil
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func fitLogistic(xs [][]float64, ys []float64, o TrainOptions) ([]float64, float64) {
	d := len(xs[0])
	w := make([]float64, d)
	b := 0.0
	g := make([]float64, d)
	n := float64(len(xs))
	for it := 0; it < o.Iterations; it++ {
		clear(g)
		gb := 0.0
		for i, x := range xs {
			z := b
			for j, v := range x {
				z += w[j] * v
			}
			e := sigmoid(z) - ys[i]
			for j, v := range x {
				g[j] += e * v
			}
			gb += e
		}
		for j := range w {
			w[j] -= o.Rate * (g[j]/n + o.L2*w[j])
		}
		b -= o.Rate * gb / n
	}
	return w, b
}

// FeatureNames lists each signal's features, for documentation and tests.
func FeatureNames() map[msg.Signal][]string {
	out := map[msg.Signal][]string{}
	for _, sc := range Scorers(&Model{Signals: map[string]*LinearModel{}}) {
		if ls, ok := asLinear(sc); ok {
			for _, f := range ls.features {
				out[ls.signal] = append(out[ls.signal], f.name)
			}
			sort.Strings(out[ls.signal])
		}
	}
	return out
}

// Explain returns each feature's value and contribution for one text, for
// `threatwatch eval --explain` and debugging.
func (c *Classifier) Explain(text string) map[msg.Signal][]string {
	d := &Document{}
	c.prepare(d, text, "text")
	out := map[msg.Signal][]string{}
	for _, sc := range c.scorers {
		ls, ok := asLinear(sc)
		if !ok || ls.model == nil {
			continue
		}
		x := make([]float64, len(ls.features))
		ls.vector(d, x, nil)
		for i, f := range ls.features {
			if x[i] != 0 {
				out[ls.signal] = append(out[ls.signal], fmt.Sprintf("%s=%.2g(%+.2f)", f.name, x[i], x[i]*ls.model.Weights[f.name]))
			}
		}
	}
	return out
}

func newLinear(sig msg.Signal, m *Model, fs []feature) *linearScorer {
	return &linearScorer{signal: sig, features: fs, model: m.Signals[string(sig)]}
}

// b2f turns a condition into a feature value with no location.
func b2f(ok bool) (float64, int, int) {
	if ok {
		return 1, -1, -1
	}
	return 0, -1, -1
}

// at turns a condition and a location into a feature value.
func at(ok bool, a, b int) (float64, int, int) {
	if ok {
		return 1, a, b
	}
	return 0, -1, -1
}

// capped turns a count into a value in [0,1].
func capped(n float64, limit float64) (float64, int, int) {
	return math.Min(n, limit) / limit, -1, -1
}

var _ = strings.TrimSpace

// linearer is implemented by scorers built on a linearScorer, so Train can
// reach their features.
type linearer interface{ linear() *linearScorer }

func (s *linearScorer) linear() *linearScorer { return s }

func asLinear(sc Scorer) (*linearScorer, bool) {
	if l, ok := sc.(linearer); ok {
		return l.linear(), true
	}
	return nil, false
}
