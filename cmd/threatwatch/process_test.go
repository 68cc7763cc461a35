package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds threatwatch once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "threatwatch")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func testAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A stage process on the embedded defaults becomes ready, serves its
// operational endpoints, says which defaults it uses, and exits 0 on SIGTERM.
func TestStageProcessServesHealthAndStopsCleanlyOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	addr := testAddr(t)
	cfg := filepath.Join(t.TempDir(), "tw.yaml")
	writeFile(t, cfg, "http:\n  listen: "+addr+"\n")
	cmd := exec.Command(bin, "classify", "--config", cfg)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := get("/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready; logs:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"kafka":"ok"`) || !strings.Contains(body, `"redis":"ok"`) {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics = %d", code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("did not stop within 45s of SIGTERM; logs:\n%s", logs.String())
	}
	for _, want := range []string{"using the embedded in-process Kafka cluster", "using the embedded in-process Redis", "stopped cleanly"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs do not say %q:\n%s", want, logs.String())
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A listener that cannot bind names the config key of its address, as
// serve.listen does: "address already in use" alone leaves the operator
// guessing which of the ports of a process is taken.
func TestABusyPortIsNamedByItsKey(t *testing.T) {
	f := func(key string, yml func(addr, port string) string) {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		cfg := filepath.Join(t.TempDir(), "tw.yaml")
		writeFile(t, cfg, yml(ln.Addr().String(), port))
		code, _, errOut := runWithin(t, time.Minute, "aggregate", "--config", cfg)
		if code != 1 || !strings.Contains(errOut, key+": ") || !strings.Contains(errOut, "address already in use") {
			t.Errorf("%s busy: exit %d, stderr %q; want 1 and the key %s", key, code, errOut, key)
		}
	}
	f("http.listen", func(addr, _ string) string { return "http:\n  listen: " + addr + "\n" })
	f("kafka.embedded.port", func(_, port string) string {
		return "kafka:\n  embedded:\n    port: " + port + "\nhttp:\n  listen: 127.0.0.1:0\n"
	})
}
