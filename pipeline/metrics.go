package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the stage runner's counters, labelled by stage. Create one per
// process and registry; every stage of the process shares it.
type Metrics struct {
	In           *prometheus.CounterVec
	Out          *prometheus.CounterVec
	Retried      *prometheus.CounterVec
	DeadLettered *prometheus.CounterVec
	Deduped      *prometheus.CounterVec
	Lag          *prometheus.GaugeVec
	GroupLag     *prometheus.GaugeVec
	BatchSeconds *prometheus.HistogramVec
	Errors       *prometheus.CounterVec
	// Watermark is how far the watermark a stage last passed on lags the
	// wall clock; WatermarkAge how long ago it was passed on.
	Watermark    *prometheus.GaugeVec
	WatermarkAge *prometheus.GaugeVec
	// Panics counts panics recovered in a stage, by where they happened
	// (see ErrPanicked).
	Panics *prometheus.CounterVec
}

// NewMetrics registers the runner metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		In: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_stage_messages_in_total", Help: "Messages fetched by a stage.",
		}, []string{"stage"}),
		Out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_stage_messages_out_total", Help: "Messages written by a stage, by topic.",
		}, []string{"stage", "topic"}),
		Retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_stage_retries_total", Help: "Retries after transient errors, by what was retried.",
		}, []string{"stage", "what"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_stage_dead_letters_total", Help: "Messages set aside on the dead-letter topic, by reason.",
		}, []string{"stage", "reason"}),
		Deduped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_stage_duplicates_total", Help: "Redelivered messages skipped because they were processed before.",
		}, []string{"stage"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_stage_consumer_lag_messages", Help: "Messages behind the end of the input topic, as last seen by the reader.",
		}, []string{"stage"}),
		GroupLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_stage_group_lag_messages", Help: "Messages of the input topic the stage's consumer group has not committed, read from the broker every 30 s: the whole group's, so every replica reports the same (take the max).",
		}, []string{"stage"}),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "threatwatch_stage_batch_duration_seconds", Help: "Time to process, write and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"stage"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_stage_errors_total", Help: "Errors by class (transient, unknown, permanent; watermark: a watermark the stage could not work out or write; timestamp: an output stamped when written, its input's timestamp out of the range the client can write).",
		}, []string{"stage", "class"}),
		Watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_stage_watermark_lag_seconds", Help: "How far behind the wall clock the stage's last watermark was when it wrote it: the oldest post, over the input's partitions, it had yet to pass on (or, for the aggregate stage, that a stage upstream had).",
		}, []string{"stage"}),
		WatermarkAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "threatwatch_stage_watermark_written_timestamp_seconds", Help: "When the stage last wrote a watermark to its output (Unix time).",
		}, []string{"stage"}),
		Panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_stage_panics_total", Help: "Panics recovered in a stage, by where: handle, decode and encode set the message aside (reason panic) and go on; fetch, write (writing, checkpointing or committing a batch), loop, group_lag and watermark stop the stage with an error.",
		}, []string{"stage", "where"}),
	}
	if reg != nil {
		reg.MustRegister(m.In, m.Out, m.Retried, m.DeadLettered, m.Deduped, m.Lag, m.GroupLag, m.BatchSeconds, m.Errors, m.Watermark, m.WatermarkAge, m.Panics)
	}
	return m
}
