// Package bus connects ThreatWatch to Kafka through kafka-go: to a real
// cluster when brokers are configured, or to an in-process Kafka-protocol
// cluster (kfake) on a loopback port when none are. Either way every byte
// crosses a real socket with the real protocol, so the code that runs on a
// laptop is the code that runs in production.
package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/threatwatch/threatwatch/config"
)

// ErrUnreachable reports that no broker answered.
var ErrUnreachable = errors.New("no Kafka broker reachable")

// Bus is a connection to one Kafka cluster.
type Bus struct {
	Brokers  []string
	Embedded bool
	cfg      config.Kafka
	tls      *tls.Config
	mech     sasl.Mechanism
	cluster  *kfake.Cluster
	log      *slog.Logger
}

// Open connects to the configured cluster, or starts the embedded one when
// no brokers are configured. It does not wait for a broker; call Ping or
// EnsureTopics for that.
func Open(cfg config.Kafka, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{cfg: cfg, log: log, Brokers: cfg.Brokers}
	var err error
	if b.tls, err = TLSConfig(cfg.TLS); err != nil {
		return nil, fmt.Errorf("kafka.tls: %w", err)
	}
	if b.mech, err = saslMechanism(cfg.SASL); err != nil {
		return nil, fmt.Errorf("kafka.sasl: %w", err)
	}
	if len(cfg.Brokers) == 0 {
		if err := b.startEmbedded(cfg.Embedded); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *Bus) startEmbedded(e config.Embedded) error {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(b.cfg.Partitions)}
	if e.Port != 0 {
		opts = append(opts, kfake.Ports(e.Port))
	}
	if e.DataDir != "" {
		if err := os.MkdirAll(e.DataDir, 0o700); err != nil {
			return fmt.Errorf("cannot create embedded Kafka data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(e.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("cannot start embedded Kafka cluster: %w", err)
	}
	b.cluster = c
	b.Embedded = true
	b.Brokers = c.ListenAddrs()
	persist := "in memory: lost on exit"
	if e.DataDir != "" {
		persist = "persisted in kafka.embedded.data_dir"
	}
	b.log.Info("no kafka.brokers configured: using the embedded in-process Kafka cluster",
		"addr", strings.Join(b.Brokers, ","), "storage", persist)
	return nil
}

// Close stops the embedded cluster, if any.
func (b *Bus) Close() {
	if b.cluster != nil {
		b.cluster.Close()
		b.cluster = nil
	}
}

// Cluster returns the embedded cluster (nil for a real one); tests use it
// for fault injection.
func (b *Bus) Cluster() *kfake.Cluster { return b.cluster }

// TLSConfig builds a client TLS config; nil when TLS is off.
func TLSConfig(t config.TLS) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in for test clusters
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate found in CA file %s", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot load client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func saslMechanism(s config.SASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: s.Password.Value()}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, s.Username, s.Password.Value())
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, s.Username, s.Password.Value())
	}
	return nil, fmt.Errorf("unknown mechanism %q", s.Mechanism)
}

// Transport returns a new transport. Each writer gets its own: kafka-go's
// shared DefaultTransport caches metadata for seconds, so a writer on a topic
// created meanwhile would fail with "Unknown Topic Or Partition".
func (b *Bus) Transport() *kafka.Transport {
	return &kafka.Transport{
		Dial:        b.dialer().DialFunc,
		TLS:         b.tls,
		SASL:        b.mech,
		ClientID:    b.cfg.ClientID,
		DialTimeout: b.cfg.DialTimeout,
		MetadataTTL: 2 * time.Second,
		IdleTimeout: 30 * time.Second,
	}
}

func (b *Bus) dialer() *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      b.cfg.ClientID,
		Timeout:       b.cfg.DialTimeout,
		DualStack:     true,
		TLS:           b.tls,
		SASLMechanism: b.mech,
	}
}

// Client returns an admin client with a transport of its own. The caller
// must call release when finished: a kafka-go transport keeps a connection and
// a goroutine that refreshes metadata every MetadataTTL until it is closed,
// so one left open per readiness probe or feed check piles up sockets,
// goroutines and metadata requests for as long as the process runs.
func (b *Bus) Client() (cl *kafka.Client, release func()) {
	t := b.Transport()
	return &kafka.Client{Addr: kafka.TCP(b.Brokers...), Transport: t, Timeout: b.cfg.DialTimeout}, t.CloseIdleConnections
}

