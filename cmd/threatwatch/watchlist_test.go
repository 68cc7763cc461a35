package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/classifiers/watchlist"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// The plain values of watchlistFile, which must never come out again.
var watchlistPlain = []string{"Clara", "Sorrenti", "Main Avenue", "main ave", "4477", "+15550104477", "clarasorrenti@gmail", "ABC-1234", "ABC1234", "Marco", "Canter"}

const watchlistFile = `region: US
persons:
  - id: wl-0001
    names: [Clara Sorrenti]
    addresses: ["123 Main Avenue, Apt 4"]
    phones: ["(555) 010-4477"]
    emails: [Clara.Sorrenti@gmail.com]
    plates: [ABC-1234]
    relatives: [Marco Sorrenti]
    workplace: [Canter Point Logistics]
  - id: wl-0002
    handles: ["@someone_else"]
`

// watchlistEnv writes a config for a private Redis and the given keys, and
// returns its path and the Redis URL.
func watchlistEnv(t *testing.T, srv *redistest.Server, keys ...string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("redis:\n  url: " + srv.URL + "\n  key_prefix: \"tcli:\"\nwatchlist:\n  keys:\n")
	for _, k := range keys {
		f := filepath.Join(dir, k+".key")
		if err := os.WriteFile(f, []byte(k+"-0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		b.WriteString("    - id: " + k + "\n      secret: {file: " + f + "}\n")
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func noPlain(t *testing.T, where, s string) {
	t.Helper()
	for _, v := range watchlistPlain {
		if strings.Contains(strings.ToLower(s), strings.ToLower(v)) {
			t.Fatalf("%s shows %q:\n%s", where, v, s)
		}
	}
}

func TestWatchlistCommands(t *testing.T) {
	srv := redistest.Start(t)
	cfg := watchlistEnv(t, srv, "k1")
	dir := t.TempDir()
	file := filepath.Join(dir, "persons.yaml")
	if err := os.WriteFile(file, []byte(watchlistFile), 0o600); err != nil {
		t.Fatal(err)
	}
	wl := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		code, out, errOut := run(t, stdin, append([]string{"watchlist"}, args...)...)
		noPlain(t, "stdout of "+strings.Join(args, " "), out)
		noPlain(t, "stderr of "+strings.Join(args, " "), errOut)
		return code, out, errOut
	}

	code, out, errOut := wl("", "add", "--config", cfg, file)
	if code != 0 || !strings.Contains(out, "changed 2 persons") {
		t.Fatalf("add: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = wl("", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "key k1: 2 persons") || !strings.Contains(out, "wl-0001") || !strings.Contains(out, alert.TargetLabel("wl-0001")) {
		t.Fatalf("list: exit %d, %q", code, out)
	}
	// With aggregate.target_key, the labels printed are the keyed ones
	// the aggregate stage puts on the person's alerts.
	keyedCfg := filepath.Join(t.TempDir(), "keyed.yaml")
	base, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyedCfg, append(base, "aggregate:\n  target_key: a-target-key-of-32-characters!!\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = wl("", "list", "--config", keyedCfg)
	keyed := alert.NewTargetLabeler("a-target-key-of-32-characters!!").Label("wl-0001")
	if code != 0 || !strings.Contains(out, keyed) || strings.Contains(out, alert.TargetLabel("wl-0001")) {
		t.Fatalf("list with a target key: exit %d, %q; want the keyed label %s", code, out, keyed)
	}
	code, out, _ = wl("", "list", "--config", cfg, "--json")
	var l struct {
		Persons []struct {
			ID     string         `json:"id"`
			Counts map[string]int `json:"counts"`
		} `json:"persons"`
	}
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Persons) != 2 {
		t.Fatalf("list --json: exit %d, %v, %q", code, err, out)
	}
	want := map[string]int{"name": 1, "address": 1, "phone": 1, "email": 1, "plate": 1, "relative": 1, "workplace": 1}
	for k, n := range want {
		if l.Persons[0].Counts[k] != n {
			t.Errorf("count of %s = %d, want %d (%v)", k, l.Persons[0].Counts[k], n, l.Persons[0].Counts)
		}
	}
	if l.Persons[1].Counts["handle"] != 1 {
		t.Errorf("wl-0002 counts %v", l.Persons[1].Counts)
	}

	// import from stdin replaces the list; removing more than a quarter
	// of it (here one of two) needs --force, as a file cut short would.
	short := "persons:\n  - id: wl-0002\n    handles: [\"@someone_else\"]\n"
	code, out, errOut = wl(short, "import", "--config", cfg, "-")
	if code == 0 || !strings.Contains(errOut, "would remove 1 of the 2") {
		t.Fatalf("import removing half the list without --force: exit %d, %q %q; want it refused", code, out, errOut)
	}
	if code, out, errOut = wl("", "list", "--config", cfg); code != 0 || !strings.Contains(out, "wl-0001") {
		t.Fatalf("a refused import changed the list: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = wl(short, "import", "--force", "--config", cfg, "-")
	if code != 0 || !strings.Contains(out, "removed 1") {
		t.Fatalf("import: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = wl("", "remove", "--config", cfg, "wl-0001")
	if code != 1 || !strings.Contains(errOut, "not on the watchlist") {
		t.Fatalf("remove of an id no longer listed: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut = wl("", "import", "--config", cfg, file); code != 0 {
		t.Fatalf("import: %s", errOut)
	}

	// Rotation: configure both keys, re-hash with k2, retire k1.
	both := watchlistEnv(t, srv, "k1", "k2")
	code, out, errOut = wl("", "rotate", "--config", both, "--to", "k2", file)
	if code != 0 || !strings.Contains(out, "rotated 2 persons") {
		t.Fatalf("rotate --to: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = wl("", "list", "--config", both)
	if code != 0 || !strings.Contains(out, "key k1: 2 persons") || !strings.Contains(out, "key k2: 2 persons") {
		t.Fatalf("list during rotation: %q", out)
	}
	code, out, errOut = wl("", "rotate", "--config", both, "--retire", "k1")
	if code != 0 || !strings.Contains(out, "retired key k1") {
		t.Fatalf("rotate --retire: exit %d, %q %q", code, out, errOut)
	}
	onlyNew := watchlistEnv(t, srv, "k2")
	code, out, _ = wl("", "list", "--config", onlyNew)
	if code != 0 || strings.Contains(out, "k1") || !strings.Contains(out, "key k2: 2 persons") {
		t.Fatalf("list after rotation: %q", out)
	}
	code, _, errOut = wl("", "remove", "--config", onlyNew, "wl-0001", "wl-0002")
	if code != 0 {
		t.Fatalf("remove: %s", errOut)
	}

	// Redis holds nothing readable, and nothing was written beside the file.
	st := redistest.Connect(t, srv)
	st.Prefix = ""
	keys, err := st.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, k := range keys {
		dump.WriteString(k + " ")
		v, _ := st.Dump(context.Background(), k).Result()
		dump.WriteString(v + "\n")
	}
	noPlain(t, "redis", dump.String())
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("files beside the watchlist file: %v", ents)
	}
}

func TestWatchlistRefusesBadSetups(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	noKeys := filepath.Join(dir, "nokeys.yaml")
	os.WriteFile(noKeys, []byte("redis:\n  url: "+srv.URL+"\n"), 0o600)
	// A config without keys is a configuration problem, not a misuse of
	// the command: exit 1, and no "usage:" to send people to --help.
	if code, _, errOut := run(t, "", "watchlist", "list", "--config", noKeys); code != 1 || !strings.Contains(errOut, "watchlist.keys is empty") || strings.Contains(errOut, "usage") {
		t.Fatalf("no keys: exit %d %q", code, errOut)
	}
	cfg := watchlistEnv(t, srv, "k1")
	embedded := filepath.Join(dir, "embedded.yaml")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(embedded, []byte(strings.Replace(string(b), "  url: "+srv.URL+"\n", "", 1)), 0o600)
	if code, _, errOut := run(t, "", "watchlist", "list", "--config", embedded); code != 2 || !strings.Contains(errOut, "needs redis.url") {
		t.Fatalf("embedded store accepted: %q", errOut)
	}
	if code, _, errOut := run(t, "", "watchlist", "frob", "--config", cfg); code != 2 || !strings.Contains(errOut, "unknown watchlist subcommand") {
		t.Fatalf("unknown subcommand: exit %d %q", code, errOut)
	}
	if code, _, errOut := run(t, "", "watchlist", "rotate", "--config", cfg); code != 2 {
		t.Fatalf("rotate without --to or --retire: exit %d %q", code, errOut)
	}
	bad := "persons:\n  - id: wl-9\n    phones: [\"4477\"]\n    relatives: [Marco]\n"
	code, _, errOut := run(t, bad, "watchlist", "add", "--config", cfg, "-")
	if code != 1 || !strings.Contains(errOut, "phones[0]") || !strings.Contains(errOut, "relatives[0]") {
		t.Fatalf("bad file: exit %d %q", code, errOut)
	}
	noPlain(t, "error", errOut)
}

func TestClassifyStageLoadsTheWatchlistWhenConfigured(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := redistest.Start(t)
	st := redistest.Connect(t, srv)
	cfg, err := config.Load(watchlistEnv(t, srv, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cfg: cfg, log: slog.New(slog.DiscardHandler), store: st}
	a, err := watchlist.NewAdmin(cfg.Watchlist, st)
	if err != nil {
		t.Fatal(err)
	}
	f, err := watchlist.ParseFile(strings.NewReader(watchlistFile), "persons.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Import(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	en, err := watchlistEnricher(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	post := &msg.Post{ID: "s:1", Text: "she lives at 123 main ave"}
	s := &msg.Scored{Post: *post}
	if err := en.Enrich(ctx, post, s); err != nil {
		t.Fatal(err)
	}
	if s.Scores[msg.SignalDoxxing] != 1 || len(s.Targets()) != 1 || s.Targets()[0].Ref != "wl-0001" {
		t.Fatalf("enriched: %+v", s)
	}
	// Without keys the stage runs with a no-op.
	p.cfg = config.Default()
	en, err = watchlistEnricher(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	s = &msg.Scored{Post: *post}
	if err := en.Enrich(ctx, post, s); err != nil || len(s.Evidence) != 0 {
		t.Fatalf("no-op enricher changed %+v (%v)", s, err)
	}
}
