package replay

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress draws a one-line progress bar (fraction of the input read,
// posts replayed, rate, ETA and the event time reached) on a terminal.
// It reads the wall clock, which is fine: it only ever writes to the
// terminal, never into a replay's outputs.
type Progress struct {
	w         io.Writer
	every     time.Duration
	records   atomic.Int64
	eventTime atomic.Int64
	src       *Source
	start     time.Time
	stop      chan struct{}
	wg        sync.WaitGroup
	once      sync.Once
}

// NewProgress draws on w (a terminal) every interval (default 250ms).
func NewProgress(w io.Writer, every time.Duration) *Progress {
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	return &Progress{w: w, every: every, stop: make(chan struct{})}
}

func (p *Progress) begin(src *Source) {
	p.src = src
	p.start = time.Now()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				fmt.Fprint(p.w, "\r"+p.line()+"\x1b[K")
			}
		}
	}()
}

// finish stops drawing and clears the line.
func (p *Progress) finish() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		fmt.Fprint(p.w, "\r\x1b[K")
	})
}

// Stop ends the display (also after a failed replay).
func (p *Progress) Stop() {
	if p.src != nil {
		p.finish()
	}
}

func (p *Progress) line() string {
	done, total := p.src.progress()
	n := p.records.Load()
	el := time.Since(p.start)
	rate := float64(n) / max(el.Seconds(), 1e-9)
	var b strings.Builder
	if total > 0 {
		f := min(float64(done)/float64(total), 1)
		const width = 24
		fill := int(f * width)
		fmt.Fprintf(&b, "replay %5.1f%% [%s%s] ", 100*f, strings.Repeat("=", fill), strings.Repeat(" ", width-fill))
		fmt.Fprintf(&b, "%s posts  %s posts/s", human(float64(n)), human(rate))
		if f > 0.001 {
			eta := time.Duration(float64(el) * (1 - f) / f).Round(time.Second)
			fmt.Fprintf(&b, "  ETA %s", eta)
		}
	} else {
		fmt.Fprintf(&b, "replay %s posts  %s posts/s", human(float64(n)), human(rate))
	}
	if et := p.eventTime.Load(); et != 0 {
		fmt.Fprintf(&b, "  at %s", time.Unix(et, 0).UTC().Format("2006-01-02 15:04"))
	}
	return b.String()
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
