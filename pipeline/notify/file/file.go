// Package file is the stdout/file sink: one JSON line per notification,
// for log shippers, analysts and the demo.
//
// Settings:
//
//	path: "-"          # standard output, or a file (appended, created 0600)
//
// Each line is the alert as it is on the alerts topic (schema alert/1,
// redacted), plus "receiver", so `threatwatch` tools read it back.
package file

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
)

// Settings configure the file sink.
type Settings struct {
	// Path is "-" for standard output, or a file to append to.
	Path string `yaml:"path"`
}

// Factory registers the sink.
var Factory = notify.Factory{
	Type:     "file",
	Doc:      "JSON lines on standard output or appended to a file.",
	Settings: func() any { return &Settings{} },
	New: func(n *yaml.Node, d notify.Deps) (notify.Sink, error) {
		var s Settings
		if err := notify.DecodeSettings(n, d.Path, &s); err != nil {
			return nil, err
		}
		if s.Path == "" {
			var p notify.Problems
			p.Add(d.Path+".path", notify.ErrRequired, `"-" for standard output, or a file`)
			return nil, p.Err()
		}
		return New(s, d), nil
	},
}

// Sink writes JSON lines.
type Sink struct {
	path     string
	receiver string
	stdout   io.Writer
	mu       sync.Mutex
	f        *os.File
}

// New returns a file sink; the file is opened on first use.
func New(s Settings, d notify.Deps) *Sink {
	out := d.Stdout
	if out == nil {
		out = os.Stdout
	}
	return &Sink{path: s.Path, receiver: d.Receiver, stdout: out}
}

type line struct {
	Receiver string `json:"receiver"`
	*msg.Alert
}

// Notify writes one line per alert. A write error is retryable (a full
// disk may be freed).
func (s *Sink) Notify(ctx context.Context, alerts ...*msg.Alert) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.stdout
	if s.path != "-" {
		if s.f == nil {
			f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return true, fmt.Errorf("cannot open alert file: %w", err)
			}
			s.f = f
		}
		w = s.f
	}
	var buf []byte
	for _, a := range alerts {
		if a.Schema == "" {
			a.Schema = msg.SchemaAlert
		}
		b, err := json.Marshal(line{Receiver: s.receiver, Alert: a})
		if err != nil {
			return false, fmt.Errorf("cannot encode alert: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	// One write per call, so lines of concurrent processes do not interleave
	// (O_APPEND writes are atomic up to the pipe/page size on Linux).
	if _, err := w.Write(buf); err != nil {
		return true, fmt.Errorf("cannot write alert file: %w", err)
	}
	return false, nil
}

// Close closes the file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
