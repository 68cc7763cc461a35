package main

import (
	"bufio"
	"context"
	"fmt"
	"github.com/threatwatch/threatwatch/classifiers"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/api"
	"github.com/threatwatch/threatwatch/pipeline/store"
	"github.com/threatwatch/threatwatch/scrapers"
)

func cmdServe(ctx context.Context, e *env, args []string) error {
	for _, a := range args {
		switch a {
		case "--hash-token", "-hash-token", "--hash-token=true", "-hash-token=true":
			return cmdHashToken(e, args)
		}
	}
	fs, cfgPath := newFlags(e, "serve", "[--config FILE]\n"+
		"       threatwatch serve --hash-token [--generate] [--name NAME] [--role ROLE]   (token on standard input)\n\n"+
		"Runs the API and the dashboard on serve.listen. With --hash-token, prints the serve.tokens\n"+
		"entry for a bearer token instead (threatwatch serve --hash-token --help).")
	hash := fs.Bool("hash-token", false, "print the serve.tokens entry for a token read from standard input, or for a new one with --generate, and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *hash {
		// Written another way (--hash-token=1) that the loop above misses.
		return cmdHashToken(e, args)
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	return runStages(ctx, e, *cfgPath, "serve")
}

// cmdHashToken prints the hash to put in serve.tokens: of the token read
// from standard input, or of a fresh random token (--generate), which is
// printed once and never stored.
func cmdHashToken(e *env, args []string) error {
	fs, _ := newFlags(e, "serve", "--hash-token [--generate] [--name NAME] [--role ROLE]   (token on standard input)")
	fs.Bool("hash-token", false, "print the serve.tokens entry for a token")
	gen := fs.Bool("generate", false, "generate a new random token instead of reading one")
	name := fs.String("name", "operator", "name of the token holder, as the audit log shows it")
	role := fs.String("role", "viewer", "viewer, responder or analyst")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// Never echo it: it may be the token itself.
		return fmt.Errorf("%w: --hash-token takes no arguments: the token is read from standard input", errUsage)
	}
	switch *role {
	case "viewer", "responder", "analyst":
	default:
		return fmt.Errorf("%w: --role %q, want viewer, responder or analyst", errUsage, *role)
	}
	var tok string
	if *gen {
		t, err := api.NewToken()
		if err != nil {
			return err
		}
		tok = t
		fmt.Fprintf(e.stderr, "new token (shown once; give it to its holder, it is not stored):\n%s\n\n", tok)
	} else {
		line, err := bufio.NewReader(io.LimitReader(e.stdin, 16<<10)).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("cannot read token: %w", err)
		}
		tok = strings.TrimRight(line, "\r\n")
		if len(tok) < 16 {
			return fmt.Errorf("%w: the token on standard input must be at least 16 characters (or use --generate)", errUsage)
		}
	}
	fmt.Fprintf(e.stdout, "serve:\n  tokens:\n    - name: %s\n      role: %s\n      sha256: %s\n", *name, *role, api.HashToken(tok))
	return nil
}

// runServeStage runs the API, the dashboard and the two stages that feed
// them, on serve.listen.
func runServeStage(ctx context.Context, p *process) error {
	c := p.cfg.Serve
	if c.Listen == "" {
		p.log.Info("serve.listen is empty: the console is disabled")
		<-ctx.Done()
		return nil
	}
	srv, err := api.New(api.Options{
		Config: c, Store: p.store, State: alertstate.New(p.store),
		Registerer: p.obs.Registry, Log: p.log.With("stage", "serve"),
		Ops: p.obs.Mux(), Scraper: scraperHealth{st: p.store},
		FeedCheck: c.Feed.Check, FeedStall: c.Feed.Stall,
		// The classifiers' redactor knows names and addresses; the API's
		// own patterns run after it as a second net.
		Redact: func(s string) string { return api.FallbackRedact(classifiers.Redact(s)) },
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("serve.listen: %w", err)
	}
	return srv.Run(ctx, p.deps(), ln)
}

// scraperHealth reads the health the scrapers keep in Redis for the
// console's site views.
type scraperHealth struct{ st *store.Store }

func (h scraperHealth) SiteHealth(ctx context.Context, sites []string) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(sites))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, site := range sites {
		g.Go(func() error {
			hl, ok, err := scrapers.ReadHealth(gctx, h.st, site)
			if err != nil || !ok {
				return err
			}
			m := map[string]string{"state": hl.State, "since": fmtTime(hl.Since), "last_success": fmtTime(hl.LastSuccess), "base": hl.Base, "reason": hl.Reason}
			if hl.Failures > 0 {
				m["failures"] = strconv.Itoa(hl.Failures)
			}
			for k, v := range m {
				if v == "" {
					delete(m, k)
				}
			}
			mu.Lock()
			out[site] = m
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
