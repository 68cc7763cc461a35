package store_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/store"
	"github.com/threatwatch/threatwatch/pipeline/tlstest"
)

// startTLSRedis starts a private redis-server that listens only on a TLS
// port, requires clients to present a certificate signed by the test CA,
// disables the default user and knows one ACL user limited to keys under
// "tw:". It skips when redis-server is missing (fails under CI=true) or was
// built without TLS.
func startTLSRedis(t *testing.T, pki *tlstest.PKI) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (CI=true requires it)")
		}
		t.Skip("redis-server is not installed: skipping the Redis TLS and ACL test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	// ACL lines cannot be given as flags (redis quotes each flag as one
	// token), so the server gets a config file.
	conf := strings.Join([]string{
		"port 0",
		fmt.Sprintf("tls-port %d", port),
		"bind 127.0.0.1",
		"tls-cert-file " + pki.ServerCert,
		"tls-key-file " + pki.ServerKey,
		"tls-ca-cert-file " + pki.CAFile,
		"tls-auth-clients yes",
		`save ""`,
		"appendonly no",
		"dir " + dir,
		"user default off",
		"user threatwatch on >tw-password ~tw:* +@all -@dangerous",
	}, "\n") + "\n"
	confFile := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, confFile)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				all := strings.Join(log, "\n")
				if strings.Contains(all, "TLS") && (strings.Contains(all, "not supported") || strings.Contains(all, "Bad directive")) {
					t.Skipf("this redis-server was built without TLS support:\n%s", all)
				}
				t.Fatalf("redis-server exited:\n%s", all)
			}
			log = append(log, l)
			if strings.Contains(l, "Ready to accept connections") {
				return fmt.Sprintf("127.0.0.1:%d", port)
			}
		case <-timeout:
			t.Fatalf("redis-server did not start:\n%s", strings.Join(log, "\n"))
		}
	}
}

func TestRedisTLSAndACL(t *testing.T) {
	pki := tlstest.New(t)
	addr := startTLSRedis(t, pki)
	clientTLS := config.TLS{Enabled: true, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	open := func(t *testing.T, cfg config.Redis) *store.Store {
		t.Helper()
		if cfg.KeyPrefix == "" {
			cfg.KeyPrefix = "tw:"
		}
		s, err := store.Open(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("the store connects over TLS as an ACL user and reads back what it wrote", func(t *testing.T) {
		s := open(t, config.Redis{URL: config.NewSecret("rediss://" + addr), Username: "threatwatch", Password: config.NewSecret("tw-password"), TLS: clientTLS})
		if err := s.Set(ctx, s.Key("probe"), "v", time.Minute).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		if v, err := s.Get(ctx, s.Key("probe")).Result(); err != nil || v != "v" {
			t.Fatalf("GET = %q, %v", v, err)
		}
		d := store.NewDedup(s, "tls", time.Minute)
		if err := d.Mark(ctx, []string{"a"}); err != nil {
			t.Fatalf("Mark: %v", err)
		}
		seen, err := d.Seen(ctx, []string{"a", "b"})
		if err != nil || !seen[0] || seen[1] {
			t.Fatalf("Seen = %v, %v; want [true false]", seen, err)
		}
	})
	t.Run("the ACL confines the user to the deployment's key prefix", func(t *testing.T) {
		s := open(t, config.Redis{URL: config.NewSecret("rediss://" + addr), Username: "threatwatch", Password: config.NewSecret("tw-password"), TLS: clientTLS, KeyPrefix: "other:"})
		err := s.Set(ctx, s.Key("probe"), "v", time.Minute).Err()
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("SET outside the ACL key pattern: err = %v, want NOPERM", err)
		}
	})
	t.Run("a wrong password is refused and not echoed", func(t *testing.T) {
		s := open(t, config.Redis{URL: config.NewSecret("rediss://" + addr), Username: "threatwatch", Password: config.NewSecret("not-the-password"), TLS: clientTLS})
		err := s.Ping(ctx).Err()
		if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("PING with a wrong password: err = %v, want WRONGPASS", err)
		}
		if strings.Contains(err.Error(), "not-the-password") {
			t.Errorf("error %q echoes the password", err)
		}
	})
	t.Run("the disabled default user cannot get in", func(t *testing.T) {
		s := open(t, config.Redis{URL: config.NewSecret("rediss://" + addr), TLS: clientTLS})
		if err := s.Set(ctx, s.Key("probe"), "v", time.Minute).Err(); err == nil {
			t.Fatal("SET as the default user succeeded; the ACL should refuse it")
		}
	})
	t.Run("without a client certificate the TLS handshake is refused", func(t *testing.T) {
		s := open(t, config.Redis{URL: config.NewSecret("rediss://" + addr), Username: "threatwatch", Password: config.NewSecret("tw-password"), TLS: config.TLS{Enabled: true, CAFile: pki.CAFile}})
		if err := s.Ping(ctx).Err(); err == nil {
			t.Fatal("PING without a client certificate succeeded")
		}
	})
	t.Run("a server certificate from another CA is refused", func(t *testing.T) {
		other := tlstest.New(t)
		s := open(t, config.Redis{URL: config.NewSecret("rediss://" + addr), Username: "threatwatch", Password: config.NewSecret("tw-password"),
			TLS: config.TLS{Enabled: true, CAFile: other.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}})
		err := s.Ping(ctx).Err()
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("PING against an untrusted server: err = %v, want a certificate error", err)
		}
	})
	t.Run("the password may come in the URL and is not echoed when the URL is bad", func(t *testing.T) {
		s := open(t, config.Redis{URL: config.NewSecret("rediss://threatwatch:tw-password@" + addr), TLS: clientTLS})
		if err := s.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING with credentials in the URL: %v", err)
		}
		_, err := store.Open(config.Redis{URL: config.NewSecret("rediss://threatwatch:tw-password@" + addr + "/notadb")}, slog.New(slog.DiscardHandler))
		if err == nil || strings.Contains(err.Error(), "tw-password") {
			t.Fatalf("Open with a bad URL: err = %v, want an error without the password", err)
		}
	})
}
