// Package codec is the hot-path codec for messages: the same JSON wire
// format and the same validation as pipeline/msg, decoded with
// segmentio/encoding/json, which measured about 4 times faster than
// encoding/json on scored posts (encoding stays with encoding/json). pipeline/msg itself stays standard library
// only, so any tool can import it; a differential fuzz test keeps the two
// decoders in agreement.
package codec

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Decode unmarshals and validates one message of type T. Every error it
// returns is permanent (wraps msg.ErrInvalid or msg.ErrSchema).
func Decode[T any, P msg.Constraint[T]](b []byte) (P, error) {
	var v T
	p := P(&v)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, invalid[T](b, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodeLenient is msg.DecodeLenient on the fast decoder: derived fields
// (schema, post id, content hash) are filled in before validating.
func DecodeLenient[T any, P msg.Constraint[T]](b []byte) (P, error) {
	var v T
	p := P(&v)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, invalid[T](b, err)
	}
	msg.Prepare(p)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Encode is msg.Encode: segmentio's encoder measured no faster than
// encoding/json, and it ignores the omitzero option the messages use, so
// encoding stays with the standard library.
func Encode(m msg.Message) ([]byte, error) { return msg.Encode(m) }

// invalid is the error of b, which the fast decoder refused with err. The
// fast decoder quotes up to 32 bytes of its input, and the error of a
// message that does not decode goes to its dead letter's headers and to
// the stage's log: a post's text would go with it. It is told instead
// from the standard library's decoding of b (a refusal is rare, so decoding
// twice costs nothing that matters), rebuilt from what names the fault
// and where: the one character a syntax error quotes, its offset, the
// kind of value and the field a type error names.
func invalid[T any](b []byte, err error) error {
	var v T
	std := stdjson.Unmarshal(b, &v)
	var se *stdjson.SyntaxError
	var te *stdjson.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(std, &se):
		return fmt.Errorf("%w: json: %s (at byte %d)", msg.ErrInvalid, se.Error(), se.Offset)
	case errors.As(std, &te):
		// Value is the JSON kind, and for a number too large for its
		// field, the number too.
		kind, _, _ := strings.Cut(te.Value, " ")
		field := te.Field
		if te.Struct != "" {
			field = te.Struct + "." + field
		}
		return fmt.Errorf("%w: json: cannot unmarshal %s into Go struct field %s of type %s (at byte %d)", msg.ErrInvalid, kind, field, te.Type, te.Offset)
	case errors.As(std, &pe):
		return fmt.Errorf("%w: json: a time that is not RFC 3339", msg.ErrInvalid)
	}
	return fmt.Errorf("%w: json: malformed message (%T)", msg.ErrInvalid, err)
}
