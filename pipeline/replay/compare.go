package replay

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Onset is the moment an alert started firing: its first firing
// notification (re-notifications of the same episode are not onsets).
type Onset struct {
	// Key identifies the alert across configurations: its labels without
	// severity, which a what-if may well change.
	Key      string
	Labels   map[string]string
	Time     time.Time
	Severity string
}

// Onsets is a sink that keeps the alert onsets of a lane. Its memory grows
// with the number of alerts, not posts.
type Onsets struct {
	seen map[string]bool
	list []Onset
}

// NewOnsets returns an empty onset collector.
func NewOnsets() *Onsets { return &Onsets{seen: map[string]bool{}} }

// Level ignores levels.
func (o *Onsets) Level(*msg.Level) error { return nil }

// Alert keeps the alert if it is an onset: the first notification of an
// episode that started when it was sent, not a repeat of one that started
// before the replayed range (during a warm-up), nor an escalation of a
// running one (the same incident, paged again at a higher severity).
func (o *Onsets) Alert(a *msg.Alert) error {
	if a.Status != msg.StatusFiring || o.seen[a.Fingerprint] || (!a.StartsAt.IsZero() && a.StartsAt.Before(a.EventTime)) ||
		a.Annotations[alert.AnnotationEscalates] != "" {
		return nil
	}
	o.seen[a.Fingerprint] = true
	o.list = append(o.list, Onset{Key: AlertKey(a.Labels), Labels: a.Labels, Time: a.EventTime, Severity: a.Labels["severity"]})
	return nil
}

// List returns the onsets in the order they fired.
func (o *Onsets) List() []Onset { return o.list }

// AlertKey is the identity of an alert for comparison: its labels in
// sorted order, without severity.
func AlertKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "severity" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + labels[k])
	}
	return b.String()
}

// Pair is one row of a comparison: an alert fired by A, by B, or by both.
type Pair struct {
	Key  string
	A, B *Onset
}

// Minutes is how many minutes after A the alert fired under B (negative:
// B was earlier). Only meaningful when both fired.
func (p Pair) Minutes() float64 {
	if p.A == nil || p.B == nil {
		return math.NaN()
	}
	return p.B.Time.Sub(p.A.Time).Minutes()
}

// Comparison says which alerts two configurations fire and how far apart.
type Comparison struct {
	NameA, NameB string
	// Window is the furthest apart two onsets of one alert may be and still
	// count as the same alert.
	Window time.Duration
	Pairs  []Pair
	// Both, OnlyA and OnlyB count the pairs of each kind.
	Both, OnlyA, OnlyB int
	// Earlier, Later count the matched pairs where B fired earlier or later.
	Earlier, Later int
	// OnlyDifferences makes WriteText list only the alerts that differ
	// (fired by one only, at another time, or at another severity): over
	// weeks of history the few that differ are lost among the many alike.
	OnlyDifferences bool
}

// Differs reports whether the two configurations fire p's alert
// differently: one only, at another time, or at another severity.
func (p Pair) Differs() bool {
	return p.A == nil || p.B == nil || !p.A.Time.Equal(p.B.Time) || p.A.Severity != p.B.Severity
}

// Compare matches the onsets of two lanes: per key, as many onsets of A
// with onsets of B within window of each other as can be, and of those
// matchings the one whose onsets lie closest together. Matching each
// onset of A in turn with the nearest free one of B gave B's onset to
// the first A within window of it, though the next A was nearer, and left
// that one unmatched: "only A" and "only B" where both fired.
func Compare(nameA string, a []Onset, nameB string, b []Onset, window time.Duration) *Comparison {
	c := &Comparison{NameA: nameA, NameB: nameB, Window: window}
	aByKey, bByKey := map[string][]int{}, map[string][]int{}
	for i, o := range a {
		aByKey[o.Key] = append(aByKey[o.Key], i)
	}
	for j, o := range b {
		bByKey[o.Key] = append(bByKey[o.Key], j)
	}
	matchA := make([]int, len(a))
	for i := range matchA {
		matchA[i] = -1
	}
	usedB := make([]bool, len(b))
	for key, ia := range aByKey {
		ib := bByKey[key]
		if len(ib) == 0 {
			continue
		}
		for k, j := range matchOnsets(a, ia, b, ib, window) {
			if j >= 0 {
				matchA[ia[k]] = j
				usedB[j] = true
			}
		}
	}
	for i := range a {
		oa := &a[i]
		p := Pair{Key: oa.Key, A: oa}
		if j := matchA[i]; j >= 0 {
			p.B = &b[j]
			c.Both++
			switch {
			case p.B.Time.Before(oa.Time):
				c.Earlier++
			case p.B.Time.After(oa.Time):
				c.Later++
			}
		} else {
			c.OnlyA++
		}
		c.Pairs = append(c.Pairs, p)
	}
	for j := range b {
		if !usedB[j] {
			c.Pairs = append(c.Pairs, Pair{Key: b[j].Key, B: &b[j]})
			c.OnlyB++
		}
	}
	sort.SliceStable(c.Pairs, func(i, j int) bool {
		ti, tj := c.Pairs[i].time(), c.Pairs[j].time()
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return c.Pairs[i].Key < c.Pairs[j].Key
	})
	return c
}

