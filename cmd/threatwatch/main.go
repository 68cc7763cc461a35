// Command threatwatch is ThreatWatch's one binary: every stage, the tools
// around them, and the demo are its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	// Sites' time_zone names load without the system's zone files (a
	// scratch image has none; every non-UTC zone would fail at load).
	_ "time/tzdata"
)

// command is one subcommand. Adding one is a file with its run function
// plus one line in commands.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands lists every subcommand, in the order --help shows them.
var commands = []command{
	{"run", "run every stage in one process", cmdRun},
	{"scrape", "run the scrapers: sites -> posts topic (--once: to a file)", cmdScrape},
	{"classify", "run the classify stage: posts -> scored", cmdClassify},
	{"aggregate", "run the aggregate stage: scored -> levels, alerts", cmdAggregate},
	{"notify", "run the notify stage: alerts -> sinks", cmdNotify},
	{"serve", "run the API and dashboard", cmdServe},
	{"score", "score posts from JSON lines without Kafka", cmdScore},
	{"eval", "measure the classifiers on a labelled JSON-lines file", cmdEval},
	{"replay", "replay history through the aggregate and alert code", cmdReplay},
	{"export", "copy a slice of a topic to JSON lines", cmdExport},
	{"watchlist", "manage protected-person watchlists (hashed)", cmdWatchlist},
	{"produce", "write JSON-lines messages to a topic", cmdProduce},
	{"consume", "read a topic as JSON lines", cmdConsume},
	{"redrive", "send dead letters back to the topics they came from", cmdRedrive},
	{"msg", "check message files, optionally writing them back normalized (msg check --type post FILE)", cmdMsg},
	{"config", "check a config file or print the example (config check FILE)", cmdConfig},
	{"demo", "run a simulated harassment campaign through the real pipeline", cmdDemo},
	{"bench", "measure whole-pipeline throughput", cmdBench},
	{"nab-convert", "turn NAB series into scored posts (alert-quality evaluation)", cmdNABConvert},
	{"nab-score", "turn alerts into NAB detection CSVs for nabscore.py", cmdNABScore},
}

// errNotBuilt marks a subcommand whose issue is not done yet.
var errNotBuilt = errors.New("not built yet")

// errUsage marks a usage error (exit code 2).
var errUsage = errors.New("usage")

// env is what a subcommand gets from the process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(runMain(ctx, e, os.Args[1:]))
}

func runMain(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(e.stderr, "threatwatch %s: %v\n", c.name, err)
			return 2
		case errors.Is(err, errNotBuilt):
			fmt.Fprintf(e.stderr, "threatwatch %s: %v\n", c.name, err)
			return 3
		}
		fmt.Fprintf(e.stderr, "threatwatch %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(e.stderr, "threatwatch: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "threatwatch: threat-signal monitoring for forums (doxxing, swatting, violent threats)")
	fmt.Fprintln(w, "\nUsage: threatwatch <command> [flags]   (threatwatch <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	width := 0
	for _, c := range commands {
		names = append(names, c.name)
		width = max(width, len(c.name))
	}
	_ = sort.StringsAreSorted(names)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE (or THREATWATCH_CONFIG); with none, it runs on an")
	fmt.Fprintln(w, "embedded Kafka-protocol broker and an embedded Redis, so nothing needs installing.")
}

// newFlags returns a flag set that prints its usage to e.stderr and
// carries the --config flag every subcommand takes.
func newFlags(e *env, name, synopsis string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("threatwatch "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := fs.String("config", "", "config file (default $THREATWATCH_CONFIG, else embedded defaults)")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: threatwatch %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs, cfgPath
}

// noArgs refuses arguments a command does not take, which it would
// otherwise ignore. Package flag stops at the first argument, so a flag
// written after one lands here too.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (this command takes only flags, and they go first; see --help)", errUsage, fs.Arg(0))
	}
	return nil
}

// inputArg lets a command that reads --input take the file as its one
// argument as well: `threatwatch score posts.jsonl`.
func inputArg(fs *flag.FlagSet, in *string) error {
	switch fs.NArg() {
	case 0:
		return nil
	case 1:
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "input" })
		if set {
			return fmt.Errorf("%w: the input is given twice, with --input and as an argument", errUsage)
		}
		*in = fs.Arg(0)
		return nil
	}
	return fmt.Errorf("%w: unexpected argument %q after the input file (flags go before it; see --help)", errUsage, fs.Arg(1))
}

// parseFlags parses args, mapping a bad flag to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}