// Explain turns kafka-go's terse failures into what an operator should check.
func (b *Bus) Explain(err error) error {
	if err == nil {
		return nil
	}
	if b.mech != nil && (errors.Is(err, errUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF")) {
		return fmt.Errorf("%w (authentication failed? check kafka.sasl)", err)
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return fmt.Errorf("%w: %w (brokers %s)", ErrUnreachable, err, strings.Join(b.Brokers, ","))
	}
	return err
}

var errUnexpectedEOF = errors.New("unexpected EOF")

// NeedsOperator reports a Kafka error no wait can heal: the credentials
// or the ACLs are wrong. Outages, rebalances and coordinator moves are not.
func NeedsOperator(err error) bool {
	for _, e := range []kafka.Error{kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState,
		kafka.TopicAuthorizationFailed, kafka.GroupAuthorizationFailed, kafka.ClusterAuthorizationFailed, kafka.InvalidGroupId} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Ping asks the cluster for its metadata once.
func (b *Bus) Ping(ctx context.Context) error {
	cl, release := b.Client()
	defer release()
	_, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
	return b.Explain(err)
}

// WaitReady pings until the cluster answers or ctx ends, backing off between
// attempts and logging each failure: a broker that is down at start-up gets
// a clear message and patience, not a crash loop.
func (b *Bus) WaitReady(ctx context.Context) error {
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := b.Ping(ctx)
		if err == nil {
			if attempt > 1 {
				b.log.Info("kafka reachable", "brokers", strings.Join(b.Brokers, ","), "attempts", attempt)
			}
			return nil
		}
		b.log.Warn("kafka not reachable yet; retrying", "brokers", strings.Join(b.Brokers, ","), "attempt", attempt, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot reach Kafka: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 15*time.Second)
	}
}

// EnsureTopics creates the topics that do not exist yet with the configured
// partitions, replication and retention. Existing topics are left alone, and
// a cluster that refuses creation (no permission, topics provisioned by an
// operator) only gets a warning: the topics may already be there.
func (b *Bus) EnsureTopics(ctx context.Context, topics ...string) error {
	cl, release := b.Client()
	defer release()
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		cfgs := []kafka.ConfigEntry{}
		if b.cfg.Retention > 0 {
			cfgs = append(cfgs, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: fmt.Sprint(b.cfg.Retention.Milliseconds())})
		}
		if b.cfg.ReplicationFactor >= 3 {
			// Writes wait for every in-sync replica (RequireAll); without a
			// floor, "every" can shrink to the leader alone, and a write
			// it acknowledged is lost with it. The topic Job sets the same.
			cfgs = append(cfgs, kafka.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: "2"})
		}
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic:             t,
			NumPartitions:     b.cfg.Partitions,
			ReplicationFactor: b.cfg.ReplicationFactor,
			ConfigEntries:     cfgs,
		})
	}
	var res *kafka.CreateTopicsResponse
	var err error
	// Pooled connections fail a couple of times after a broker restart.
	for attempt := 0; attempt < 5; attempt++ {
		res, err = cl.CreateTopics(ctx, req)
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("cannot create topics: %w", b.Explain(err))
	}
	for t, terr := range res.Errors {
		if terr == nil || errors.Is(terr, kafka.TopicAlreadyExists) {
			continue
		}
		b.log.Warn("cannot create topic; assuming it is provisioned", "topic", t, "err", terr)
	}
	return nil
}

// WriterOptions tunes a writer.
type WriterOptions struct {
	// BatchTimeout is how long the writer waits to fill a batch. kafka-go's
	// default of 1 s caps a synchronous writer near 1,000 msgs/s.
	BatchTimeout time.Duration
	// Async writes without waiting for acknowledgements (only for sinks where
	// loss is acceptable, such as metrics side channels).
	Async bool
}

// MaxMessageBytes is the largest record the writers send (key, value and
// headers): under Kafka's default message.max.bytes (1 MiB), with room for
// the batch around it. kafka-go refuses a larger one with
// MessageTooLargeError on every attempt, so callers check with TooLarge
// before writing instead of retrying it.
const MaxMessageBytes = 900 << 10

// TooLarge reports whether m is over MaxMessageBytes, counting its key,
// value and headers and a little for the record's own framing.
func TooLarge(m kafka.Message) bool {
	n := 64 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 16 + len(h.Key) + len(h.Value)
	}
	return n > MaxMessageBytes
}

// MaxTimestamp is the latest message time kafka-go writes faithfully: it
// converts a time to a Kafka timestamp through int64 nanoseconds, and a
// later one comes out wrapped to a wrong date, with no error.
var MaxTimestamp = time.Unix(0, math.MaxInt64).UTC()

