package codec

import (
	"errors"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// The JSON decoder quotes up to 32 bytes of its input in its errors, and
// the error of a message that does not decode goes to its dead letter's
// tw-error header and to the stage's log: a truncated post would put its
// text there. Decode's errors say what is wrong, and where, without it.
func TestADecodeErrorQuotesNoneOfTheInput(t *testing.T) {
	const text = "Clara Sorrenti lives at 12 Main Street"
	f := func(in, want string) {
		t.Helper()
		for name, decode := range map[string]func([]byte) error{
			"Decode":        func(b []byte) error { _, err := Decode[msg.Post](b); return err },
			"DecodeLenient": func(b []byte) error { _, err := DecodeLenient[msg.Post](b); return err },
			"ScoredDecoder": func(b []byte) error {
				_, err := NewScoredDecoder().Decode([]byte(`{"schema":"scored/1","post":` + string(b) + `}`))
				return err
			},
		} {
			err := decode([]byte(in))
			if !errors.Is(err, msg.ErrInvalid) {
				t.Errorf("%s(%s): %v, want an invalid message", name, in, err)
				continue
			}
			for _, word := range []string{"Clara", "Sorrenti", "lives", "Main"} {
				if strings.Contains(err.Error(), word) {
					t.Errorf("%s(%s): %q quotes the input", name, in, err)
					break
				}
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s(%s): %q does not say %q", name, in, err, want)
			}
		}
	}
	f(`{"schema":"post/1","id":"s:1","text":Clara Sorrenti lives at 12 Main Street}`, "invalid character 'C'")
	f(`{"schema":"post/1","id":"s:1","text":"`+text, "unexpected end of JSON input")
	f(`{"schema":"post/1","id":"s:1","published":"`+text+`"}`, "not RFC 3339")
	f(`{"schema":"post/1","id":"s:1","text":["`+text+`"]}`, "text of type string")
	f(`{"schema":"post/1","id":"s:1","text":"Clara \uZZZZ Sorrenti lives at 12 Main Street"}`, "invalid character 'Z'")
	f(`{"schema":"post/1","id":"s:1","Clara Sorrenti lives at 12 Main Street":1,}`, "invalid character '}'")
	f(`{"schema":"post/1","id":"s:1","text":"x"} Clara Sorrenti`, "invalid character 'C'")
	f(`{"schema":"post/1","id":"s:1","site_post_id":12345678901234567890123456789012345678901234567890}`, "number")
}
