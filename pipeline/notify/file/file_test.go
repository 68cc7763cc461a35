package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/file"
	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
)

func build(t *testing.T, settings string, d notify.Deps) notify.Sink {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(settings), &n); err != nil {
		t.Fatal(err)
	}
	s, err := file.Factory.Build(n.Content[0], d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLinesReadBackAsAlerts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	s := build(t, "path: "+path+"\n", notify.Deps{Receiver: "archive"})
	a, b := notifytest.Alert("forum-a"), notifytest.Alert("forum-b")
	b.Status = msg.StatusResolved
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Notify(context.Background(), a, b); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.(interface{ Close() error }).Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600: alerts are sensitive", info.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	if len(lines) != 40 {
		t.Fatalf("%d lines, want 40", len(lines))
	}
	for i, l := range lines {
		got, err := msg.Decode[msg.Alert](l)
		if err != nil {
			t.Fatalf("line %d is not an alert/1 message: %v: %s", i, err, l)
		}
		var rec struct{ Receiver string }
		_ = json.Unmarshal(l, &rec)
		if rec.Receiver != "archive" || (got.Fingerprint != a.Fingerprint && got.Fingerprint != b.Fingerprint) {
			t.Fatalf("line %d: receiver %q fingerprint %q", i, rec.Receiver, got.Fingerprint)
		}
	}
}

func TestDashWritesToStdout(t *testing.T) {
	var out bytes.Buffer
	s := build(t, `path: "-"`+"\n", notify.Deps{Receiver: "stdout", Stdout: &out})
	if _, err := s.Notify(context.Background(), notifytest.Alert("forum-a")); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out.Bytes(), []byte(`{"receiver":"stdout","schema":"alert/1"`)) || !bytes.HasSuffix(out.Bytes(), []byte("}\n")) {
		t.Fatalf("stdout got %s", out.Bytes())
	}
}
