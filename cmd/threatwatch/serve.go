package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/api"
)

func cmdServe(ctx context.Context, e *env, args []string) error {
	for _, a := range args {
		if a == "--hash-token" || a == "-hash-token" {
			return cmdHashToken(e, args)
		}
	}
	return stageCommand("serve")(ctx, e, args)
}

// cmdHashToken prints the hash to put in serve.tokens: of the token read
// from standard input, or of a fresh random token (--generate), which is
// printed once and never stored.
func cmdHashToken(e *env, args []string) error {
	fs, _ := newFlags(e, "serve", "--hash-token [--generate] [--name NAME] [--role ROLE]   (token on standard input)")
	fs.Bool("hash-token", true, "print the serve.tokens entry for a token")
	gen := fs.Bool("generate", false, "generate a new random token instead of reading one")
	name := fs.String("name", "operator", "name of the token holder, as the audit log shows it")
	role := fs.String("role", "viewer", "viewer, responder or analyst")
	if err := parseFlags(fs, args); err != nil {
		return err
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
		Ops: p.obs.Mux(),
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
