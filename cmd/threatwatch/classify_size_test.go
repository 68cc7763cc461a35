package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Every post that fits in one Kafka message gets its scores out in one:
// a scored post the runner cannot write is set aside on the dead-letter
// topic, and its threat never reaches the aggregate stage.
func TestClassifyOutputFitsOneMessageWhateverThePostHolds(t *testing.T) {
	c, err := classifiers.New(config.Default().Classify)
	if err != nil {
		t.Fatal(err)
	}
	h := &classifyHandler{c: c, out: "scored", m: newClassifyMetrics(prometheus.NewRegistry())}
	f := func(name, text string) {
		t.Helper()
		post := &msg.Post{Site: "forum", SitePostID: name, Text: text}
		post.Normalize()
		in, err := codec.Encode(post)
		if err != nil {
			t.Fatal(err)
		}
		if bus.TooLarge(kafka.Message{Key: []byte(post.Key()), Value: in}) {
			t.Fatalf("%s: the post itself is %d bytes, over the limit", name, len(in))
		}
		outs, err := h.Handle(context.Background(), post, pipeline.Meta{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := codec.Encode(outs[0].Msg)
		if err != nil {
			t.Fatal(err)
		}
		if bus.TooLarge(kafka.Message{Key: []byte(outs[0].Msg.Key()), Value: b}) {
			t.Errorf("%s: a post of %d bytes gives a scored post of %d bytes, over the %d-byte limit", name, len(in), len(b), bus.MaxMessageBytes)
		}
		if s := outs[0].Msg.(*msg.Scored); s.Scores[msg.SignalThreat] < 0.5 {
			t.Errorf("%s: threat %.2f, want >= 0.5", name, s.Scores[msg.SignalThreat])
		}
	}
	// A raid call naming the accounts to flood, cut to the scrapers' size.
	var raid strings.Builder
	raid.WriteString("I will kill every one of you tonight. ")
	for i := 0; raid.Len() < msg.MaxTextBytes-32; i++ {
		fmt.Fprintf(&raid, "@acct_%d ", i)
	}
	f("handles", raid.String())
	var names strings.Builder
	names.WriteString("I will kill every one of you tonight. ")
	for i := 0; names.Len() < msg.MaxTextBytes-32; i++ {
		fmt.Fprintf(&names, "Met %s Smith%d today. ", string(rune('A'+i%26))+"ana", i)
	}
	f("names", names.String())
	// A long paste from another producer, just under the message limit.
	f("long paste", "I will kill her tonight. "+strings.Repeat("filler words go here ", (bus.MaxMessageBytes-512)/21))
}

// Cut to the cap, a post keeps the people the aggregate stage levels on:
// protected people, then targets, in the order the classifiers found them.
func TestScoredEntitiesKeepProtectedPeopleAndTargetsFirst(t *testing.T) {
	s := &msg.Scored{}
	for i := range 300 {
		e := msg.Entity{Kind: msg.EntityHandle, Name: fmt.Sprintf("@a%d", i)}
		switch {
		case i == 299:
			e.Kind = msg.EntityProtected
		case i%10 == 5:
			e.Target = true
		}
		s.Entities = append(s.Entities, e)
	}
	if !capEntities(s, 40) || len(s.Entities) != 40 {
		t.Fatalf("kept %d entities, want 40", len(s.Entities))
	}
	targets, protected, last := 0, 0, -1
	for _, e := range s.Entities {
		var n int
		if _, err := fmt.Sscanf(e.Name, "@a%d", &n); err != nil || n <= last {
			t.Errorf("%s kept after @a%d: out of order", e.Name, last)
		}
		last = n
		if e.Target {
			targets++
		}
		if e.Kind == msg.EntityProtected {
			protected++
		}
	}
	if protected != 1 || targets != 30 {
		t.Errorf("kept %d protected and %d targets, want 1 and 30", protected, targets)
	}
	if capEntities(s, 40) {
		t.Error("a post within the cap was cut")
	}
}
