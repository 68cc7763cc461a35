package aggregate

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// TargetPost is a scored post re-keyed by one of its targets, on the
// repartition topic between the site stage and the target stage: a
// target's posts arrive on every partition of the scored topic, and its
// state must live in one consumer, so the site stage re-publishes each
// threatening post once per target, keyed by the target.
type TargetPost struct {
	msg.Scored
	// TargetKey is the hashed target (alert.TargetLabel of its ref).
	TargetKey string `json:"target_key"`
}

// DedupID is the post's dedup id and the target: one post names several
// targets, and an edit (its id carries the content hash, msg.Post.DedupID)
// is new input to the target's level, as it is to the site's, not a
// redelivery to drop.
func (t *TargetPost) DedupID() string { return t.Post.DedupID() + "|" + t.TargetKey }

// Key sends every post about one target to one partition.
func (t *TargetPost) Key() string { return "target:" + t.TargetKey }

// Validate checks the embedded scored post and the key.
func (t *TargetPost) Validate() error {
	if err := t.Scored.Validate(); err != nil {
		return err
	}
	if t.TargetKey == "" || len(t.Targets()) != 1 {
		return fmt.Errorf("%w: target post needs exactly one target and its key", msg.ErrInvalid)
	}
	return nil
}

// Scope says which levels a stage keeps.
type Scope int

// The scopes.
const (
	// Sites: levels and alerts per site, from the scored topic; threatening
	// posts with targets are re-published to the repartition topic.
	Sites Scope = iota
	// Targets: levels and alerts per target, from the repartition topic.
	Targets
)

// StageOptions configure a Stage.
type StageOptions struct {
	// Name is the stage's name: its consumer group and its Redis namespace.
	Name  string
	Scope Scope
	// Levels, Alerts and Repartition are full topic names.
	Levels, Alerts, Repartition string
	Store                       *store.Store
	Log                         *slog.Logger
	Registerer                  prometheus.Registerer
	// History reads the input topic to rebuild a partition whose
	// checkpoint is missing (aggregate.rebuild); nil: never rebuild.
	History History
	// DedupTTL is the runner's runner.dedup_ttl when it deduplicates the
	// stage's input (under the stage's name): a rebuild marks what it
	// read as processed there too, since Redis lost those marks with the
	// checkpoint. 0: the runner does not deduplicate.
	DedupTTL time.Duration
	// WatermarkEvery is the runner's runner.watermark_every: how often the
	// stages upstream write their watermarks, which the stage's clock then
	// waits for (see tickTime). 0 or negative: the clock follows the wall
	// clock alone.
	WatermarkEvery time.Duration
	// Now is the stage's wall clock; nil: time.Now. No scraper can have
	// read a post after it (see bounded).
	Now func() time.Time
}

// History reads what a partition of the input topic received before the
// stage's position in it: the messages with offsets in [first, before)
// stamped at or after from (zero: any time), in order. *bus.Bus
// implements it.
type History interface {
	ReadRange(ctx context.Context, topic string, partition int, from time.Time, first, before int64, fn func(value []byte, offset int64, at time.Time) error) (int64, error)
}

// Stage is the aggregate stage handler for the pipeline runner: one Engine
// per input partition (a site's posts are all on one partition, so its
// state is in one engine), checkpointed to Redis with the partition's
// offset. It implements pipeline.Handler, pipeline.Ticker and
// pipeline.Checkpointer.
//
// Redis holds, per stage and partition, one hash: "_offset" (the last
// input offset applied to the state), "_clock" and one field per key.
// Checkpoint writes the changed keys and the offset in one script that
// refuses to move the offset backwards, so:
//   - a redelivered message at or below the saved offset is skipped (the
//     state already holds it), and a killed aggregator resumes with the
//     exact state of its last commit;
//   - when a partition moves to another aggregator (a rebalance), the new
//     owner loads the state at its first message; the old owner notices the
//     hand-over when its next checkpoint of that partition is refused (the
//     new owner went further) or when its offsets jump (a gap: someone else
//     consumed in between), and reloads or drops that partition.
type Stage struct {
	cfg   config.Aggregate
	o     StageOptions
	parts map[int]*partition
	met   *stageMetrics
	log   *slog.Logger
	// upstream is, per input partition, the time through which the stages
	// upstream have passed every post on (their watermark), once one was
	// read or loaded with the partition's checkpoint.
	upstream map[int]time.Time
	labels   alert.TargetLabeler
	// futureAt is when the last line about posts dated ahead was logged,
	// futureN how many were clamped since.
	futureAt time.Time
	futureN  int
}

type partition struct {
	eng *Engine
	// topic is the input topic the partition belongs to.
	topic string
	// legacy says the state came from a checkpoint of an earlier version,
	// kept under a key without the topic, to delete once saved anew.
	legacy bool
	// last is the offset of the last input applied; -1: none.
	last int64
	// pending says ticks changed state not yet saved.
	pending bool
	// saved says Redis holds a checkpoint of this state (loaded from or
	// written to): one found missing there was lost under the stage.
	saved bool
	// arrived is the latest arrival time (Kafka timestamp, kept from the
	// posts topic) of the messages handled since the last tick.
	arrived time.Time
	// upSaved is the upstream watermark the checkpoint holds.
	upSaved time.Time
	// resumed says Resume loaded the partition and no message of it has
	// arrived since; heldSince is the first tick that found it so.
	resumed   bool
	heldSince time.Time
	// read holds the ids a rebuild applied until the next checkpoint: the
	// runner checked the batch in hand against dedup marks the rebuild had
	// not restored yet.
	read  map[string]struct{}
	stats Stats
}

