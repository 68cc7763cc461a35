package replay

import (
	"sort"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// PostObserver is implemented by sinks that want to see every post a lane
// aggregates (the report counts posts per site).
type PostObserver interface {
	Post(s *msg.Scored)
}

// Collector gathers what the report shows: a downsampled level series per
// site and target, post counts, and the alerts. Its memory is bounded by
// the number of keys times MaxPoints, plus MaxAlerts alerts.
type Collector struct {
	// MaxPoints bounds the points kept per series (default 720): as a
	// series grows, neighbouring points are merged.
	MaxPoints int
	// MaxAlerts bounds the alerts kept for the alert list (default 2000);
	// the rest are counted.
	MaxAlerts int

	series  map[seriesKey]*Series
	sites   map[string]*siteCount
	alerts  []*msg.Alert
	dropped int
	onsets  map[string]bool
	first   time.Time
	last    time.Time
}

type siteCount struct{ posts, threatening int64 }

// seriesKey names a series: a struct, not a joined string, so looking up
// the series of each level point builds nothing.
type seriesKey struct{ site, target string }

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{MaxPoints: 720, MaxAlerts: 2000, series: map[seriesKey]*Series{}, sites: map[string]*siteCount{}, onsets: map[string]bool{}}
}

// Series is one key's level over time, downsampled into equal buckets.
type Series struct {
	Site, Target string
	Points       []Point
	// MaxLevel and MaxScore are over every level point, not the buckets.
	MaxLevel, MaxScore float64
	// MaxName is the highest named level seen ("elevated", "high", ...).
	MaxName string
	// Alerts counts firing onsets; FirstAlert is the first one's time.
	Alerts     int
	FirstAlert time.Time
	// Markers are the alert onsets and resolutions (at most MaxMarkers).
	Markers []Marker
	origin  time.Time
	width   time.Duration
	n       int
}

// MaxMarkers bounds the alert markers kept per series.
const MaxMarkers = 500

// Marker is an alert onset or resolution on a chart.
type Marker struct {
	Time time.Time
	// Status is the alert's ("firing", "resolved"), or MarkerEscalated.
	Status   string
	Severity string
	Name     string
}

// MarkerEscalated is the Status of a marker where an episode went on at a
// higher severity.
const MarkerEscalated = "escalated"

// Point is one bucket of a series: the highest level in it, and the mean
// baseline and signal levels.
type Point struct {
	Time     time.Time
	Level    float64
	Baseline float64
	Signals  [3]float64
	idx      int64
	n        int
}

// Post counts one post of a site.
func (c *Collector) Post(s *msg.Scored) {
	sc := c.sites[s.Post.Site]
	if sc == nil {
		sc = &siteCount{}
		c.sites[s.Post.Site] = sc
	}
	sc.posts++
	if s.MaxScore() >= 0.5 {
		sc.threatening++
	}
}

// Level adds one level point.
func (c *Collector) Level(l *msg.Level) error {
	k := seriesKey{l.Site, l.Target}
	s := c.series[k]
	if s == nil {
		s = &Series{Site: l.Site, Target: l.Target, origin: l.Time, width: time.Minute}
		c.series[k] = s
	}
	if c.first.IsZero() || l.Time.Before(c.first) {
		c.first = l.Time
	}
	if l.Time.After(c.last) {
		c.last = l.Time
	}
	s.n++
	s.MaxLevel = max(s.MaxLevel, l.Level)
	s.MaxScore = max(s.MaxScore, l.Score)
	if nameRank(l.Name) > nameRank(s.MaxName) {
		s.MaxName = l.Name
	}
	var sig [3]float64
	for i, name := range msg.Signals {
		if i < len(sig) {
			sig[i] = l.Signals[name]
		}
	}
	s.add(Point{Time: l.Time, Level: l.Level, Baseline: l.Baseline, Signals: sig, n: 1}, c.MaxPoints)
	return nil
}

func nameRank(n string) int {
	switch n {
	case "elevated":
		return 1
	case "high":
		return 2
	case "severe", "critical":
		return 3
	}
	return 0
}

