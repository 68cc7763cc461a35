package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/scrapers"
)

// openInput opens a file, or standard input for "" or "-".
func openInput(e *env, name string) (io.Reader, string, func(), error) {
	if name == "" || name == "-" {
		return e.stdin, "-", func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, "", nil, err
	}
	return f, name, func() { f.Close() }, nil
}

// openOutput creates a file, or standard output for "" or "-".
func openOutput(e *env, name string) (io.Writer, func() error, error) {
	if name == "" || name == "-" {
		return e.stdout, func() error { return nil }, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// forEachLine decodes JSON lines of kind k from r, calling f for each good
// message and reporting each bad line on stderr with its line number. It
// returns the number of bad lines.
// forEachFileLine is forEachLine over files ("-" or none: standard input).
func forEachFileLine(e *env, files []string, k msg.Kind, f func(msg.Message) error) (bad int, err error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		r, name, closeIn, err := openInput(e, name)
		if err != nil {
			return bad, err
		}
		n, err := forEachLine(e, r, name, k, f)
		bad += n
		closeIn()
		if err != nil {
			return bad, err
		}
	}
	return bad, nil
}

func forEachLine(e *env, r io.Reader, name string, k msg.Kind, f func(msg.Message) error) (bad int, err error) {
	next := lineReader(r, name, k)
	for {
		m, err := next()
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		var le *msg.LineError
		if errors.As(err, &le) {
			bad++
			fmt.Fprintf(e.stderr, "skipped %v\n", le)
			continue
		}
		if err != nil {
			return bad, err
		}
		if err := f(m); err != nil {
			return bad, err
		}
	}
}

func lineReader(r io.Reader, name string, k msg.Kind) func() (msg.Message, error) {
	wrap := func(next func() (msg.Message, error)) func() (msg.Message, error) { return next }
	switch k {
	case msg.KindPost:
		rd := msg.NewReader[msg.Post](r, name, true)
		return wrap(func() (msg.Message, error) { return unwrap(rd.Next()) })
	case msg.KindScored:
		rd := msg.NewReader[msg.Scored](r, name, true)
		return wrap(func() (msg.Message, error) { return unwrap(rd.Next()) })
	case msg.KindLevel:
		rd := msg.NewReader[msg.Level](r, name, true)
		return wrap(func() (msg.Message, error) { return unwrap(rd.Next()) })
	case msg.KindAlert:
		rd := msg.NewReader[msg.Alert](r, name, true)
		return wrap(func() (msg.Message, error) { return unwrap(rd.Next()) })
	default:
		rd := msg.NewReader[msg.DeadLetter](r, name, true)
		return wrap(func() (msg.Message, error) { return unwrap(rd.Next()) })
	}
}

func unwrap[P msg.Message](p P, err error) (msg.Message, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

func parseKind(s string) (msg.Kind, error) {
	for _, k := range msg.Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w: --type %q, want one of %v", errUsage, s, msg.Kinds)
}

// needBrokers completes "produce"/"consume" in the error they give without
// kafka.brokers: an embedded cluster of their own would be empty.
const needBrokers = "needs kafka.brokers (the embedded cluster lives only inside a running process: " +
	"start that process with kafka.embedded.port set, and give this command kafka.brokers: [127.0.0.1:PORT])"

// shortTopics lists the pipeline's topics by short name, as --topic takes them.
func shortTopics(cfg *config.Config) []string {
	t := cfg.Topics
	return []string{t.Posts, t.Scored, t.Levels, t.Alerts, t.DeadLetter}
}

// topicKind guesses the message kind from a topic's short name.
func topicKind(cfg *config.Config, short string) msg.Kind {
	switch short {
	case cfg.Topics.Posts:
		return msg.KindPost
	case cfg.Topics.Scored:
		return msg.KindScored
	case cfg.Topics.Levels:
		return msg.KindLevel
	case cfg.Topics.Alerts:
		return msg.KindAlert
	}
	return msg.KindDeadLetter
}

func cmdMsg(ctx context.Context, e *env, args []string) error {
	fs, _ := newFlags(e, "msg", "check --type KIND [--config FILE] [--output FILE] [FILE...]   (validate JSON lines, write them back normalized)")
	kind := fs.String("type", "post", "message kind: post, scored, level, alert, deadletter")
	out := fs.String("output", "", "write the normalized messages here ('-' for stdout; default: none)")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "check" {
		fs.Usage()
		return fmt.Errorf("%w: want 'msg check'", errUsage)
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	k, err := parseKind(*kind)
	if err != nil {
		return err
	}
	var w *msg.Writer
	if *out != "" {
		ow, closeOut, err := openOutput(e, *out)
		if err != nil {
			return err
		}
		defer closeOut()
		w = msg.NewWriter(ow)
		defer w.Flush()
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	good, bad := 0, 0
	for _, f := range files {
		r, name, closeIn, err := openInput(e, f)
		if err != nil {
			return err
		}
		n, err := forEachLine(e, r, name, k, func(m msg.Message) error {
			good++
			if w != nil {
				return w.Write(m)
			}
			return nil
		})
		closeIn()
		bad += n
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "%d valid %s messages, %d bad lines\n", good, k, bad)
	if bad > 0 {
		return fmt.Errorf("%d bad lines", bad)
	}
	return nil
}

func cmdProduce(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "produce", "--topic NAME [--config FILE] [--type KIND] [--backfill] [FILE...]")
	topic := fs.String("topic", "posts", "short topic name (posts, scored, levels, alerts, dead-letter: as named by topics.*)")
	kind := fs.String("type", "", "message kind (default: from the topic)")
	backfill := fs.Bool("backfill", false, "mark posts and scored posts as backfill: history that counts toward the baselines and never pages (for copying history into new topics)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if !slices.Contains(shortTopics(cfg), *topic) {
		// Written, a typo would be a topic of its own that no stage reads,
		// its lines taken for dead letters.
		return fmt.Errorf("%w: unknown topic %q: want one of %s (the short names of topics.*)", errUsage, *topic, strings.Join(shortTopics(cfg), ", "))
	}
	k := topicKind(cfg, *topic)
	if *kind != "" {
		if k, err = parseKind(*kind); err != nil {
			return err
		}
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("%w: produce %s", errUsage, needBrokers)
	}
	log := newLogger(e, cfg.Log)
	b, err := bus.Open(cfg.Kafka, log)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.WaitReady(ctx); err != nil {
		return err
	}
	full := cfg.Topics.Name(*topic)
	// As a stage would at its start: copying history into the topics of a
	// new topics.prefix comes before any stage has run on them, and a
	// write to a topic that does not exist is retried for ever.
	topics := cfg.Topics.All()
	if !slices.Contains(topics, full) {
		topics = append(topics, full)
	}
	if err := b.EnsureTopics(ctx, topics...); err != nil {
		return err
	}
	prod := pipeline.NewProducer(b, "produce", nil, log)
	defer prod.Close()
	sent := 0
	var batch []pipeline.Output
	flush := func() error {
		err := prod.Send(ctx, batch...)
		sent += len(batch)
		batch = batch[:0]
		return err
	}
	marked := 0
	bad, err := forEachFileLine(e, fs.Args(), k, func(m msg.Message) error {
		if *backfill {
			// Copied history arrives now: unmarked, the aggregate stage
			// would read its old campaigns as they happen and page.
			switch v := m.(type) {
			case *msg.Post:
				v.Backfill = true
				marked++
			case *msg.Scored:
				v.Post.Backfill = true
				marked++
			}
		}
		batch = append(batch, pipeline.Output{Topic: full, Msg: m})
		if len(batch) >= 500 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %d messages to %s; skipped %d bad lines\n", sent, full, bad)
	if *backfill && marked < sent {
		fmt.Fprintf(e.stderr, "--backfill: %d messages are not posts or scored posts and were written unmarked\n", sent-marked)
	}
	if bad > 0 {
		// A script that loads a file must see that part of it is missing.
		return fmt.Errorf("%d bad lines", bad)
	}
	return nil
}

func cmdConsume(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "consume", "--topic NAME [--config FILE] [--max N] [--idle DURATION]")
	topic := fs.String("topic", "alerts", "short topic name")
	maxN := fs.Int("max", 0, "stop after N messages (0: no limit)")
	idle := fs.Duration("idle", 0, "stop after this long without a message (0: never)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("%w: consume %s", errUsage, needBrokers)
	}
	log := newLogger(e, cfg.Log)
	b, err := bus.Open(cfg.Kafka, log)
	if err != nil {
		return err
	}
	defer b.Close()
	full := cfg.Topics.Name(*topic)
	parts, err := b.Partitions(ctx, full)
	if err != nil {
		return err
	}
	out := msg.NewWriter(e.stdout)
	defer out.Flush()

	// Every partition is read at once: one after the other, the first
	// would be read for ever (a live topic never ends), and --max would
	// wait on it for messages that are in the others. Each partition
	// keeps its own order.
	type read struct {
		part int
		m    kafka.Message
		err  error
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	ch := make(chan read, 256)
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := b.PartitionReader(full, p)
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				ch <- read{part: p, err: err}
				return
			}
			for {
				m, err := r.ReadMessage(rctx)
				select {
				case ch <- read{part: p, m: m, err: err}:
				case <-rctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(ch) }()
	defer func() {
		stop()
		for range ch { // let the readers leave
		}
	}()

	// --idle counts from the last message of any partition.
	var idleC <-chan time.Time
	var idleT *time.Timer
	if *idle > 0 {
		idleT = time.NewTimer(*idle)
		defer idleT.Stop()
		idleC = idleT.C
	}
	n := 0
	for *maxN == 0 || n < *maxN {
		var rd read
		select {
		case <-ctx.Done():
			return nil
		case <-idleC:
			return nil
		case rd = <-ch:
		}
		if rd.err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("cannot read %s/%d: %w", full, rd.part, b.Explain(rd.err))
		}
		if idleT != nil {
			idleT.Reset(*idle)
		}
		if _, ok := bus.Control(rd.m); ok {
			continue // a stage's watermark, not data
		}
		// Decoded to check it, written as it was read: a field this
		// build does not know (a newer stage wrote it) is kept.
		if _, err := msg.DecodeAny(rd.m.Value); err != nil {
			fmt.Fprintf(e.stderr, "skipped %s/%d@%d: %v\n", full, rd.part, rd.m.Offset, err)
			continue
		}
		if err := out.WriteRaw(rd.m.Value); err != nil {
			return err
		}
		n++
		if len(ch) == 0 {
			// Nothing more at hand: show what came (consume follows a live topic).
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func cmdConfig(ctx context.Context, e *env, args []string) error {
	const synopsis = "config check FILE | config example | config defaults"
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, synopsis)
	}
	// --help after a subcommand is help too, not a file to check.
	if args[0] == "help" || slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		fmt.Fprintf(e.stderr, "Usage: threatwatch %s\n\n  check FILE   parse strictly and validate; errors name the field path\n  example      print the documented example config\n  defaults     print every default\n", synopsis)
		return flag.ErrHelp
	}
	if len(args) > 1 && (args[0] == "example" || args[0] == "defaults") {
		return fmt.Errorf("%w: unexpected argument %q (config %s takes none)", errUsage, args[1], args[0])
	}
	switch args[0] {
	case "check":
		if len(args) != 2 {
			return fmt.Errorf("%w: config check FILE", errUsage)
		}
		cfg, err := config.Load(args[1])
		if err != nil {
			return err
		}
		// What the config package cannot check, each stage checks at its
		// start; a file that passes here must not stop a stage there.
		if err := errors.Join(scrapers.Validate(cfg.Scrape), checkNotify(cfg)); err != nil {
			return fmt.Errorf("%s: invalid config: %w", args[1], err)
		}
		fmt.Fprintf(e.stdout, "%s: ok\n", args[1])
		return nil
	case "example":
		_, err := io.WriteString(e.stdout, config.Example)
		return err
	case "defaults":
		return config.WriteYAML(e.stdout, config.Default())
	}
	return fmt.Errorf("%w: unknown config subcommand %q", errUsage, args[0])
}

var _ = strings.TrimSpace
var _ = time.Second
