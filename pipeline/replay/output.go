package replay

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// AlertWriter writes a lane's alerts as JSON lines, in the format the live
// aggregate stage writes to the alerts topic (each with the event time at
// which it was decided, and Replay set). Levels are ignored.
type AlertWriter struct{ w *msg.Writer }

// NewAlertWriter writes alerts to w; call Flush at the end.
func NewAlertWriter(w io.Writer) *AlertWriter { return &AlertWriter{w: msg.NewWriter(w)} }

// Level ignores levels.
func (a *AlertWriter) Level(*msg.Level) error { return nil }

// Alert writes one alert line.
func (a *AlertWriter) Alert(al *msg.Alert) error { return a.w.Write(al) }

// Flush writes buffered lines out.
func (a *AlertWriter) Flush() error { return a.w.Flush() }

// LevelWriter writes a lane's level series as JSON lines (the levels
// topic's format, byte for byte what msg.Writer writes), one line per
// level point in emission order: grep or jq by site and target for one
// series. Alerts are ignored.
type LevelWriter struct {
	w        *bufio.Writer
	buf      []byte
	evidence *evidenceCache
}

// NewLevelWriter writes levels to w; call Flush at the end.
func NewLevelWriter(w io.Writer) *LevelWriter {
	return &LevelWriter{w: bufio.NewWriterSize(w, 256<<10), evidence: newEvidenceCache()}
}

// Level writes one level line.
func (l *LevelWriter) Level(lv *msg.Level) error {
	b, err := appendLevelCached(l.buf[:0], lv, l.evidence)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.buf = b
	if _, err := l.w.Write(b); err != nil {
		return fmt.Errorf("cannot write levels: %w", err)
	}
	return nil
}

// Alert ignores alerts.
func (l *LevelWriter) Alert(*msg.Alert) error { return nil }

// Flush writes buffered lines out.
func (l *LevelWriter) Flush() error { return l.w.Flush() }

// LevelCSV writes the level series as CSV (time, site, target, level,
// baseline, score, name, one column per signal, posts, stale), for a
// spreadsheet.
type LevelCSV struct {
	w   *bufio.Writer
	hdr bool
	buf []byte
}

// NewLevelCSV writes CSV to w; call Flush at the end.
func NewLevelCSV(w io.Writer) *LevelCSV { return &LevelCSV{w: bufio.NewWriterSize(w, 64<<10)} }

// Alert ignores alerts.
func (c *LevelCSV) Alert(*msg.Alert) error { return nil }

// Level writes one row.
func (c *LevelCSV) Level(l *msg.Level) error {
	if !c.hdr {
		c.hdr = true
		c.w.WriteString("time,site,target,level,baseline,score,name")
		for _, s := range msg.Signals {
			c.w.WriteString("," + string(s))
		}
		c.w.WriteString(",posts,stale\n")
	}
	b := c.buf[:0]
	b = l.Time.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, ',')
	b = appendCSV(b, l.Site)
	b = append(b, ',')
	b = appendCSV(b, l.Target)
	for _, v := range []float64{l.Level, l.Baseline, l.Score} {
		b = append(b, ',')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	b = append(b, ',')
	b = appendCSV(b, l.Name)
	for _, s := range msg.Signals {
		b = append(b, ',')
		b = strconv.AppendFloat(b, l.Signals[s], 'g', -1, 64)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(l.Posts), 10)
	b = append(b, ',')
	b = strconv.AppendBool(b, l.Stale)
	b = append(b, '\n')
	c.buf = b
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("cannot write levels: %w", err)
	}
	return nil
}

// Flush writes buffered rows out.
func (c *LevelCSV) Flush() error { return c.w.Flush() }

func appendCSV(b []byte, s string) []byte {
	needs := false
	for i := 0; i < len(s); i++ {
		if s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r' {
			needs = true
			break
		}
	}
	if !needs {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
