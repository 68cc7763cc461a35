package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Record is one input post of a replay, decoded and placed in event time.
type Record struct {
	// Time is the post's event time (published, else fetched).
	Time time.Time
	// ID is the post id, which orders posts of the same time.
	ID string
	// Scored is set for inputs that carry scores (and, after rescoring, for
	// every record).
	Scored *msg.Scored
	// Post is set for raw posts, which the classifiers must score first.
	Post *msg.Post
	// Raw is the input line as read; kept only when the source is asked to
	// (export writes it back unchanged).
	Raw []byte

	src int   // index of the source stream, for the ordering tiebreak
	seq int64 // line number in a file, offset in a partition
	// dedupID is the post's DedupID, the deduplication key, as the live
	// stages use it: an edit (its content hash added) is not a copy.
	dedupID string
}

// IsScored reports whether the record carries scores.
func (r *Record) IsScored() bool { return r.Scored != nil }

// less is the replay order: event time, then post id, then where it came
// from (source index, line or offset). The order depends on nothing but the
// input, so every run of the same input sees the same sequence.
func (r *Record) less(o *Record) bool {
	if !r.Time.Equal(o.Time) {
		return r.Time.Before(o.Time)
	}
	if r.ID != o.ID {
		return r.ID < o.ID
	}
	if r.src != o.src {
		return r.src < o.src
	}
	return r.seq < o.seq
}

// ErrNotPost reports an input line holding a message that is neither a post
// nor a scored post (a level, an alert).
var ErrNotPost = errors.New("not a post or a scored post")

// ErrNoEventTime reports a post with neither published nor fetched time:
// replay cannot place it in event time.
var ErrNoEventTime = errors.New("post has neither published nor fetched time")

// schemaShown is how a bad line's unknown schema is named in its report:
// quoted when it looks like a schema id, else by its length only, since a
// bad line's report goes to terminals and logs and the field may hold
// anything, a victim's name included.
func schemaShown(s string) string {
	ok := len(s) <= 32
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Sprintf("(not a schema name: %d bytes)", len(s))
	}
	return fmt.Sprintf("%q", s)
}

// decodeRecordWith decodes one JSON line: a scored post, or a raw post.
// Scored lines take the fast path, dec (they are what re-aggregation reads
// by the million); anything else goes through the general, lenient
// decoder, so a hand-written line without a schema is accepted as it is by
// every other command. Both are codec's: msg.DecodeLenient's errors quote
// the value that did not parse (a time field holding a name and address),
// and a bad line's error is printed.
func decodeRecordWith(dec *codec.ScoredDecoder, b []byte) (*Record, error) {
	var s *msg.Scored
	var p *msg.Post
	switch {
	case bytes.HasPrefix(b, []byte(`{"schema":"scored/1"`)):
		v, err := dec.Decode(b)
		if err != nil {
			return nil, err
		}
		s = v
	default:
		var probe struct {
			Schema string          `json:"schema"`
			Post   json.RawMessage `json:"post"`
			Scores json.RawMessage `json:"scores"`
		}
		if err := json.Unmarshal(b, &probe); err != nil {
			return nil, fmt.Errorf("%w: %w", msg.ErrInvalid, err)
		}
		switch {
		case probe.Schema == msg.SchemaScored || (probe.Schema == "" && (probe.Post != nil || probe.Scores != nil)):
			v, err := codec.DecodeLenient[msg.Scored](b)
			if err != nil {
				return nil, err
			}
			s = v
		case probe.Schema == msg.SchemaPost || probe.Schema == "":
			v, err := codec.DecodeLenient[msg.Post](b)
			if err != nil {
				return nil, err
			}
			p = v
		default:
			if _, known := msg.KindOfSchema(probe.Schema); known {
				return nil, fmt.Errorf("%w: schema %q", ErrNotPost, probe.Schema)
			}
			return nil, fmt.Errorf("%w: %s", msg.ErrSchema, schemaShown(probe.Schema))
		}
	}
	r := &Record{Scored: s, Post: p}
	post := p
	if s != nil {
		post = &s.Post
	}
	r.ID, r.dedupID = post.ID, post.DedupID()
	r.Time = post.EventTime()
	if r.Time.IsZero() {
		return nil, fmt.Errorf("%w: %w", msg.ErrInvalid, ErrNoEventTime)
	}
	return r, nil
}