func (s *Series) add(p Point, maxPoints int) {
	d := p.Time.Sub(s.origin)
	if d < 0 {
		d = 0 // a late level: count it in the first bucket
	}
	p.idx = int64(d / s.width)
	if n := len(s.Points); n > 0 && s.Points[n-1].idx >= p.idx {
		s.Points[n-1].merge(p)
	} else {
		p.Time = s.origin.Add(time.Duration(p.idx) * s.width)
		s.Points = append(s.Points, p)
	}
	for len(s.Points) > maxPoints {
		s.width *= 2
		out := s.Points[:0]
		for _, q := range s.Points {
			q.idx /= 2
			if n := len(out); n > 0 && out[n-1].idx == q.idx {
				out[n-1].merge(q)
				continue
			}
			q.Time = s.origin.Add(time.Duration(q.idx) * s.width)
			out = append(out, q)
		}
		s.Points = out
	}
}

func (p *Point) merge(q Point) {
	tot := float64(p.n + q.n)
	p.Level = max(p.Level, q.Level)
	p.Baseline = (p.Baseline*float64(p.n) + q.Baseline*float64(q.n)) / tot
	for i := range p.Signals {
		p.Signals[i] = (p.Signals[i]*float64(p.n) + q.Signals[i]*float64(q.n)) / tot
	}
	p.n += q.n
}

// Alert records one alert.
func (c *Collector) Alert(a *msg.Alert) error {
	// A repeat of an episode that started before the replayed range (a
	// warm-up) is not an onset. Nor is an escalation: the episode goes on
	// at a higher severity under a new fingerprint (marked, not counted),
	// and the resolution of the lower one it supersedes ended nothing.
	escalation := a.Status == msg.StatusFiring && a.Annotations[alert.AnnotationEscalates] != ""
	if escalation {
		c.onsets[a.Fingerprint] = true
	}
	onset := a.Status == msg.StatusFiring && !escalation && !c.onsets[a.Fingerprint] && (a.StartsAt.IsZero() || !a.StartsAt.Before(a.EventTime))
	superseded := a.Status == msg.StatusResolved && a.Annotations[alert.AnnotationSupersededBy] != ""
	if onset || escalation || a.Status == msg.StatusResolved && !superseded {
		k := seriesKey{a.Labels["site"], a.Labels["target"]}
		s := c.series[k]
		if s == nil {
			s = &Series{Site: a.Labels["site"], Target: a.Labels["target"], origin: a.EventTime, width: time.Minute}
			c.series[k] = s
		}
		if onset {
			c.onsets[a.Fingerprint] = true
			s.Alerts++
			if s.FirstAlert.IsZero() {
				s.FirstAlert = a.EventTime
			}
		}
		if len(s.Markers) < MaxMarkers {
			status := a.Status
			if escalation {
				status = MarkerEscalated
			}
			s.Markers = append(s.Markers, Marker{Time: a.EventTime, Status: status, Severity: a.Labels["severity"], Name: a.Labels["alertname"]})
		}
	}
	if len(c.alerts) >= c.MaxAlerts {
		c.dropped++
		return nil
	}
	c.alerts = append(c.alerts, a)
	return nil
}

// Sites returns the site series (no target), most alarming first.
func (c *Collector) Sites() []*Series { return c.sorted(false) }

// Targets returns the per-target series, most alarming first.
func (c *Collector) Targets() []*Series { return c.sorted(true) }

func (c *Collector) sorted(targets bool) []*Series {
	var out []*Series
	for _, s := range c.series {
		if (s.Target != "") == targets {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Alerts != b.Alerts {
			return a.Alerts > b.Alerts
		}
		if a.MaxScore != b.MaxScore {
			return a.MaxScore > b.MaxScore
		}
		if a.Site != b.Site {
			return a.Site < b.Site
		}
		return a.Target < b.Target
	})
	return out
}

// Alerts returns the alerts kept, and how many more were only counted.
func (c *Collector) Alerts() ([]*msg.Alert, int) { return c.alerts, c.dropped }
