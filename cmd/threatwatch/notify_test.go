package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/notify/webhook"
)

func TestNotifyTestSendsAFiringAndAResolvedAlert(t *testing.T) {
	var mu sync.Mutex
	var statuses []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !webhook.Verify([]byte("k3y"), b, r.Header.Get(webhook.DefaultHeader)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(string(b), `"status":"resolved"`) {
			statuses = append(statuses, "resolved")
		} else {
			statuses = append(statuses, "firing")
		}
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "tw.yml")
	yml := "notify:\n  receivers:\n    - {name: soc, type: webhook, settings: {url: \"" + srv.URL + "/x\", secret: k3y}}\n  default_receivers: [soc]\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "", "notify", "test", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if strings.Join(statuses, ",") != "firing,resolved" || !strings.Contains(stdout, "soc") || strings.Count(stdout, " ok") != 2 {
		t.Fatalf("receiver saw %v; stdout %q", statuses, stdout)
	}

	srv.Close()
	code, stdout, _ = run(t, "", "notify", "test", "--config", cfg)
	if code == 0 || !strings.Contains(stdout, "FAILED") || strings.Contains(stdout, "/x") {
		t.Fatalf("unreachable receiver: exit %d, stdout %q (must fail without printing the URL's path)", code, stdout)
	}
}