// Timestamp returns t as a kafka.Message.Time that kafka-go writes as
// it is, and whether t was one. A time after MaxTimestamp, or not after
// the Unix epoch (Kafka timestamps are positive milliseconds), gives the
// zero time, which kafka-go stamps with the time of writing: such a time
// only comes from a producer whose clock is broken, and a message the
// pipeline passes on must not carry a wrong date instead.
func Timestamp(t time.Time) (time.Time, bool) {
	if t.IsZero() {
		return t, true
	}
	if t.After(MaxTimestamp) || t.UnixMilli() <= 0 {
		return time.Time{}, false
	}
	return t, true
}

// Writer returns a writer for one topic with acknowledgement from all
// in-sync replicas, keys hashed the way Java clients hash them (so other
// producers agree on partitions), and its own transport.
func (b *Bus) Writer(topic string, o WriterOptions) *kafka.Writer {
	if o.BatchTimeout == 0 {
		o.BatchTimeout = 2 * time.Millisecond
	}
	return &kafka.Writer{
		Addr:                   kafka.TCP(b.Brokers...),
		Topic:                  topic,
		Balancer:               &headerBalancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           o.BatchTimeout,
		BatchSize:              1000,
		BatchBytes:             MaxMessageBytes,
		Async:                  o.Async,
		Transport:              b.Transport(),
		AllowAutoTopicCreation: false,
		MaxAttempts:            3,
	}
}

// MultiWriter returns a writer that is not bound to a topic: each message
// names its own. The stage runner uses one for all of a stage's outputs.
func (b *Bus) MultiWriter(o WriterOptions) *kafka.Writer {
	w := b.Writer("", o)
	w.Topic = ""
	return w
}

// ReaderOptions tunes a group reader.
type ReaderOptions struct {
	// StartAt is kafka.FirstOffset (default) or kafka.LastOffset for a group
	// with no committed offset.
	StartAt int64
	// MaxWait bounds how long a fetch waits for data.
	MaxWait time.Duration
	// Member, when set, is carried in the reader's group membership (its
	// balancers' user data), so Assignment can find the partitions the
	// coordinator gave this reader: kafka-go's reader does not say.
	Member string
}

// taggedBalancer is a kafka-go balancer that carries a member tag in its
// user data and otherwise balances as the balancer it wraps, under the
// same protocol name, so members with and without tags agree.
type taggedBalancer struct {
	kafka.GroupBalancer
	tag []byte
}

func (t taggedBalancer) UserData() ([]byte, error) { return t.tag, nil }

// GroupReader returns a consumer-group reader. Offsets are committed only
// by CommitMessages (CommitInterval 0 = synchronous), never by ReadMessage.
func (b *Bus) GroupReader(group string, topics []string, o ReaderOptions) *kafka.Reader {
	if o.MaxWait == 0 {
		o.MaxWait = 250 * time.Millisecond
	}
	if o.StartAt == 0 {
		o.StartAt = kafka.FirstOffset
	}
	var balancers []kafka.GroupBalancer // nil: kafka-go's default, range then round robin
	if o.Member != "" {
		balancers = []kafka.GroupBalancer{
			taggedBalancer{kafka.RangeGroupBalancer{}, []byte(o.Member)},
			taggedBalancer{kafka.RoundRobinGroupBalancer{}, []byte(o.Member)},
		}
	}
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:                b.Brokers,
		GroupID:                b.cfg.GroupPrefix + group,
		GroupBalancers:         balancers,
		GroupTopics:            topics,
		Dialer:                 b.dialer(),
		MinBytes:               1,
		MaxBytes:               10 << 20,
		MaxWait:                o.MaxWait,
		StartOffset:            o.StartAt,
		CommitInterval:         0,
		HeartbeatInterval:      1 * time.Second,
		SessionTimeout:         10 * time.Second,
		RebalanceTimeout:       10 * time.Second,
		JoinGroupBackoff:       500 * time.Millisecond,
		ReadBackoffMin:         50 * time.Millisecond,
		ReadBackoffMax:         500 * time.Millisecond,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		QueueCapacity:          1000,
	})
}

// PartitionReader returns a reader of one partition with no group, for
// replay and export (offsets chosen by the caller, nothing committed).
func (b *Bus) PartitionReader(topic string, partition int) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:   b.Brokers,
		Topic:     topic,
		Partition: partition,
		Dialer:    b.dialer(),
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   250 * time.Millisecond,
	})
}

// Partitions lists the partition ids of a topic.
func (b *Bus) Partitions(ctx context.Context, topic string) ([]int, error) {
	cl, release := b.Client()
	defer release()
	return b.partitions(ctx, cl, topic)
}

