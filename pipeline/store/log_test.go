package store

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/pipeline/obs/obstest"
)

// go-redis's own complaints (here: a pool that cannot dial) reach the
// process's structured log, not plain lines on stderr.
func TestGoRedisMessagesGoToTheProcessLog(t *testing.T) {
	var out obstest.Buffer
	SetLogger(slog.New(slog.NewJSONHandler(&out, nil)))
	t.Cleanup(func() { SetLogger(slog.New(slog.DiscardHandler)) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping to a closed port succeeded")
	}
	var rec map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("not a JSON log line: %q", line)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("go-redis logged nothing to the process log about a dial that failed")
		}
	}
	if rec["component"] != "redis" || rec["level"] != "WARN" || !strings.Contains(rec["msg"].(string), addr) {
		t.Fatalf("log record %v: want component=redis, level WARN and the address", rec)
	}
}
