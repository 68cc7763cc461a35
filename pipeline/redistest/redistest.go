// Package redistest gives tests a Redis of their own: a private
// redis-server on a free loopback port (or the server named by REDIS_URL).
// It never touches a Redis it did not start unless REDIS_URL says so. Where
// no redis-server binary exists it falls back to the in-process server,
// except under CI=true, where a missing binary fails the test.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// EnvURL points tests at an external Redis.
const EnvURL = "REDIS_URL"

// Server is a running test Redis.
type Server struct {
	URL  string
	Addr string
	cmd  *exec.Cmd
	mini *miniredis.Miniredis
}

var seq atomic.Int64

// New returns a store connected to a fresh Redis for t, with a key prefix
// unique to the test. The server stops with t.Cleanup.
func New(t testing.TB) *store.Store {
	t.Helper()
	srv := Start(t)
	return Connect(t, srv)
}

// Connect opens a store on srv with a unique key prefix.
func Connect(t testing.TB, srv *Server) *store.Store {
	t.Helper()
	cfg := config.Redis{URL: config.NewSecret(srv.URL), KeyPrefix: fmt.Sprintf("t%d:", seq.Add(1))}
	s, err := store.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// A loaded CI machine can take seconds to answer a fresh server's first
	// command: keep asking for a while before calling it broken.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: cannot reach %s: %v", srv.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Start starts (or, with REDIS_URL, names) a Redis server.
func Start(t testing.TB) *Server {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return &Server{URL: u}
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: redis-server is not installed (CI=true requires it; .ci/run installs Debian's redis-server)")
		}
		t.Logf("redistest: redis-server not found; using the in-process server")
		m := miniredis.RunT(t)
		return &Server{URL: "redis://" + m.Addr(), Addr: m.Addr(), mini: m}
	}
	return startBinary(t, bin, 0)
}

// NeedOwnServer skips a test that must change its Redis server's
// settings (memory limits, users): an external REDIS_URL server is not
// the test's to change, and the in-process fallback has no such settings.
// Under CI=true Start fails instead when the binary is missing.
func NeedOwnServer(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(EnvURL) != "" {
		t.Skipf("cannot change %s of an external Redis", what)
	}
	if _, err := exec.LookPath("redis-server"); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("redis-server not installed: the in-process server has no %s", what)
	}
}

// Restart stops the server and starts it again on the same port (its data
// is kept only if it had been saved; tests use this for "Redis went away").
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	_, port, _ := net.SplitHostPort(s.Addr)
	var p int
	fmt.Sscan(port, &p)
	if s.mini != nil {
		if err := s.mini.Restart(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		// miniredis keeps its data across a restart; the server Start
		// runs saves nothing, and tests restart it to lose it.
		s.mini.FlushAll()
		return
	}
	bin, _ := exec.LookPath("redis-server")
	n := startBinary(t, bin, p)
	s.cmd = n.cmd
}

// Pause freezes the server (SIGSTOP) until Resume: connections stay
// open and commands get no answer, as from a Redis that hangs or a network
// that drops packets. Call NeedOwnServer first: only a redis-server this
// package started can be paused.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGSTOP)
	// A test that fails while the server is frozen must not leave it so.
	t.Cleanup(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGCONT)
		}
	})
}

// Resume lets a paused server go on.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT)
}

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		t.Fatalf("redistest: cannot pause or resume a server this package did not start")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// Stop stops the server (for tests of Redis going away).
func (s *Server) Stop() {
	if s.mini != nil {
		s.mini.Close()
		return
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func startBinary(t testing.TB, bin string, port int) *Server {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		p := port
		if p == 0 {
			p = FreePort(t)
		}
		dir := t.TempDir()
		cmd := exec.Command(bin, "--port", fmt.Sprint(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--daemonize", "no", "--protected-mode", "yes")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatalf("redistest: cannot start redis-server: %v", err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			sent := false
			for sc.Scan() {
				if !sent && strings.Contains(sc.Text(), "Ready to accept connections") {
					ready <- true
					sent = true
				}
			}
			if !sent {
				ready <- false
			}
		}()
		select {
		case ok := <-ready:
			if !ok {
				_ = cmd.Wait()
				continue // port taken between probe and start
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("redistest: redis-server did not start")
		}
		s := &Server{URL: fmt.Sprintf("redis://127.0.0.1:%d", p), Addr: fmt.Sprintf("127.0.0.1:%d", p), cmd: cmd}
		t.Cleanup(s.Stop)
		return s
	}
	t.Fatalf("redistest: cannot start redis-server after 5 attempts")
	return nil
}

// FreePort returns a loopback port nobody listens on, for a server a test
// starts itself (a replica, a sentinel).
func FreePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