// partitions, offsets and committed ask through cl, so a call that needs
// several of them (GroupLag) opens one connection, not one each: against a
// cluster with TLS and SASL each is a handshake.
func (b *Bus) partitions(ctx context.Context, cl *kafka.Client, topic string) ([]int, error) {
	res, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, b.Explain(err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		ids := make([]int, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
		return ids, nil
	}
	return nil, fmt.Errorf("topic %s: not found", topic)
}

// PartitionOffsets are a partition's first offset and its end (the offset
// the next message will get).
type PartitionOffsets struct{ First, End int64 }

// Offsets returns the partitions of topic, sorted, with their offsets.
func (b *Bus) Offsets(ctx context.Context, topic string) ([]int, map[int]PartitionOffsets, error) {
	cl, release := b.Client()
	defer release()
	return b.offsets(ctx, cl, topic)
}

func (b *Bus) offsets(ctx context.Context, cl *kafka.Client, topic string) ([]int, map[int]PartitionOffsets, error) {
	parts, err := b.partitions(ctx, cl, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot list partitions of %s: %w", topic, err)
	}
	sort.Ints(parts)
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p), kafka.FirstOffsetOf(p))
	}
	res, err := cl.ListOffsets(ctx, req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the offsets of %s: %w", topic, b.Explain(err))
	}
	out := make(map[int]PartitionOffsets, len(parts))
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("cannot read the offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = PartitionOffsets{First: po.FirstOffset, End: po.LastOffset}
	}
	return parts, out, nil
}

// GroupLag returns how many messages of topic a stage's consumer group
// (group is the stage name, as for GroupReader) has not committed yet, and
// the sum of its committed offsets, which moves when the group makes
// progress. A partition the group never committed counts from its start.
func (b *Bus) GroupLag(ctx context.Context, group, topic string) (lag, committed int64, err error) {
	cl, release := b.Client()
	defer release()
	parts, offs, err := b.offsets(ctx, cl, topic)
	if err != nil {
		return 0, 0, err
	}
	done, err := b.committed(ctx, cl, group, topic, parts)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range parts {
		c, ok := done[p]
		if !ok || c < offs[p].First {
			c = offs[p].First
		}
		lag += max(offs[p].End-c, 0)
		committed += c
	}
	return lag, committed, nil
}

// Assignment returns the partitions of topic that the coordinator of a
// stage's consumer group (group is the stage name) assigned to the reader
// whose ReaderOptions.Member is member. found is false while no member of
// the group carries that tag (the reader has not joined yet, or is
// rejoining) and while the group is rebalancing.
func (b *Bus) Assignment(ctx context.Context, group, topic, member string) (parts []int, found bool, err error) {
	cl, release := b.Client()
	defer release()
	res, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{b.cfg.GroupPrefix + group}})
	if errors.Is(err, kafka.GroupIdNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot describe group %s: %w", group, b.Explain(err))
	}
	for _, g := range res.Groups {
		if errors.Is(g.Error, kafka.GroupIdNotFound) {
			return nil, false, nil
		}
		if g.Error != nil {
			return nil, false, fmt.Errorf("cannot describe group %s: %w", group, g.Error)
		}
		if g.GroupState != "Stable" {
			// Rebalancing: the assignments listed are the last
			// generation's, which may no longer be this reader's.
			return nil, false, nil
		}
		for _, m := range g.Members {
			if string(m.MemberMetadata.UserData) != member {
				continue
			}
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == topic {
					parts = append(parts, t.Partitions...)
				}
			}
			sort.Ints(parts)
			return parts, true, nil
		}
	}
	return nil, false, nil
}

// Committed returns the offsets a stage's consumer group (group is the
// stage name) committed on topic, per partition; a partition it never
// committed is absent.
func (b *Bus) Committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	cl, release := b.Client()
	defer release()
	parts, err := b.partitions(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	return b.committed(ctx, cl, group, topic, parts)
}

func (b *Bus) committed(ctx context.Context, cl *kafka.Client, group, topic string, parts []int) (map[int]int64, error) {
	ores, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: b.cfg.GroupPrefix + group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = ores.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) {
		// Some brokers say so for a group that never committed; Kafka
		// answers with no offsets.
		ores, err = &kafka.OffsetFetchResponse{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the offsets of group %s: %w", group, b.Explain(err))
	}
	done := map[int]int64{}
	for _, po := range ores.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("cannot read the offsets of group %s on %s/%d: %w", group, topic, po.Partition, po.Error)
		}
		if po.CommittedOffset >= 0 {
			done[po.Partition] = po.CommittedOffset
		}
	}
	return done, nil
}
