package msg

import (
	"encoding/json"
	"fmt"
	"time"
)

// SchemaWatermark identifies a Watermark.
const SchemaWatermark = "watermark/1"

// Watermark is a control message a stage writes to every partition of its
// output topic: for each partition of its own input topic, a time before
// which every post that entered the pipeline has been handled and passed
// on. A stage downstream holds its clock at the lowest of them, so a stage
// upstream that is down or working through a backlog does not make the
// posts it has yet to deliver late.
//
// It travels beside the data messages of the topic, marked by the Kafka
// header ControlHeader; readers of data skip what carries that header.
// It carries no post and no personal data.
type Watermark struct {
	Schema string `json:"schema"`
	// Stage is the stage that wrote it; Topic is that stage's input topic,
	// whose partitions Through is keyed by.
	Stage string `json:"stage"`
	Topic string `json:"topic"`
	// Through holds, per input partition, the time through which the
	// stage has handled every post (when the stage is caught up on the
	// partition, the time it found so).
	Through map[int]time.Time `json:"through"`
	// Written is when it was written.
	Written time.Time `json:"written"`
}

// ControlHeader is the Kafka header whose value names the kind of a
// control message ("watermark"); data messages do not carry it.
const ControlHeader = "tw-control"

// ControlWatermark is ControlHeader's value on a Watermark.
const ControlWatermark = "watermark"

// EncodeWatermark encodes w with its schema.
func EncodeWatermark(w *Watermark) ([]byte, error) {
	w.Schema = SchemaWatermark
	return json.Marshal(w)
}

// DecodeWatermark decodes and checks a Watermark.
func DecodeWatermark(b []byte) (*Watermark, error) {
	var w Watermark
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: watermark: %w", ErrInvalid, err)
	}
	if w.Schema != SchemaWatermark {
		return nil, fmt.Errorf("%w: %s, want %q", ErrSchema, schemaName(w.Schema), SchemaWatermark)
	}
	if w.Topic == "" {
		return nil, fmt.Errorf("%w: watermark without a topic", ErrInvalid)
	}
	for p, t := range w.Through {
		if p < 0 || t.IsZero() {
			return nil, fmt.Errorf("%w: watermark: partition %d through %v", ErrInvalid, p, t)
		}
	}
	return &w, nil
}
