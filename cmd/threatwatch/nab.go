package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/aggregate"
	"github.com/threatwatch/threatwatch/pipeline/aggregate/nab"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// cmdNABConvert turns NAB series into a scored-post JSON-lines file, as the
// nab-tweets-dev README describes.
func cmdNABConvert(ctx context.Context, e *env, args []string) error {
	fs, _ := newFlags(e, "nab-convert", "--nab DIR [--config FILE] [--categories realTweets] [--out FILE]")
	dir := fs.String("nab", "", "NAB data directory (holds data/ and labels/)")
	cats := fs.String("categories", "realTweets", "comma-separated data categories (empty: all)")
	out := fs.String("out", "-", "scored-post JSON-lines output file (- for stdout)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: --nab DIR is required", errUsage)
	}
	series, err := nab.Load(*dir, splitList(*cats)...)
	if err != nil {
		return err
	}
	w, closeOut, err := createOut(e, *out)
	if err != nil {
		return err
	}
	mw := msg.NewWriter(w)
	n, err := nab.Posts(ctx, series, func(s *msg.Scored) error { return mw.Write(s) })
	if err == nil {
		err = mw.Flush()
	}
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "nab-convert: %d series, %d scored posts\n", len(series), n)
	return nil
}

// cmdNABScore writes NAB detection CSVs from alerts: either an alert
// JSON-lines file (from replay), or, with --scored, by running the
// aggregation engine with the configured (by default: shipped) settings
// over a scored-post file itself.
func cmdNABScore(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "nab-score", "--nab DIR --out DIR [--config FILE] [--categories LIST] (--alerts FILE | --scored FILE [--alerts-out FILE] | --direct [--alerts-out FILE])")
	dir := fs.String("nab", "", "NAB data directory (holds data/ and labels/)")
	cats := fs.String("categories", "realTweets", "comma-separated data categories (empty: all)")
	alertsIn := fs.String("alerts", "", "alert JSON-lines file to read (from replay)")
	scored := fs.String("scored", "", "scored-post JSON-lines file to run through the engine (- for stdin)")
	direct := fs.Bool("direct", false, "run the engine on the posts nab-convert would write, generated in memory")
	alertsOut := fs.String("alerts-out", "", "with --scored or --direct: also write the alerts as JSON lines here")
	outDir := fs.String("out", "", "directory to write <category>/<stem>.csv detections into")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	sources := 0
	for _, set := range []bool{*alertsIn != "", *scored != "", *direct} {
		if set {
			sources++
		}
	}
	if *dir == "" || *outDir == "" || sources != 1 {
		return fmt.Errorf("%w: want --nab, --out and exactly one of --alerts, --scored and --direct", errUsage)
	}
	series, err := nab.Load(*dir, splitList(*cats)...)
	if err != nil {
		return err
	}
	var alerts []*msg.Alert
	switch {
	case *alertsIn != "":
		alerts, err = readAlerts(e, *alertsIn)
	case *direct:
		posts := make(chan *msg.Scored, 4096)
		gctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			defer close(posts)
			_, _ = nab.Posts(gctx, series, func(s *msg.Scored) error {
				select {
				case posts <- s:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			})
		}()
		next := func() (*msg.Scored, error) {
			s, ok := <-posts
			if !ok {
				return nil, io.EOF
			}
			return s, nil
		}
		alerts, err = runEngine(ctx, e, *cfgPath, next, *alertsOut)
	default:
		alerts, err = runEngineOn(ctx, e, *cfgPath, *scored, *alertsOut)
	}
	if err != nil {
		return err
	}
	onsets := nab.Onsets(alerts)
	if err := nab.WriteDetections(*outDir, series, onsets); err != nil {
		return err
	}
	total := 0
	for _, s := range series {
		total += len(onsets[s.Site()])
		fmt.Fprintf(e.stdout, "%-40s %3d alerts\n", s.Site(), len(onsets[s.Site()]))
	}
	fmt.Fprintf(e.stdout, "%d alert onsets written under %s\n", total, *outDir)
	return nil
}

func readAlerts(e *env, path string) ([]*msg.Alert, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open alerts: %w", err)
	}
	defer f.Close()
	r := msg.NewReader[msg.Alert](f, path, false)
	var out []*msg.Alert
	for {
		a, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var le *msg.LineError
		if errors.As(err, &le) {
			fmt.Fprintf(e.stderr, "nab-score: skipping %v\n", le)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
}

func runEngineOn(ctx context.Context, e *env, cfgPath, scored, alertsOut string) ([]*msg.Alert, error) {
	var in io.Reader = e.stdin
	if scored != "-" {
		f, err := os.Open(scored)
		if err != nil {
			return nil, fmt.Errorf("cannot open scored posts: %w", err)
		}
		defer f.Close()
		in = bufio.NewReaderSize(f, 1<<20)
	}
	r := msg.NewReader[msg.Scored](in, scored, false)
	bad := 0
	next := func() (*msg.Scored, error) {
		for {
			s, err := r.Next()
			var le *msg.LineError
			if errors.As(err, &le) {
				if bad++; bad <= 10 {
					fmt.Fprintf(e.stderr, "nab-score: skipping %v\n", le)
				}
				continue
			}
			return s, err
		}
	}
	alerts, err := runEngine(ctx, e, cfgPath, next, alertsOut)
	if bad > 0 {
		fmt.Fprintf(e.stderr, "nab-score: %d bad lines skipped\n", bad)
	}
	return alerts, err
}

// runEngine drives the engine, with the configured settings, over posts.
func runEngine(ctx context.Context, e *env, cfgPath string, next func() (*msg.Scored, error), alertsOut string) ([]*msg.Alert, error) {
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return nil, err
	}
	eng, err := aggregate.NewEngine(cfg.Aggregate)
	if err != nil {
		return nil, err
	}
	eng.SetReplay(true)
	var aw *msg.Writer
	closeAW := func() error { return nil }
	if alertsOut != "" {
		w, c, err := createOut(e, alertsOut)
		if err != nil {
			return nil, err
		}
		aw, closeAW = msg.NewWriter(w), c
	}
	var alerts []*msg.Alert
	start := time.Now()
	n, err := nab.Drive(ctx, eng, next, 48*time.Hour, func(o aggregate.Output) error {
		if o.Alert == nil {
			return nil
		}
		alerts = append(alerts, o.Alert)
		if aw != nil {
			return aw.Write(o.Alert)
		}
		return nil
	})
	if aw != nil {
		if ferr := aw.Flush(); err == nil {
			err = ferr
		}
	}
	if cerr := closeAW(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "nab-score: %d posts through the engine in %v\n", n, time.Since(start).Round(time.Millisecond))
	return alerts, nil
}

func createOut(e *env, path string) (io.Writer, func() error, error) {
	if path == "-" {
		return e.stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create %s: %w", path, err)
	}
	return f, f.Close, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
