package msg

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Message is what every message type implements.
type Message interface {
	// DedupID is what stages deduplicate on.
	DedupID() string
	// Key is the Kafka key; it decides the partition and so the order.
	Key() string
	// Validate reports a permanent problem with the message.
	Validate() error
}

// Constraint lets generic code name "a pointer to one of the message types".
type Constraint[T any] interface {
	*T
	Message
}

// Encode marshals a message, setting its schema field if empty.
func Encode(m Message) ([]byte, error) {
	Prepare(m)
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %T: %w", m, err)
	}
	return b, nil
}

// Prepare fills what a producer may leave empty before encoding: the
// schema field and, for posts, the id and content hash.
func Prepare(m Message) {
	switch v := m.(type) {
	case *Post:
		v.Normalize()
	case *UntimedPost:
		v.Normalize()
	case *Scored:
		if v.Schema == "" {
			v.Schema = SchemaScored
		}
		v.Post.Normalize()
	case *Level:
		if v.Schema == "" {
			v.Schema = SchemaLevel
		}
	case *Alert:
		if v.Schema == "" {
			v.Schema = SchemaAlert
		}
	case *DeadLetter:
		if v.Schema == "" {
			v.Schema = SchemaDeadLetter
		}
	}
}

// Decode unmarshals one message of type T and validates it. Unknown fields
// are allowed (a newer producer may add optional ones within a schema
// version); a wrong schema is not. Every error it returns is permanent.
func Decode[T any, P Constraint[T]](b []byte) (P, error) {
	var v T
	p := P(&v)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodeLenient is Decode for hand-written input (analysts' files, tests):
// a missing schema is filled in before validating, so a line like
// {"id":"1","text":"...","fetched":"2026-03-01T12:00:00Z"} is a post.
func DecodeLenient[T any, P Constraint[T]](b []byte) (P, error) {
	var v T
	p := P(&v)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	Prepare(p)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// SchemaOf reads only the schema field of an encoded message.
func SchemaOf(b []byte) string {
	var h struct {
		Schema string `json:"schema"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Schema
}

// KindOfSchema maps a schema id to its kind.
func KindOfSchema(schema string) (Kind, bool) {
	switch schema {
	case SchemaPost:
		return KindPost, true
	case SchemaScored:
		return KindScored, true
	case SchemaLevel:
		return KindLevel, true
	case SchemaAlert:
		return KindAlert, true
	case SchemaDeadLetter:
		return KindDeadLetter, true
	}
	return "", false
}

// DecodeAny decodes a message of any kind by its schema field.
func DecodeAny(b []byte) (Message, error) {
	s := SchemaOf(b)
	k, ok := KindOfSchema(s)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrSchema, schemaName(s))
	}
	return DecodeKind(k, b, false)
}

// DecodeKind decodes a message of a named kind; lenient fills a missing schema.
func DecodeKind(k Kind, b []byte, lenient bool) (Message, error) {
	pick := func(strict, loose func([]byte) (Message, error)) (Message, error) {
		if lenient {
			return loose(b)
		}
		return strict(b)
	}
	switch k {
	case KindPost:
		return pick(wrap(Decode[Post]), wrap(DecodeLenient[Post]))
	case KindScored:
		return pick(wrap(Decode[Scored]), wrap(DecodeLenient[Scored]))
	case KindLevel:
		return pick(wrap(Decode[Level]), wrap(DecodeLenient[Level]))
	case KindAlert:
		return pick(wrap(Decode[Alert]), wrap(DecodeLenient[Alert]))
	case KindDeadLetter:
		return pick(wrap(Decode[DeadLetter]), wrap(DecodeLenient[DeadLetter]))
	}
	return nil, fmt.Errorf("%w: unknown kind %q", ErrSchema, k)
}

func wrap[P Message](f func([]byte) (P, error)) func([]byte) (Message, error) {
	return func(b []byte) (Message, error) {
		p, err := f(b)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// MaxLine caps one JSON line; a longer line is reported and skipped.
const MaxLine = 16 << 20

// LineError reports a line of a JSON-lines input that could not be used.
type LineError struct {
	Name string // file name, or "-" for standard input
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads JSON lines of one message type. A bad line does not stop it:
// Next returns a *LineError for that line and the caller decides whether to
// go on (every ThreatWatch command reports it and goes on).
type Reader[T any, P Constraint[T]] struct {
	name    string
	lines   *Lines
	lenient bool
}

// NewReader reads messages from r; name is used in errors.
func NewReader[T any, P Constraint[T]](r io.Reader, name string, lenient bool) *Reader[T, P] {
	return &Reader[T, P]{name: name, lines: NewLines(r, MaxLine), lenient: lenient}
}

// Next returns the next message, io.EOF at the end, or a *LineError for a
// line it could not decode (the line is consumed; call Next again).
func (r *Reader[T, P]) Next() (P, error) {
	for {
		line, err := r.lines.Next()
		switch {
		case errors.Is(err, ErrLineTooLong):
			return nil, &LineError{Name: r.name, Line: r.lines.Line(), Err: err}
		case errors.Is(err, io.EOF):
			return nil, io.EOF
		case err != nil:
			return nil, fmt.Errorf("cannot read %s: %w", r.name, err)
		}
		b := bytes.TrimSpace(line)
		if len(b) == 0 {
			continue
		}
		var p P
		if r.lenient {
			p, err = DecodeLenient[T, P](b)
		} else {
			p, err = Decode[T, P](b)
		}
		if err != nil {
			return nil, &LineError{Name: r.name, Line: r.lines.Line(), Err: err}
		}
		return p, nil
	}
}

// Line is the number of the line last read.
func (r *Reader[T, P]) Line() int { return r.lines.Line() }

// Writer writes messages as JSON lines.
type Writer struct {
	w *bufio.Writer
}

// NewWriter writes to w; call Flush at the end.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 64<<10)} }

// Write encodes one message on one line.
func (w *Writer) Write(m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("cannot write message: %w", err)
	}
	return nil
}

// WriteRaw writes a message as it was read, on one line: fields this
// build does not know are kept (a dump of a topic a newer stage writes,
// sent back with produce, must not lose them).
func (w *Writer) WriteRaw(b []byte) error {
	var buf bytes.Buffer
	buf.Grow(len(b) + 1)
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Errorf("cannot write message: %w", err)
	}
	buf.WriteByte('\n')
	if _, err := w.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("cannot write message: %w", err)
	}
	return nil
}

// Flush writes buffered lines out.
func (w *Writer) Flush() error { return w.w.Flush() }

// LogValue logs a post by id and site only: never its text, author or URL
// (a URL can itself carry a name).
func (p *Post) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", p.ID),
		slog.String("site", p.Site),
		slog.Bool("backfill", p.Backfill),
	)
}

// LogValue logs a scored post by id, site and scores only.
func (s *Scored) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", s.Post.ID), slog.String("site", s.Post.Site)}
	for _, sig := range Signals {
		if v, ok := s.Scores[sig]; ok {
			attrs = append(attrs, slog.Float64(string(sig), v))
		}
	}
	return slog.GroupValue(attrs...)
}

// LogValue logs a level without its contributors' snippets.
func (l *Level) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("site", l.Site),
		slog.String("target", l.Target),
		slog.Float64("level", l.Level),
		slog.Float64("baseline", l.Baseline),
	)
}

// LogValue logs an alert by fingerprint, name and status only.
func (a *Alert) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("fingerprint", a.Fingerprint),
		slog.String("alertname", a.Labels["alertname"]),
		slog.String("site", a.Labels["site"]),
		slog.String("status", a.Status),
	)
}

// LogValue logs where a dead letter came from, never its payload.
func (d *DeadLetter) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("stage", d.Stage),
		slog.String("reason", d.Reason),
		slog.String("topic", d.Topic),
		slog.Int("partition", d.Partition),
		slog.Int64("offset", d.Offset),
	)
}
