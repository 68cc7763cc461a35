package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/codec"
)

// Producer writes messages for stages that do not consume a topic (the
// scrapers) and for tools (produce, demo). Send returns only when the
// brokers acknowledged every message, so a caller that records progress
// (a crawl cursor) after Send never records a post that could be lost.
type Producer struct {
	w       *kafka.Writer
	b       *bus.Bus
	stage   string
	metrics *Metrics
	log     *slog.Logger
	retry   time.Duration
}

// NewProducer returns a producer for a stage name (used in metrics).
func NewProducer(b *bus.Bus, stage string, m *Metrics, log *slog.Logger) *Producer {
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Producer{w: b.MultiWriter(bus.WriterOptions{}), b: b, stage: stage, metrics: m, log: log, retry: 100 * time.Millisecond}
}

// Send writes outputs, retrying transient failures until ctx ends. A
// message the broker refuses for good (over the topic's
// max.message.bytes) is not retried: the others are written, and Send
// returns a Permanent error with reason "refused".
func (p *Producer) Send(ctx context.Context, outs ...Output) error {
	if len(outs) == 0 {
		return nil
	}
	kms := make([]kafka.Message, len(outs))
	for i, o := range outs {
		b, err := codec.Encode(o.Msg)
		if err != nil {
			return err
		}
		kms[i] = kafka.Message{Topic: o.Topic, Key: []byte(o.Msg.Key()), Value: b}
		if bus.TooLarge(kms[i]) {
			// kafka-go refuses it on every attempt: fail now, not forever.
			return Permanent("too_large", fmt.Errorf("cannot write to Kafka: a %s message of %d bytes is over the %d-byte limit", o.Topic, len(b), bus.MaxMessageBytes))
		}
	}
	w := newPartialWrite(kms)
	delay := p.retry
	for attempt := 1; ; attempt++ {
		err := w.attempt(func(ms ...kafka.Message) error { return p.w.WriteMessages(ctx, ms...) })
		if err == nil {
			var refused []error
			for i, o := range outs {
				if e, ok := w.refused[i]; ok {
					refused = append(refused, fmt.Errorf("the broker refuses a %s message of %d bytes: %w", o.Topic, len(kms[i].Value), e))
					continue
				}
				p.metrics.Out.WithLabelValues(p.stage, o.Topic).Inc()
			}
			if len(refused) > 0 {
				p.metrics.Errors.WithLabelValues(p.stage, "permanent").Add(float64(len(refused)))
				return Permanent("refused", fmt.Errorf("cannot write to Kafka: %w", errors.Join(refused...)))
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cannot write to Kafka: %w", ctx.Err())
		}
		if class, _ := Classify(err); class == PermanentClass {
			return fmt.Errorf("cannot write to Kafka: %w", err)
		}
		p.metrics.Retried.WithLabelValues(p.stage, "write").Inc()
		p.log.Warn("cannot write to Kafka; retrying", "stage", p.stage, "attempt", attempt, "retry_in", delay, "err", p.b.Explain(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot write to Kafka: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 15*time.Second)
	}
}

// Close flushes and closes the writer.
func (p *Producer) Close() error { return p.w.Close() }