// matchOnsets matches the onsets ia of a with the onsets ib of b (one
// key's): the most pairs within window, and of those the least total
// time apart. It returns, per element of ia, the index in b matched, or
// -1. On a line an optimal matching never crosses (two crossing pairs
// within window uncross into two pairs within window no further apart),
// so a dynamic programme over both lists in time order finds it.
func matchOnsets(a []Onset, ia []int, b []Onset, ib []int, window time.Duration) []int {
	ia, ib = slices.Clone(ia), slices.Clone(ib)
	byTime := func(o []Onset) func(x, y int) int {
		return func(x, y int) int { return o[x].Time.Compare(o[y].Time) }
	}
	order := make([]int, len(ia)) // order[k]: position in the caller's ia of the k-th earliest
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(x, y int) int { return a[ia[x]].Time.Compare(a[ia[y]].Time) })
	sortedA := make([]int, len(ia))
	for k, o := range order {
		sortedA[k] = ia[o]
	}
	slices.SortStableFunc(ib, byTime(b))
	type cell struct {
		n    int
		dist time.Duration
	}
	better := func(x, y cell) bool { return x.n > y.n || x.n == y.n && x.dist < y.dist }
	n, m := len(sortedA), len(ib)
	dp := make([][]cell, n+1)
	for i := range dp {
		dp[i] = make([]cell, m+1)
	}
	for i := 1; i <= n; i++ {
		for j := 1; j <= m; j++ {
			best := dp[i-1][j]
			if better(dp[i][j-1], best) {
				best = dp[i][j-1]
			}
			d := b[ib[j-1]].Time.Sub(a[sortedA[i-1]].Time)
			if d < 0 {
				d = -d
			}
			if d <= window {
				if c := (cell{dp[i-1][j-1].n + 1, dp[i-1][j-1].dist + d}); better(c, best) {
					best = c
				}
			}
			dp[i][j] = best
		}
	}
	matched := make([]int, len(ia))
	for k := range matched {
		matched[k] = -1
	}
	for i, j := n, m; i > 0 && j > 0; {
		switch {
		case dp[i][j] == dp[i-1][j]:
			i--
		case dp[i][j] == dp[i][j-1]:
			j--
		default:
			matched[order[i-1]] = ib[j-1]
			i, j = i-1, j-1
		}
	}
	return matched
}

func (p Pair) time() time.Time {
	switch {
	case p.A == nil:
		return p.B.Time
	case p.B == nil || p.A.Time.Before(p.B.Time):
		return p.A.Time
	}
	return p.B.Time
}

// Verdict describes a pair in words ("B 35 min earlier", "only A").
func (c *Comparison) Verdict(p Pair) string {
	switch {
	case p.B == nil:
		return "only " + c.NameA
	case p.A == nil:
		return "only " + c.NameB
	}
	m := p.Minutes()
	v := "same time"
	switch {
	case m < 0:
		v = fmt.Sprintf("%s %s min earlier", c.NameB, fmtMinutes(-m))
	case m > 0:
		v = fmt.Sprintf("%s %s min later", c.NameB, fmtMinutes(m))
	}
	if p.A.Severity != p.B.Severity {
		v += ", " + c.NameB + " " + p.B.Severity
	}
	return v
}

func fmtMinutes(m float64) string {
	if m == math.Trunc(m) {
		return fmt.Sprintf("%.0f", m)
	}
	return fmt.Sprintf("%.1f", m)
}

// WriteText writes the comparison as an aligned table.
func (c *Comparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "compare %s vs %s: %d fired by both (%s earlier in %d, later in %d), %d only by %s, %d only by %s (match window %s)\n",
		c.NameA, c.NameB, c.Both, c.NameB, c.Earlier, c.Later, c.OnlyA, c.NameA, c.OnlyB, c.NameB, c.Window)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "alert\t%s fired\t%s fired\tdifference\n", c.NameA, c.NameB)
	at := func(o *Onset) string {
		if o == nil {
			return "-"
		}
		return o.Time.UTC().Format("2006-01-02 15:04") + " " + o.Severity
	}
	differ := 0
	for _, p := range c.Pairs {
		if p.Differs() {
			differ++
		}
	}
	if c.OnlyDifferences {
		fmt.Fprintf(w, "listing the %d of %d alerts that differ\n", differ, len(c.Pairs))
	}
	for _, p := range c.Pairs {
		if c.OnlyDifferences && !p.Differs() {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Key, at(p.A), at(p.B), c.Verdict(p))
	}
	return tw.Flush()
}
