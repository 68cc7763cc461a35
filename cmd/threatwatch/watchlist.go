package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/classifiers/watchlist"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

const watchlistUsage = `add [FILE|-]            add or replace the persons in FILE
       import [--dry-run] [--force] FILE|-
                                   make the list exactly FILE (persons not in it are removed;
                                   removing more than a quarter of the list needs --force)
       remove ID...                remove persons by id
       list [--json]               counts per person and kind (never values)
       rotate --to KEYID FILE|-    re-hash FILE with a new key, live beside the old one
       rotate --retire KEYID       stop using and delete an old key's hashes

FILE holds plain details (YAML or JSON; see docs/watchlist.md). It is read,
hashed with the keys in watchlist.keys and never copied: only keyed hashes
reach Redis. Keep the file offline and encrypted.`

// watchlistSynopses is each subcommand's usage line (after
// "threatwatch watchlist SUB").
var watchlistSynopses = map[string]string{
	"add":    "[--config FILE] [FILE|-]",
	"import": "[--config FILE] [--dry-run] [--force] FILE|-",
	"remove": "[--config FILE] ID...",
	"list":   "[--config FILE] [--json]",
	"rotate": "[--config FILE] --to KEYID [--force] FILE|-   or   --retire KEYID",
}

func cmdWatchlist(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: threatwatch watchlist %s\n", watchlistUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: want a watchlist subcommand", errUsage)
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	synopsis, ok := watchlistSynopses[sub]
	if !ok {
		return fmt.Errorf("%w: unknown watchlist subcommand %q (add, import, remove, list, rotate)", errUsage, sub)
	}
	// Each subcommand defines only the flags it acts on: one taken and
	// ignored (add --dry-run) would change the list while the operator
	// believed it changed nothing.
	fs, cfgPath := newFlags(e, "watchlist "+sub, synopsis)
	var dryRun, asJSON, force bool
	var to, retire string
	switch sub {
	case "import":
		fs.BoolVar(&dryRun, "dry-run", false, "hash and report, change nothing")
		fs.BoolVar(&force, "force", false, "remove more than a quarter of the list")
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	case "rotate":
		fs.StringVar(&to, "to", "", "the new key id (configured in watchlist.keys)")
		fs.StringVar(&retire, "retire", "", "the old key id to retire")
		fs.BoolVar(&force, "force", false, "accept a file that does not match the current list")
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if !cfg.Watchlist.Enabled() {
		// A configuration problem, not a misuse of the command: exit 1.
		return errors.New("watchlist.keys is empty in the config: configure a key first (docs/watchlist.md)")
	}
	if !cfg.Redis.External() {
		return fmt.Errorf("%w: the watchlist needs redis.url or redis.sentinel (the embedded store lives only inside a running process)", errUsage)
	}
	log := newLogger(e, cfg.Log)
	store.SetLogger(log)
	st, err := store.Open(cfg.Redis, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cannot reach Redis: %w", err)
	}
	a, err := watchlist.NewAdmin(cfg.Watchlist, st)
	if err != nil {
		return err
	}
	// The labels list prints are the ones the aggregate stage puts on
	// the person's alerts, to route on.
	a.Targets = alert.NewTargetLabeler(cfg.Aggregate.TargetKey.Value())
	files := fs.Args()
	switch sub {
	case "add", "import":
		if len(files) > 1 || (sub == "import" && len(files) == 0) {
			return fmt.Errorf("%w: watchlist %s takes one FILE (or - for stdin)", errUsage, sub)
		}
		f, err := readWatchlistFile(e, files)
		if err != nil {
			return err
		}
		var sum watchlist.Summary
		if sub == "add" {
			sum, err = a.Add(ctx, f)
		} else {
			if !dryRun && !force {
				if err := guardImportRemovals(ctx, a, f); err != nil {
					return err
				}
			}
			sum, err = a.Import(ctx, f, dryRun)
		}
		if err != nil {
			return err
		}
		printSummary(e.stdout, sub, sum)
		return nil
	case "remove":
		if len(files) == 0 {
			return fmt.Errorf("%w: watchlist remove takes person ids", errUsage)
		}
		sum, err := a.Remove(ctx, files)
		if err != nil {
			return err
		}
		printSummary(e.stdout, sub, sum)
		return nil
	case "list":
		if len(files) > 0 {
			return fmt.Errorf("%w: watchlist list takes no arguments", errUsage)
		}
		l, err := a.List(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(l)
		}
		printListing(e.stdout, l)
		return nil
	}
	// rotate
	switch {
	case (to == "") == (retire == ""):
		return fmt.Errorf("%w: watchlist rotate takes --to KEYID FILE or --retire KEYID", errUsage)
	case retire != "":
		if len(files) > 0 {
			return fmt.Errorf("%w: watchlist rotate --retire takes no FILE", errUsage)
		}
		sum, err := a.Retire(ctx, retire)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "retired key %s (generation %d): its hashes are deleted; remove it from watchlist.keys\n", retire, sum.Generation)
		printLeftovers(e.stdout, sum)
		return nil
	}
	if len(files) != 1 {
		return fmt.Errorf("%w: watchlist rotate --to KEYID takes one FILE (or - for stdin)", errUsage)
	}
	f, err := readWatchlistFile(e, files)
	if err != nil {
		return err
	}
	sum, err := a.RotateTo(ctx, to, f, force)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rotated %d persons (%d hashes) to key %s (generation %d); both keys are live until you run: threatwatch watchlist rotate --retire OLDKEY\n",
		sum.Persons, sum.Hashes, to, sum.Generation)
	printLeftovers(e.stdout, sum)
	return nil
}