// NewStage returns the handler of an aggregate stage.
func NewStage(cfg config.Aggregate, o StageOptions) (*Stage, error) {
	if o.Store == nil {
		return nil, errors.New("aggregate stage needs a store")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if _, err := NewEngine(cfg); err != nil {
		return nil, err
	}
	s := &Stage{cfg: cfg, o: o, parts: map[int]*partition{}, upstream: map[int]time.Time{}, met: newStageMetrics(o.Registerer), log: o.Log.With("stage", o.Name),
		labels: alert.NewTargetLabeler(cfg.TargetKey.Value())}
	return s, nil
}

var (
	_ pipeline.Handler[*msg.Scored] = (*Stage)(nil)
	_ pipeline.Handler[*TargetPost] = TargetStage{}
	_ pipeline.Checkpointer         = (*Stage)(nil)
	_ pipeline.Ticker               = TargetStage{}
	_ pipeline.Assignee             = (*Stage)(nil)
	_ pipeline.Assignee             = TargetStage{}
	_ pipeline.Watermarker          = (*Stage)(nil)
	_ pipeline.Watermarker          = TargetStage{}
	_ pipeline.UpstreamWatermarker  = (*Stage)(nil)
)

// TargetStage is the stage's handler for the target scope: the same
// stage reading target posts from the repartition topic.
type TargetStage struct{ *Stage }

// Handle implements pipeline.Handler for the target scope.
func (t TargetStage) Handle(ctx context.Context, in *TargetPost, meta pipeline.Meta) ([]pipeline.Output, error) {
	return t.handle(ctx, &in.Scored, in, meta)
}

// Handle implements pipeline.Handler for the site scope.
func (s *Stage) Handle(ctx context.Context, in *msg.Scored, meta pipeline.Meta) ([]pipeline.Output, error) {
	return s.handle(ctx, in, in, meta)
}

// handle applies in; id is the message as the runner deduplicates it
// (the target scope's id names the target too), asked for its id only
// after a rebuild, so the common path builds no string.
func (s *Stage) handle(ctx context.Context, in *msg.Scored, id interface{ DedupID() string }, meta pipeline.Meta) ([]pipeline.Output, error) {
	p, err := s.partitionAt(ctx, meta)
	if err != nil || p == nil {
		return nil, err
	}
	if p.read != nil {
		if _, dup := p.read[id.DedupID()]; dup {
			p.last = meta.Offset
			s.met.skipped.WithLabelValues(s.o.Name).Inc()
			return nil, nil
		}
	}
	future := p.eng.Stats().Future
	outs := p.eng.Add(s.bounded(in))
	if p.eng.Stats().Future > future {
		s.logFuture(in, meta)
	}
	p.last = meta.Offset
	p.resumed = false
	if meta.Time.After(p.arrived) {
		p.arrived = meta.Time
	}
	s.count(p)
	res := s.outputs(outs)
	if s.o.Scope == Sites && s.o.Repartition != "" && s.cfg.Targets.On() && !in.Post.Backfill {
		res = append(res, s.repartition(in, meta.Time)...)
	}
	return res, nil
}

// clockSkew is how far ahead of the stage's wall clock a scraper's may
// run before its posts' fetch times are not believed.
const clockSkew = time.Minute

// bounded returns in, or a copy of it read no later than the stage's wall
// clock allows. The engine clamps a post dated more than max_future after
// the later of its clock and the post's fetch time; but a scraper whose
// clock runs fast stamps the fetch time ahead too (and a relative date
// with it), and its posts passed, moved their site's event time ahead and
// made every honest post after them late. The engine cannot hold the
// bound itself: it has no wall clock, and its clock is held back while
// the stage catches up. A post with no fetch time is bounded as if read
// at the limit: otherwise only the engine's clock bounded it, and that is
// zero on a partition before its first tick.
func (s *Stage) bounded(in *msg.Scored) *msg.Scored {
	limit := s.o.Now().Add(clockSkew)
	if f := in.Post.Fetched; !f.After(limit) && (!f.IsZero() || !in.Post.Published.After(limit)) {
		return in
	}
	c := *in
	if c.Post.Published.IsZero() {
		// The fetch time is the event time: the engine clamps it now.
		c.Post.Published = c.Post.Fetched
	}
	c.Post.Fetched = limit
	return &c
}

// logFuture says, at most once a minute, that posts were clamped for
// being dated ahead; never their text.
func (s *Stage) logFuture(in *msg.Scored, meta pipeline.Meta) {
	s.futureN++
	now := s.o.Now()
	if !s.futureAt.IsZero() && now.Sub(s.futureAt) < time.Minute {
		return
	}
	s.log.Warn("posts dated ahead of the stage's clock clamped (a scraper's clock or a board's date is wrong)",
		"site", in.Post.Site, "partition", meta.Partition, "offset", meta.Offset,
		"dated_ahead", in.Post.EventTime().Sub(now).Round(time.Second),
		"fetched_ahead", max(in.Post.Fetched.Sub(now), 0).Round(time.Second), "clamped", s.futureN)
	s.futureAt, s.futureN = now, 0
}

// partitionAt returns the state of meta's partition to apply the input at
// meta to, loading it when needed; nil when the state already holds it.
func (s *Stage) partitionAt(ctx context.Context, meta pipeline.Meta) (*partition, error) {
	p := s.parts[meta.Partition]
	// First message or a rewind (a redelivery after a failed batch): what
	// is in Redis is the truth.
	reload := p == nil || meta.Offset <= p.last
	if !reload && meta.Offset > p.last+1 {
		// A gap: messages the runner set aside as dead letters (they are
		// never handed to the stage), or another aggregator consumed in
		// between. Only then has the saved offset moved past ours; the
		// posts applied since our last checkpoint must not be dropped
		// for a dead letter.
		saved, err := s.savedOffset(ctx, meta.Topic, meta.Partition)
		if err != nil {
			return nil, err
		}
		reload = saved > p.last
	}
	if reload {
		var err error
		if p, err = s.load(ctx, meta); err != nil {
			return nil, err
		}
		if s.parts[meta.Partition] != nil {
			s.met.reloads.WithLabelValues(s.o.Name).Inc()
		}
		s.parts[meta.Partition] = p
	}
	if meta.Offset <= p.last {
		s.met.skipped.WithLabelValues(s.o.Name).Inc()
		return nil, nil
	}
	return p, nil
}

// repartition re-publishes a threatening post once per target, stamped
// with the time it entered the pipeline.
func (s *Stage) repartition(in *msg.Scored, arrival time.Time) []pipeline.Output {
	if in.MaxScore() < s.cfg.MinScore || in.MaxScore() == 0 {
		return nil
	}
	var out []pipeline.Output
	for _, ref := range targetRefs(in) {
		tp := &TargetPost{Scored: *in, TargetKey: s.labels.Label(ref)}
		tp.Schema = msg.SchemaScored
		tp.Entities = nil
		for _, en := range in.Entities {
			r := en.Ref
			if r == "" {
				r = msg.TargetRef(en.Name)
			}
			if en.Target && r == ref {
				en.Ref = ref
				tp.Entities = append(tp.Entities, en)
				break
			}
		}
		out = append(out, pipeline.Output{Topic: s.o.Repartition, Msg: tp, Arrival: arrival})
	}
	return out
}

func (s *Stage) outputs(outs []Output) []pipeline.Output {
	res := make([]pipeline.Output, 0, len(outs))
	for _, o := range outs {
		switch {
		case o.Alert != nil:
			s.met.alerts.WithLabelValues(s.o.Name, o.Alert.Status).Inc()
			res = append(res, pipeline.Output{Topic: s.o.Alerts, Msg: o.Alert})
		case o.Level != nil:
			if o.Level.Target == "" && o.Level.Site != "" {
				s.met.siteLevel.WithLabelValues(o.Level.Site, "level").Set(o.Level.Level)
				s.met.siteLevel.WithLabelValues(o.Level.Site, "baseline").Set(o.Level.Baseline)
			}
			res = append(res, pipeline.Output{Topic: s.o.Levels, Msg: o.Level})
		}
	}
	return res
}

func (s *Stage) count(p *partition) {
	st := p.eng.Stats()
	d := func(now, before int64) float64 { return float64(now - before) }
	s.met.posts.WithLabelValues(s.o.Name).Add(d(st.Posts, p.stats.Posts))
	for reason, v := range map[string]float64{
		"late": d(st.Late, p.stats.Late), "backfill": d(st.Backfill, p.stats.Backfill),
		"invalid": d(st.Invalid, p.stats.Invalid), "no_time": d(st.NoTime, p.stats.NoTime),
		"max_keys": d(st.KeysDropped, p.stats.KeysDropped),
	} {
		if v > 0 {
			s.met.notLive.WithLabelValues(s.o.Name, reason).Add(v)
		}
	}
	if v := d(st.Future, p.stats.Future); v > 0 {
		s.met.clamped.WithLabelValues(s.o.Name).Add(v)
	}
	p.stats = st
}

// Tick implements pipeline.Ticker: windows advance on the wall clock, so a
// silent site decays and its alert resolves. The state a tick changes is
// saved at the next tick, once the runner has written this tick's outputs:
// a crash in between repeats a tick's notifications (same ids, which the
// notify stage deduplicates) but never loses one.
func (s *Stage) Tick(ctx context.Context, now time.Time) ([]pipeline.Output, error) {
	for _, id := range slices.Sorted(maps.Keys(s.parts)) {
		p := s.parts[id]
		if !p.pending {
			continue
		}
		if err := s.save(ctx, id, p, true); err != nil {
			return nil, err
		}
	}
	var res []pipeline.Output
	var behind time.Duration
	for _, id := range slices.Sorted(maps.Keys(s.parts)) {
		p := s.parts[id]
		at := s.tickTime(id, p, now)
		behind = max(behind, now.Sub(at))
		outs := p.eng.Advance(at)
		p.arrived = time.Time{}
		p.pending = p.pending || p.eng.hasDirty()
		res = append(res, s.outputs(outs)...)
	}
	s.met.behind.WithLabelValues(s.o.Name).Set(behind.Seconds())
	s.gauge()
	return res, nil
}

// Missing implements pipeline.Assignee: the partitions of parts not loaded.
func (s *Stage) Missing(parts []int) []int {
	var out []int
	for _, id := range parts {
		if s.parts[id] == nil {
			out = append(out, id)
		}
	}
	return out
}

// Resume implements pipeline.Assignee: it loads a partition the stage was
// assigned before any message of it arrived, as its first message at
// offset would (from its checkpoint, caught up or rebuilt from the topic),
// so its windows move and its alerts resolve while it receives nothing: a
// site gone dark after the aggregator restarted.
func (s *Stage) Resume(ctx context.Context, topic string, partition int, offset int64) error {
	if s.parts[partition] != nil {
		return nil
	}
	p, err := s.load(ctx, pipeline.Meta{Topic: topic, Partition: partition, Offset: offset, Time: s.o.Now()})
	if err != nil {
		return err
	}
	p.resumed = true
	s.parts[partition] = p
	s.met.resumed.WithLabelValues(s.o.Name).Inc()
	s.log.Info("partition loaded before its first message", "partition", partition, "offset", offset)
	return nil
}

// catchingUp is how far behind the wall clock the posts a partition
// receives may have entered the pipeline before the stage counts itself
// as working through a backlog. The pipeline's own latency is well under
// a second; a minute leaves room for clocks and slow batches.
const catchingUp = time.Minute

// tickTime is the time a tick moves partition p to. Live, the wall clock:
// a site that falls silent decays. While the stage works through a
// backlog (after it was down, or a stage upstream was), the posts it
// receives entered the pipeline long ago, and moving their windows to the
// wall clock would make every one of them late, counted toward the
// baseline only: a campaign that happened meanwhile would never page. The
// partition then moves at the pace the posts entered, as it would have
// live, and joins the wall clock once it has caught up; but never further
// back than aggregate.catch_up, beyond which a backlog is history.
//
// A stage upstream that is down or behind (the classify stage stopped,
// the broker away) delivers nothing, so nothing arrives late yet: the
// stage would move its windows to the wall clock meanwhile, and the
// backlog, once delivered, would find them gone. The stages upstream
// therefore write watermarks (msg.Watermark), and the partition's clock
// waits at the latest time through which all of them have passed every
// post on, plus three watermark intervals (within aggregate.grace, so a
// post just behind it still counts as live); again no further back than
// aggregate.catch_up.
func (s *Stage) tickTime(id int, p *partition, now time.Time) time.Time {
	if s.cfg.CatchUp <= 0 {
		return now
	}
	t := now
	if !p.arrived.IsZero() && now.Sub(p.arrived) > catchingUp {
		t = p.arrived
	}
	if s.holdResumed(p, now) {
		t = minTime(t, p.eng.Clock())
	}
	if up, ok := s.upstream[id]; ok && s.o.WatermarkEvery > 0 {
		if hold := up.Add(min(3*s.o.WatermarkEvery, s.cfg.Grace)); hold.Before(t) {
			t = hold
		}
	}
	return maxTime(t, now.Add(-s.cfg.CatchUp))
}

// Watermark implements pipeline.Watermarker: the stages upstream have
// passed on every post they received before through. It loads the
// partition as a post would, and counts as applied: a restart resumes
// after it, and a partition's first message being one is no gap to
// rebuild.
func (s *Stage) Watermark(ctx context.Context, meta pipeline.Meta, through time.Time) error {
	p, err := s.partitionAt(ctx, meta)
	if err != nil {
		return err
	}
	s.upstream[meta.Partition] = through.UTC()
	if p != nil {
		p.last = meta.Offset
		p.pending = true
		// The reader has reached the partition: from here the upstream
		// watermark holds the clock (tickTime).
		p.resumed = false
	}
	return nil
}

// Upstream implements pipeline.UpstreamWatermarker: the site half passes
// on no later a watermark than the one it holds, loaded with its
// checkpoint after a restart as well as read since.
func (s *Stage) Upstream(partition int) (time.Time, bool) {
	t, ok := s.upstream[partition]
	return t, ok
}

// holdResumed reports whether partition p, loaded by Resume, still waits
// at its checkpoint's clock for its first message. Its backlog, if any,
// is on its way: the runner resumes a partition at a tick, before the
// reader delivered any of it, and a tick to the wall clock then made the
// whole backlog late. The wait ends with the first message (then the
// clock moves at the pace the backlog entered) or after resumeHold
// ticks' time, bounded by catch_up: a partition with nothing to read (a
// site gone dark) joins the wall clock, decays and resolves.
func (s *Stage) holdResumed(p *partition, now time.Time) bool {
	if !p.resumed {
		return false
	}
	if p.heldSince.IsZero() {
		p.heldSince = now
	}
	if now.Sub(p.heldSince) < min(resumeHold*s.cfg.TickEvery, s.cfg.CatchUp) {
		return true
	}
	p.resumed = false
	return false
}

// resumeHold is how many tick intervals a resumed partition waits for its
// first message: the reader fetches every partition it was assigned at
// once, so a backlog's first messages come within a batch or two.
const resumeHold = 4

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Checkpoint implements pipeline.Checkpointer: the changed keys and the
// offset of each partition go to Redis in one atomic step.
func (s *Stage) Checkpoint(ctx context.Context, offsets map[int]int64) error {
	for _, id := range slices.Sorted(maps.Keys(offsets)) {
		p := s.parts[id]
		if p == nil {
			// Dropped (handed over), or nothing of it was ever applied.
			continue
		}
		// Saved even when the batch's last messages were dead letters
		// (p.last is below offsets[id]): what was applied before them is
		// committed with the batch and must not be left unsaved.
		if err := s.save(ctx, id, p, false); err != nil {
			return err
		}
	}
	s.gauge()
	return nil
}

func (s *Stage) gauge() {
	var sites, targets int
	for _, p := range s.parts {
		a, b := p.eng.Keys()
		sites, targets = sites+a, targets+b
	}
	s.met.keys.WithLabelValues(s.o.Name, "site").Set(float64(sites))
	s.met.keys.WithLabelValues(s.o.Name, "target").Set(float64(targets))
}

// checkpointScript writes a partition's changed keys and offset unless the
// saved offset is already further (another owner went on): then it
// returns 0 and changes nothing. Saving again at the same offset (a
// tick's changes) is allowed. When the stage expects a checkpoint
// (ARGV[4] is 1) and there is none, Redis lost it: the script returns 2
// and writes nothing, since the changed keys alone would not be a state.
var checkpointScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], '_offset')
local new = tonumber(ARGV[1])
if cur then
  cur = tonumber(cur)
  if cur > new then return 0 end
