package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// cmdRedrive sends dead letters' original messages back to the topics they
// came from, once what refused them is fixed (a reader upgraded, a bug
// mended). The stages deduplicate by message id, so a message that was
// processed after all is not processed twice. Each original is sent once
// however many dead letters it has: a batch redelivered after its dead
// letters were written writes them again (same tw-dead-letter-id), and
// two stages reading one topic may both set the same message aside.
func cmdRedrive(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "redrive", "[--config FILE] [--stage NAME] [--reason R] [--source TOPIC] [--dry-run] [FILE...]   (dead letters as JSON lines, e.g. from consume --topic dead-letter)")
	stage := fs.String("stage", "", "only dead letters of this stage")
	reason := fs.String("reason", "", "only dead letters with this reason (schema, invalid, retries_exhausted, ...)")
	source := fs.String("source", "", "only dead letters from this topic (short name)")
	dry := fs.Bool("dry-run", false, "count what would be sent, send nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if len(cfg.Kafka.Brokers) == 0 && !*dry {
		return fmt.Errorf("%w: redrive needs kafka.brokers (the embedded cluster lives only inside a running process)", errUsage)
	}
	// Only the pipeline's own topics: a dead letter names where it came
	// from, and a hand-edited file must not send messages anywhere else.
	known := map[string]bool{}
	for _, t := range cfg.Topics.All() {
		known[t] = true
	}
	// The target half of the aggregate stage reads the repartition topic,
	// so its dead letters name that one.
	known[repartitionName(cfg.Topics)] = true
	known[cfg.Topics.Name(cfg.Topics.DeadLetter)] = false
	wantSource := ""
	if *source != "" {
		wantSource = cfg.Topics.Name(*source)
	}

	var b *bus.Bus
	var w *kafka.Writer
	if !*dry {
		log := newLogger(e, cfg.Log)
		if b, err = bus.Open(cfg.Kafka, log); err != nil {
			return err
		}
		defer b.Close()
		if err := b.WaitReady(ctx); err != nil {
			return err
		}
		w = b.MultiWriter(bus.WriterOptions{})
		defer w.Close()
	}
	sent := map[string]int{}
	filtered, unknown, watermarks, dupes := 0, 0, 0, 0
	seen := originals{}
	var notCopied []string
	notCopiedN := 0
	const maxNamed = 20
	var batch []kafka.Message
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if !*dry {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				return fmt.Errorf("cannot write to Kafka: %w", b.Explain(err))
			}
		}
		for _, m := range batch {
			sent[m.Topic]++
		}
		batch = batch[:0]
		return nil
	}
	bad, err := forEachFileLine(e, fs.Args(), msg.KindDeadLetter, func(m msg.Message) error {
		dl := m.(*msg.DeadLetter)
		switch {
		case *stage != "" && dl.Stage != *stage, *reason != "" && dl.Reason != *reason, wantSource != "" && dl.Topic != wantSource:
			filtered++
			return nil
		case !known[dl.Topic]:
			unknown++
			return nil
		case seen.has(dl):
			dupes++
			return nil
		case isWatermark(dl):
			// A watermark says only how far a stage had got when it was
			// written: sent back, an old one would hold the clocks of the
			// stages after it back, and one whose dead letter lost its
			// header would come back as data, to be set aside again.
			watermarks++
			return nil
		}
		seen.add(dl)
		if len(dl.Value) == 0 {
			// Too large to copy into the dead letter: it is still where it was.
			// Only the first few are named: kept all, they would grow
			// with the topic like the originals.
			if notCopiedN++; len(notCopied) < maxNamed {
				notCopied = append(notCopied, fmt.Sprintf("%s/%d/%d", dl.Topic, dl.Partition, dl.Offset))
			}
			return nil
		}
		// The original's timestamp and headers go back with it: the stages
		// take the timestamp for when a post entered the pipeline (stamped
		// now, a backlog post would pass for a fresh one), and the headers
		// tell a control message from data. Dead letters from before they
		// were kept have neither, and are stamped when written; so is a
		// time kafka-go would write as a wrong date (past 2262).
		ts, _ := bus.Timestamp(dl.Time)
		km := kafka.Message{Topic: dl.Topic, Key: dl.OrigKey, Value: dl.Value, Time: ts}
		for _, h := range dl.Headers {
			km.Headers = append(km.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		batch = append(batch, km)
		if len(batch) >= 500 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	topics := make([]string, 0, len(sent))
	total := 0
	for t, n := range sent {
		topics = append(topics, fmt.Sprintf("%s: %d", t, n))
		total += n
	}
	sort.Strings(topics)
	verb := "re-sent"
	if *dry {
		verb = "would re-send"
	}
	fmt.Fprintf(e.stderr, "%s %d messages (%s); %d left out by the filters, %d from topics that are not the pipeline's, %d bad lines\n",
		verb, total, strings.Join(topics, ", "), filtered, unknown, bad)
	if dupes > 0 {
		fmt.Fprintf(e.stderr, "%d duplicates left out: their originals were set aside more than once (a batch redelivered after a shutdown, or two stages reading one topic), and are sent once\n", dupes)
	}
	if watermarks > 0 {
		fmt.Fprintf(e.stderr, "%d watermarks left out: they say only how far a stage had got, and the stages write new ones\n", watermarks)
	}
	if notCopiedN > 0 {
		fmt.Fprintf(e.stderr, "%d originals were too large to copy into their dead letter; read them where they are (topic/partition/offset): %s\n",
			notCopiedN, strings.Join(notCopied, " "))
	}
	if bad > 0 {
		return fmt.Errorf("%d bad lines", bad)
	}
	return nil
}

// originals holds each original sent (or named as not copied), by where
// it was and its bytes: the same place holding other bytes is another
// message (its topic deleted and created again). It grows with the
// originals for the whole run, so an entry is a 16-byte digest and keeps
// nothing of its dead letter: 20 to 40 bytes each (ten million: under
// 400 MB), where a key holding the topic's name and a full hash cost
// about 130. Two originals share a 128-bit digest with odds far below
// those of a disk error.
type originals map[[16]byte]struct{}

func originalKey(dl *msg.DeadLetter) [16]byte {
	h := sha256.New()
	var n [8]byte
	// Each field length-prefixed or fixed-size, so no two dead letters
	// run together into the same input.
	binary.BigEndian.PutUint64(n[:], uint64(len(dl.Topic)))
	h.Write(n[:])
	h.Write([]byte(dl.Topic))
	binary.BigEndian.PutUint64(n[:], uint64(int64(dl.Partition)))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(dl.Offset))
	h.Write(n[:])
	h.Write(dl.Value)
	var k [16]byte
	copy(k[:], h.Sum(nil))
	return k
}

func (o originals) has(dl *msg.DeadLetter) bool {
	_, ok := o[originalKey(dl)]
	return ok
}

func (o originals) add(dl *msg.DeadLetter) { o[originalKey(dl)] = struct{}{} }

// isWatermark reports whether dl holds a stage's watermark: by its control
// header, or by its schema for a dead letter from before headers were kept.
func isWatermark(dl *msg.DeadLetter) bool {
	for _, h := range dl.Headers {
		if h.Key == msg.ControlHeader {
			return string(h.Value) == msg.ControlWatermark
		}
	}
	return msg.SchemaOf(dl.Value) == msg.SchemaWatermark
}