func readWatchlistFile(e *env, files []string) (*watchlist.File, error) {
	name := "-"
	if len(files) == 1 {
		name = files[0]
	}
	r, name, closeIn, err := openInput(e, name)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	return watchlist.ParseFile(r, name)
}

func printSummary(w io.Writer, sub string, s watchlist.Summary) {
	verb := "changed"
	if s.DryRun {
		verb = "would change (dry run)"
	}
	fmt.Fprintf(w, "%s: %s %d persons (%d hashes per key), removed %d; keys %s", sub, verb, s.Persons, s.Hashes, s.Removed, strings.Join(s.Keys, ", "))
	if !s.DryRun {
		fmt.Fprintf(w, "; generation %d", s.Generation)
	}
	fmt.Fprintln(w)
	printLeftovers(w, s)
}

// printLeftovers says which keys' leftover hashes a change deleted.
func printLeftovers(w io.Writer, s watchlist.Summary) {
	if len(s.Leftovers) > 0 {
		fmt.Fprintf(w, "deleted the hashes an interrupted rotation or retirement had left under key(s) %s\n", strings.Join(s.Leftovers, ", "))
	}
}

func printListing(w io.Writer, l watchlist.Listing) {
	fmt.Fprintf(w, "generation %d\n", l.Generation)
	if len(l.Keys) == 0 {
		fmt.Fprintln(w, "the list is empty")
		return
	}
	for _, k := range l.Keys {
		note := ""
		if !k.Configured {
			note = " (NOT in watchlist.keys: matchers cannot use it)"
		}
		if k.WithoutSeqTags > 0 {
			note += fmt.Sprintf(" (%d stored without sequence tags: import the file again to match faster)", k.WithoutSeqTags)
		}
		if k.WithoutTailTags > 0 {
			note += fmt.Sprintf(" (%d phones stored without tail tags: import the file again to match faster)", k.WithoutTailTags)
		}
		fmt.Fprintf(w, "key %s: %d persons, %d hashes, %d unit hashes%s\n", k.ID, k.Persons, k.Hashes, k.UnitHashes, note)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "person\ttarget label\t")
	for _, k := range watchlist.Kinds {
		fmt.Fprintf(tw, "%s\t", k)
	}
	fmt.Fprintln(tw)
	for _, p := range l.Persons {
		fmt.Fprintf(tw, "%s\t%s\t", p.ID, p.TargetLabel)
		for _, k := range watchlist.Kinds {
			fmt.Fprintf(tw, "%d\t", p.Counts[k.String()])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// watchlistEnricher loads the protected-person watchlist for the classify
// stage when one is configured. Open fails when a live key is missing or
// wrong: better a stage that does not start than one that silently
// protects nobody.
func watchlistEnricher(ctx context.Context, p *process) (classifiers.Enricher, error) {
	if !p.cfg.Watchlist.Enabled() {
		return noEnricher{}, nil
	}
	if p.store.Embedded {
		p.log.Warn("watchlist configured but redis.url is not: the embedded store starts empty, so no one is protected", "stage", "classify")
	}
	var reg prometheus.Registerer
	if p.obs != nil {
		reg = p.obs.Registry
	}
	return watchlist.Open(ctx, p.cfg.Watchlist, p.store, p.log, reg)
}

// noEnricher stands in when no watchlist is configured.
type noEnricher struct{}

func (noEnricher) Enrich(context.Context, *msg.Post, *msg.Scored) error { return nil }

// guardImportRemovals refuses an import that would remove more than a
// quarter of the protected persons. A file cut short between two persons
// (a copy interrupted, a decryption that failed half-way) still parses,
// and imported as it is it would end the protection of everyone after the
// cut without a word.
func guardImportRemovals(ctx context.Context, a *watchlist.Admin, f *watchlist.File) error {
	dry, err := a.Import(ctx, f, true)
	if err != nil {
		return err
	}
	if dry.Removed == 0 {
		return nil
	}
	l, err := a.List(ctx)
	if err != nil {
		return err
	}
	if n := len(l.Persons); dry.Removed*4 > n {
		return fmt.Errorf("%w: the import would remove %d of the %d protected persons (a file cut short, or the wrong file?); check it with --dry-run, then import with --force", errUsage, dry.Removed, n)
	}
	return nil
}
