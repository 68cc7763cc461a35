// Package nab connects the aggregator to the Numenta Anomaly Benchmark's
// data as the nab-tweets-dev README describes: each NAB series becomes a
// site whose posts follow the series' volume, and alerts come back as the
// detection CSVs nabscore.py reads. It is evaluation tooling: the figure
// it yields comes from the real engine (pipeline/aggregate) and the
// shipped default configuration.
package nab

import (
	"container/heap"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/aggregate"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TimeLayout is NAB's naive UTC timestamp layout.
const TimeLayout = "2006-01-02 15:04:05"

// SitePrefix starts every NAB site name: nab-<category>-<stem>.
const SitePrefix = "nab-"

// Series is one NAB data file.
type Series struct {
	Category string // realTweets
	Stem     string // Twitter_volume_AAPL
	Times    []time.Time
	Values   []int
}

// Site is the site name the series' posts carry.
func (s *Series) Site() string { return SitePrefix + s.Category + "-" + s.Stem }

// Load reads every data/<category>/*.csv under dir (only the categories
// named, or all when none are).
func Load(dir string, categories ...string) ([]*Series, error) {
	cats, err := os.ReadDir(filepath.Join(dir, "data"))
	if err != nil {
		return nil, fmt.Errorf("cannot list NAB data: %w", err)
	}
	var out []*Series
	for _, c := range cats {
		if !c.IsDir() || (len(categories) > 0 && !slices.Contains(categories, c.Name())) {
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, "data", c.Name(), "*.csv"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			s, err := readSeries(f, c.Name())
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no NAB data files under %s", filepath.Join(dir, "data"))
	}
	return out, nil
}

func readSeries(path, category string) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open NAB file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil || len(head) < 2 || head[0] != "timestamp" {
		return nil, fmt.Errorf("%s: want a timestamp,value header", path)
	}
	s := &Series{Category: category, Stem: strings.TrimSuffix(filepath.Base(path), ".csv")}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		t, err := time.Parse(TimeLayout, strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad timestamp: %w", path, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil || v < 0 || v > 1e7 {
			return nil, fmt.Errorf("%s:%d: bad value %q", path, line, rec[1])
		}
		s.Times = append(s.Times, t)
		s.Values = append(s.Values, int(v+0.5))
	}
	return s, nil
}

// row is one series row in the merge.
type row struct {
	s *Series
	i int
}

type rowHeap []row

func (h rowHeap) Len() int { return len(h) }
func (h rowHeap) Less(a, b int) bool {
	ta, tb := h[a].s.Times[h[a].i], h[b].s.Times[h[b].i]
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return h[a].s.Stem < h[b].s.Stem
}
func (h rowHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *rowHeap) Push(x any)   { *h = append(*h, x.(row)) }
func (h *rowHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Posts calls emit with the scored posts of every series, merged in event
// time order: row (t, v) becomes v posts stamped t with ids
// <stem>:<row>:<k>, each with threat = 1.0 and the other signals 0, so that
// every post adds the same weight and the level follows the volume.
func Posts(ctx context.Context, series []*Series, emit func(*msg.Scored) error) (int, error) {
	h := &rowHeap{}
	for _, s := range series {
		if len(s.Times) > 0 {
			*h = append(*h, row{s, 0})
		}
	}
	heap.Init(h)
	n := 0
	for h.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		r := (*h)[0]
		t := r.s.Times[r.i]
		for k := 0; k < r.s.Values[r.i]; k++ {
			p := &msg.Scored{
				Schema: msg.SchemaScored,
				Post: msg.Post{
					Schema: msg.SchemaPost, ID: fmt.Sprintf("%s:%d:%d", r.s.Stem, r.i, k),
					Site: r.s.Site(), Engine: "nab", Published: t, Fetched: t,
				},
				Scores:     map[msg.Signal]float64{msg.SignalDoxxing: 0, msg.SignalSwatting: 0, msg.SignalThreat: 1},
				Classifier: "nab", Version: "1",
			}
			if err := emit(p); err != nil {
				return n, err
			}
			n++
		}
		if r.i+1 < len(r.s.Times) {
			(*h)[0].i++
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return n, nil
}

// Drive feeds scored posts in file order through eng: time advances to
// each post's event time before it is added (so empty rows still pass
// time), and after the last post the clock runs on by tail so open
// episodes resolve. It returns the number of posts fed.
func Drive(ctx context.Context, eng *aggregate.Engine, next func() (*msg.Scored, error), tail time.Duration, out func(aggregate.Output) error) (int, error) {
	var last time.Time
	n := 0
	emit := func(os []aggregate.Output) error {
		for _, o := range os {
			if err := out(o); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		s, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		if n%4096 == 0 && ctx.Err() != nil {
			return n, ctx.Err()
		}
		if t := s.Post.EventTime(); t.After(last) {
			last = t
			if err := emit(eng.Advance(t)); err != nil {
				return n, err
			}
		}
		if err := emit(eng.Add(s)); err != nil {
			return n, err
		}
		n++
	}
	if !last.IsZero() && tail > 0 {
		if err := emit(eng.Advance(last.Add(tail))); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Onsets returns, per NAB site, the event times at which alerts started
// firing: the first firing notification of each fingerprint (a
// re-notification of a firing alert is not a new alert). An escalation
// (the annotation alert.AnnotationEscalates) is not an onset either: it
// pages a running episode again at a higher severity, under a new
// fingerprint, but it is the same incident, which NAB scores once. Only
// spike and override alerts on NAB sites count.
func Onsets(alerts []*msg.Alert) map[string][]time.Time {
	seen := map[string]bool{}
	out := map[string][]time.Time{}
	for _, a := range alerts {
		site := a.Labels["site"]
		if a.Status != msg.StatusFiring || !strings.HasPrefix(site, SitePrefix) || seen[a.Fingerprint] {
			continue
		}
		if a.Annotations[alert.AnnotationEscalates] != "" {
			continue
		}
		seen[a.Fingerprint] = true
		out[site] = append(out[site], a.EventTime.UTC())
	}
	for _, ts := range out {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	}
	return out
}

// WriteDetections writes <dir>/<category>/<stem>.csv for every series:
// timestamp,label with a row <onset>,1 per alert (header only when none).
func WriteDetections(dir string, series []*Series, onsets map[string][]time.Time) error {
	for _, s := range series {
		d := filepath.Join(dir, s.Category)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cannot create detections dir: %w", err)
		}
		var b strings.Builder
		b.WriteString("timestamp,label\n")
		for _, t := range onsets[s.Site()] {
			b.WriteString(t.Format(TimeLayout))
			b.WriteString(",1\n")
		}
		if err := os.WriteFile(filepath.Join(d, s.Stem+".csv"), []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("cannot write detections: %w", err)
		}
	}
	return nil
}