elseif ARGV[4] == '1' then
  return 2
end
redis.call('HSET', KEYS[1], '_offset', ARGV[1], '_clock', ARGV[2], '_rolled', ARGV[3])
local nset = tonumber(ARGV[5])
local i = 6
for j = 1, nset do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local ndel = tonumber(ARGV[i])
i = i + 1
for j = 1, ndel do
  redis.call('HDEL', KEYS[1], ARGV[i])
  i = i + 1
end
return 1
`)

// hashKey names the checkpoint of a partition of the input topic. The
// topic is part of it: offsets mean nothing across topics, and a stage
// moved to new topics (a new topics.prefix, the way to change partition
// counts) found the old topic's offsets and skipped every message of the
// new one as already applied until its offsets caught up.
func (s *Stage) hashKey(topic string, partition int) string {
	return CheckpointKey(s.o.Store, s.o.Name, topic, partition)
}

// CheckpointKey is the Redis hash of stage's checkpoint of a partition of
// topic.
func CheckpointKey(st *store.Store, stage, topic string, partition int) string {
	return st.Key("agg", stage, topic, "p"+strconv.Itoa(partition))
}

// legacyFits reports whether a checkpoint of an earlier version, whose key
// did not name its topic, can be this topic's: its offset must lie within
// what the partition holds. One of the topics before a move to a new
// topics.prefix points past the new topic's end. Where the end cannot be
// read, it is taken to fit, as before.
func (s *Stage) legacyFits(ctx context.Context, topic string, partition int, offset string) bool {
	ends, ok := s.o.History.(interface {
		Offsets(ctx context.Context, topic string) ([]int, map[int]bus.PartitionOffsets, error)
	})
	off, err := strconv.ParseInt(offset, 10, 64)
	if !ok || err != nil {
		return true
	}
	_, offs, err := ends.Offsets(ctx, topic)
	if err != nil {
		return true
	}
	return off < offs[partition].End
}

// legacyKey is where versions before the topic was in the key kept a
// partition's checkpoint; it is adopted once, for the topic read then.
func (s *Stage) legacyKey(partition int) string {
	return s.o.Store.Key("agg", s.o.Name, "p"+strconv.Itoa(partition))
}

// ErrStateCorrupt reports a checkpoint that cannot be decoded: the
// partition cannot go on without an operator (the state is kept as is).
var ErrStateCorrupt = errors.New("aggregate checkpoint cannot be decoded")

func (s *Stage) save(ctx context.Context, id int, p *partition, tick bool) error {
	if tick && !p.eng.hasDirty() {
		p.pending = false
		return nil
	}
	n, err := s.write(ctx, id, p)
	if err != nil {
		return err
	}
	if n == 2 {
		// Redis lost the checkpoint while the stage ran (restarted empty,
		// failed over): write the whole state again.
		s.log.Warn("checkpoint vanished from Redis; saving the partition's whole state again", "partition", id, "offset", p.last)
		s.met.resaves.WithLabelValues(s.o.Name).Inc()
		p.eng.TouchAll()
		p.saved = false
		if n, err = s.write(ctx, id, p); err != nil {
			return err
		}
	}
	if n == 0 {
		// Another aggregator owns this partition now and went further.
		s.log.Warn("partition handed over to another aggregator; dropping its state", "partition", id, "offset", p.last)
		s.met.handovers.WithLabelValues(s.o.Name).Inc()
		delete(s.parts, id)
		delete(s.upstream, id)
		return nil
	}
	p.eng.ClearDirty()
	p.pending = false
	p.saved = true
	p.upSaved = s.upstream[id]
	p.read = nil
	if p.legacy {
		if err := s.o.Store.Del(ctx, s.legacyKey(id)).Err(); err != nil {
			return fmt.Errorf("cannot delete the old checkpoint of partition %d: %w", id, err)
		}
		p.legacy = false
	}
	return nil
}

// write runs the checkpoint script for p's changed keys and returns its
// answer: 1 written, 0 another owner went further, 2 the checkpoint the
// stage expected is missing.
func (s *Stage) write(ctx context.Context, id int, p *partition) (int, error) {
	dirty := p.eng.Dirty()
	expect := "0"
	if p.saved {
		expect = "1"
	}
	args := []any{p.last, p.eng.Clock().Format(time.RFC3339Nano), p.eng.Rolled().Format(time.RFC3339Nano), expect, 0}
	var set, del []any
	for _, name := range dirty {
		b, ok, err := p.eng.KeyState(name)
		if err != nil {
			return 0, pipeline.Permanent("encode", err)
		}
		if ok {
			set = append(set, "k:"+name, b)
		} else {
			del = append(del, "k:"+name)
		}
	}
	if up := s.upstream[id]; !up.Equal(p.upSaved) && !up.IsZero() {
		set = append(set, "_upstream", up.Format(time.RFC3339Nano))
	}
	args[4] = len(set) / 2
	args = append(args, set...)
	args = append(args, len(del))
	args = append(args, del...)
	n, err := checkpointScript.Run(ctx, s.o.Store, []string{s.hashKey(p.topic, id)}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("cannot checkpoint partition %d: %w", id, err)
	}
	return n, nil
}

// savedOffset is the offset a partition's checkpoint holds, -1 for none.
func (s *Stage) savedOffset(ctx context.Context, topic string, id int) (int64, error) {
	v, err := s.o.Store.HGet(ctx, s.hashKey(topic, id), "_offset").Result()
	if errors.Is(err, redis.Nil) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot read the checkpoint of partition %d: %w", id, err)
	}
	off, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: partition %d: bad offset %q", ErrStateCorrupt, id, v)
	}
	return off, nil
}

// load reads a partition's checkpoint into a fresh engine; with no
// checkpoint, it rebuilds the state from the topic (see rebuild). meta is
// the first message the stage is about to apply.
func (s *Stage) load(ctx context.Context, meta pipeline.Meta) (*partition, error) {
	id := meta.Partition
	eng, err := NewEngine(s.cfg)
	if err != nil {
		return nil, pipeline.Permanent("config", err)
	}
	eng.SetScope(s.o.Scope == Sites, s.o.Scope == Targets)
	p := &partition{eng: eng, last: -1, topic: meta.Topic}
	h, err := s.o.Store.HGetAll(ctx, s.hashKey(meta.Topic, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot load checkpoint of partition %d: %w", id, err)
	}
	if len(h) == 0 {
		if h, err = s.o.Store.HGetAll(ctx, s.legacyKey(id)).Result(); err != nil {
			return nil, fmt.Errorf("cannot load checkpoint of partition %d: %w", id, err)
		}
		if len(h) > 0 && !s.legacyFits(ctx, meta.Topic, id, h["_offset"]) {
			s.log.Warn("checkpoint of an earlier version points past the end of this topic: it is another topic's (moved to a new topics.prefix?); not used",
				"partition", id, "topic", meta.Topic, "offset", h["_offset"])
			h = nil
		}
		p.legacy = len(h) > 0
	}
	if len(h) == 0 {
		if err := s.rebuild(ctx, p, meta); err != nil {
			return nil, err
		}
		return p, nil
	}
	if p.last, err = strconv.ParseInt(h["_offset"], 10, 64); err != nil {
		return nil, fmt.Errorf("%w: partition %d: bad offset %q", ErrStateCorrupt, id, h["_offset"])
	}
	var clock time.Time
	if c := h["_clock"]; c != "" {
		if clock, err = time.Parse(time.RFC3339Nano, c); err != nil {
			return nil, fmt.Errorf("%w: partition %d: bad clock: %w", ErrStateCorrupt, id, err)
		}
	}
	// Checkpoints from before "_rolled" existed saved every key at every
	// step: there is nothing to move on.
	var rolled time.Time
	if c := h["_rolled"]; c != "" {
		if rolled, err = time.Parse(time.RFC3339Nano, c); err != nil {
			return nil, fmt.Errorf("%w: partition %d: bad rolled time: %w", ErrStateCorrupt, id, err)
		}
	}
	if c := h["_upstream"]; c != "" {
		up, err := time.Parse(time.RFC3339Nano, c)
		if err != nil {
			return nil, fmt.Errorf("%w: partition %d: bad upstream watermark: %w", ErrStateCorrupt, id, err)
		}
		// The stage was stopped while a stage upstream was down: its
		// clock waits from where it was, not from the wall clock. A
		// watermark read since (kept from before a handover) is the later.
		p.upSaved = up
		if up.After(s.upstream[id]) {
			s.upstream[id] = up
		}
	}
	keys := map[string][]byte{}
	for f, v := range h {
		if name, ok := strings.CutPrefix(f, "k:"); ok {
			keys[name] = []byte(v)
		}
	}
	if err := eng.RestoreKeys(keys, clock, rolled); err != nil {
		return nil, fmt.Errorf("%w: partition %d: %w", ErrStateCorrupt, id, err)
	}
	eng.SetScope(s.o.Scope == Sites, s.o.Scope == Targets)
	p.saved = true
	if p.legacy {
		// Written whole under the topic's key at the next save, which
		// then deletes the old one.
		p.saved = false
		p.eng.TouchAll()
		s.log.Info("checkpoint of an earlier version adopted for this topic", "partition", id, "topic", meta.Topic)
	}
	s.log.Info("state loaded", "partition", id, "offset", p.last, "keys", len(keys))
	if err := s.catchUp(ctx, p, meta); err != nil {
		return nil, err
	}
	return p, nil
}

// rebuild restores the state of a partition that has no checkpoint by
// applying, as the live stage did, what the partition received in the
// rebuild span before meta's offset. Nothing it produces is written: those
// levels and alerts went out when the messages first came. Ticks are
// replayed at the messages' Kafka timestamps, as the live stage ticked
// while they arrived, so alerts that fired and resolved in that span
// close, and one still firing stays firing under the fingerprint it was
// paged with. A partition whose offset is 0 has no history.
func (s *Stage) rebuild(ctx context.Context, p *partition, meta pipeline.Meta) error {
	if s.o.History == nil || !s.cfg.RebuildOn() || meta.Offset <= 0 {
		return nil
	}
	end := meta.Time
	if end.IsZero() {
		end = time.Now()
	}
	from := end.Add(-s.cfg.RebuildSpan())
	s.log.Warn("no checkpoint for this partition; rebuilding its state from the topic", "partition", meta.Partition,
		"offset", meta.Offset, "from", from.UTC().Format(time.RFC3339))
	started := time.Now()
	read, applied, err := s.apply(ctx, p, meta, from, 0, false)
	if err != nil {
		return fmt.Errorf("cannot rebuild the state of partition %d from %s: %w", meta.Partition, meta.Topic, err)
	}
	s.met.rebuilds.WithLabelValues(s.o.Name).Inc()
	sites, targets := p.eng.Keys()
	s.log.Warn("state rebuilt from the topic", "partition", meta.Partition, "messages", read, "applied", applied,
		"sites", sites, "targets", targets, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// catchUp applies what lies between a loaded checkpoint and meta's
// offset. The runner saves a checkpoint before it commits, so a gap there
// holds only messages the stage never applied: dead letters (they fail to
// decode here too), repeats the runner skipped (their ids are marked in
// Redis) and, when Redis lost its latest writes or was restored from a
// backup, posts the state is missing, which are applied.
func (s *Stage) catchUp(ctx context.Context, p *partition, meta pipeline.Meta) error {
	if s.o.History == nil || !s.cfg.RebuildOn() || meta.Offset <= p.last+1 {
		return nil
	}
	saved := p.last
	read, applied, err := s.apply(ctx, p, meta, time.Time{}, saved+1, true)
	if err != nil {
		return fmt.Errorf("cannot catch partition %d up from its checkpoint: %w", meta.Partition, err)
	}
	if applied > 0 {
		s.log.Warn("checkpoint was behind the committed offset (Redis lost writes or was restored); applied what was missing from the topic",
			"partition", meta.Partition, "checkpoint", saved, "offset", meta.Offset, "read", read, "applied", applied)
	}
	return nil
}

// apply reads the partition from the topic, from the later of the
// timestamp from and the offset first, up to meta's offset, into p's
// engine, as the live stage would have applied it, and leaves p just
// before meta. Its outputs are dropped. It returns how many messages it
// read and how many posts it applied: not the unreadable ones (the runner
// dead-lettered them), nor ids seen before in the same read (the runner
// deduplicates), nor, with marked, ids the runner marked processed in
// Redis (a catch-up's gap also holds the messages the runner skipped as
// repeats of earlier posts).
func (s *Stage) apply(ctx context.Context, p *partition, meta pipeline.Meta, from time.Time, first int64, marked bool) (read, applied int64, err error) {
	type entry struct {
		in *msg.Scored
		id string
		at time.Time
	}
	var lastTick time.Time
	seen := map[string]struct{}{}
	var ids []string
	var ats []time.Time
	d := store.NewDedup(s.o.Store, s.o.Name, s.o.DedupTTL)
	var chunk []entry
	flush := func() error {
		var done []bool
		if marked && s.o.DedupTTL > 0 && len(chunk) > 0 {
			cids := make([]string, len(chunk))
			for i, e := range chunk {
				cids[i] = e.id
			}
			var err error
			if done, err = d.Seen(ctx, cids); err != nil {
				return err
			}
		}
		for i, e := range chunk {
			if tick := s.cfg.TickEvery; tick > 0 && !e.at.IsZero() && e.at.Sub(lastTick) >= tick {
				p.eng.Advance(e.at)
				lastTick = e.at
			}
			if _, dup := seen[e.id]; dup || (done != nil && done[i]) {
				continue
			}
			seen[e.id] = struct{}{}
			if s.o.DedupTTL > 0 {
				ids, ats = append(ids, e.id), append(ats, e.at)
			}
			p.eng.Add(s.bounded(e.in))
			applied++
		}
		chunk = chunk[:0]
		return nil
	}
	read, err = s.o.History.ReadRange(ctx, meta.Topic, meta.Partition, from, first, meta.Offset, func(value []byte, _ int64, at time.Time) error {
		in, id, err := s.decode(value)
		if err != nil {
			return nil
		}
		if chunk = append(chunk, entry{in, id, at}); len(chunk) == 500 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return read, applied, err
	}
	// Redis lost the runner's marks with the checkpoint: without them a
	// post sent again (a re-crawl after the crawl state was lost too)
	// would count twice.
	if s.o.DedupTTL > 0 {
		p.read = seen
	}
	for i := 0; i < len(ids); i += 10000 {
		j := min(i+10000, len(ids))
		if err := d.MarkSince(ctx, ids[i:j], ats[i:j], time.Now()); err != nil {
			return read, applied, err
		}
	}
	p.last = meta.Offset - 1
	p.stats = p.eng.Stats()
	s.met.rebuilt.WithLabelValues(s.o.Name).Add(float64(read))
	return read, applied, nil
}

// decode reads one input message as the runner does for this scope, with
// the id the runner deduplicates it by.
func (s *Stage) decode(value []byte) (*msg.Scored, string, error) {
	if s.o.Scope == Targets {
		tp, err := codec.Decode[TargetPost, *TargetPost](value)
		if err != nil {
			return nil, "", err
		}
		return &tp.Scored, tp.DedupID(), nil
	}
	sc, err := codec.Decode[msg.Scored, *msg.Scored](value)
	if err != nil {
		return nil, "", err
	}
	return sc, sc.DedupID(), nil
}

type stageMetrics struct {
	rebuilds, rebuilt, resaves, resumed         *prometheus.CounterVec
	posts, skipped, reloads, handovers, clamped *prometheus.CounterVec
	notLive, alerts                             *prometheus.CounterVec
	keys, behind                                *prometheus.GaugeVec
	siteLevel                                   *prometheus.GaugeVec
}

func newStageMetrics(reg prometheus.Registerer) *stageMetrics {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "threatwatch_aggregate_" + name, Help: help}, append([]string{"stage"}, labels...))
	}
	m := &stageMetrics{
		posts:     c("posts_total", "Scored posts added to the levels."),
		skipped:   c("redelivered_total", "Redelivered messages skipped because the checkpointed state already holds them."),
		reloads:   c("state_reloads_total", "Partition states reloaded from Redis after an offset gap or rewind."),
		handovers: c("handovers_total", "Partitions dropped because another aggregator took them over."),
		rebuilds:  c("state_rebuilds_total", "Partitions with no checkpoint whose state was rebuilt from the input topic."),
		resaves:   c("state_resaves_total", "Partition states saved whole again because their checkpoint vanished from Redis while the stage ran."),
		resumed:   c("partitions_resumed_total", "Assigned partitions loaded before their first message (after a restart or rebalance), so their windows move while they receive nothing."),
		rebuilt:   c("rebuilt_messages_total", "Messages read back from the input topic to rebuild a partition state or catch a checkpoint up."),
		clamped:   c("future_posts_total", "Posts stamped too far in the future, counted at the clock."),
		notLive:   c("not_live_posts_total", "Posts counted toward the baseline only or not at all, by reason.", "reason"),
		alerts:    c("alerts_total", "Alert notifications emitted, by status.", "status"),
		keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "threatwatch_aggregate_tracked_keys",
			Help: "Sites and targets with state in this process."}, []string{"stage", "kind"}),
		behind: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "threatwatch_aggregate_clock_behind_seconds",
			Help: "How far the furthest-behind partition's clock was from the wall clock at the last tick: held for a backlog or for a stage upstream that is down or behind (its watermark)."}, []string{"stage"}),
		// Per site only: targets are not metric labels (cardinality, privacy).
		siteLevel: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "threatwatch_aggregate_site_level",
			Help: "The last threat level (value=level) and baseline (value=baseline) emitted for a site by this process; max by site across replicas."}, []string{"site", "value"}),
	}
	if reg != nil {
		// The site and target stages of one process share the metrics.
		for _, col := range []**prometheus.CounterVec{&m.rebuilds, &m.rebuilt, &m.resaves, &m.resumed, &m.posts, &m.skipped, &m.reloads, &m.handovers, &m.clamped, &m.notLive, &m.alerts} {
			*col = registerOrReuse(reg, *col)
		}
		m.keys = registerOrReuse(reg, m.keys)
		m.behind = registerOrReuse(reg, m.behind)
		m.siteLevel = registerOrReuse(reg, m.siteLevel)
	}
	return m
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
	}
	return c
}
