package codec

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func golden(t testing.TB) [][]byte {
	b, err := os.ReadFile("../msg/testdata/messages.golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

func TestCodecMatchesTheStandardLibraryOnTheGoldenMessages(t *testing.T) {
	lines := golden(t)
	check := func(line []byte, std, fast msg.Message, errStd, errFast error) {
		t.Helper()
		if errStd != nil || errFast != nil {
			t.Fatalf("decode: std %v, fast %v", errStd, errFast)
		}
		if !reflect.DeepEqual(std, fast) {
			t.Fatalf("decoders disagree:\nstd  %+v\nfast %+v", std, fast)
		}
		a, _ := msg.Encode(std)
		b, err := Encode(fast)
		if err != nil || !bytes.Equal(a, b) || !bytes.Equal(a, line) {
			t.Fatalf("encoders disagree (%v):\nstd  %s\nfast %s\nwant %s", err, a, b, line)
		}
	}
	s1, e1 := msg.Decode[msg.Post](lines[0])
	f1, e2 := Decode[msg.Post](lines[0])
	check(lines[0], s1, f1, e1, e2)
	s2, e1 := msg.Decode[msg.Scored](lines[1])
	f2, e2 := Decode[msg.Scored](lines[1])
	check(lines[1], s2, f2, e1, e2)
	s3, e1 := msg.Decode[msg.Level](lines[2])
	f3, e2 := Decode[msg.Level](lines[2])
	check(lines[2], s3, f3, e1, e2)
	s4, e1 := msg.Decode[msg.Alert](lines[3])
	f4, e2 := Decode[msg.Alert](lines[3])
	check(lines[3], s4, f4, e1, e2)
	s5, e1 := msg.Decode[msg.DeadLetter](lines[4])
	f5, e2 := Decode[msg.DeadLetter](lines[4])
	check(lines[4], s5, f5, e1, e2)
}

func TestDecodeLenientFillsDerivedFieldsLikeMsg(t *testing.T) {
	in := []byte(`{"post":{"site":"s","site_post_id":"7","text":"t"},"scores":{"threat":0.2}}`)
	want, err := msg.DecodeLenient[msg.Scored](in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeLenient[msg.Scored](in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) || got.Post.ID != msg.PostID("s", "7") {
		t.Fatalf("lenient decoders disagree:\nstd  %+v\nfast %+v", want, got)
	}
	if _, err := Decode[msg.Scored](in); err == nil {
		t.Fatal("the strict decoder accepted a message without schema")
	}
}

func TestCodecErrorsArePermanent(t *testing.T) {
	for _, in := range []string{`{`, `{"schema":"post/3","id":"x"}`, `{"schema":"post/1"}`, `"str"`} {
		_, err := Decode[msg.Post]([]byte(in))
		if !errors.Is(err, msg.ErrInvalid) && !errors.Is(err, msg.ErrSchema) {
			t.Errorf("Decode(%s) = %v, want ErrInvalid or ErrSchema", in, err)
		}
	}
}

// FuzzDecodersAgree: on any input both decoders accept or both reject, and
// what they accept is the same message.
func FuzzDecodersAgree(f *testing.F) {
	for _, l := range golden(f) {
		f.Add(l)
	}
	f.Add([]byte(`{"schema":"scored/1","post":{"id":"a","text":"\xff\xfe bad utf8"},"scores":{"threat":0.5}}`))
	f.Add([]byte(`{"schema":"post/1","id":"a","text":"\u00e9\ud800"}`))
	f.Add([]byte(`{"schema":"post/1","id":"a","published":"not a time"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		std, errStd := msg.Decode[msg.Scored](b)
		fast, errFast := Decode[msg.Scored](b)
		if (errStd == nil) != (errFast == nil) {
			t.Fatalf("std err %v, fast err %v on %q", errStd, errFast, b)
		}
		if errStd == nil && !reflect.DeepEqual(std, fast) {
			t.Fatalf("decoders disagree on %q:\nstd  %+v\nfast %+v", b, std, fast)
		}
	})
}

func BenchmarkDecodeScored(b *testing.B) {
	line := golden(b)[1]
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode[msg.Scored](line); err != nil {
			b.Fatal(err)
		}
	}
}
