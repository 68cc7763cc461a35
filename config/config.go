// Package config is ThreatWatch's configuration: one YAML file for every
// subcommand, parsed strictly (an unknown key is an error, because a typo in
// an alerting threshold must not pass silently), with defaults that run the
// whole pipeline on an embedded broker and store.
//
// Each stage owns one section, in its own file here (scrape.go,
// classify.go, aggregate.go, notify.go, serve.go, watchlist.go). Every
// section validates itself and names the field path of each problem.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvConfig names the environment variable that gives the config file when
// --config is not used.
const EnvConfig = "THREATWATCH_CONFIG"

// Config is the root of the configuration file.
type Config struct {
	// Kafka is the broker connection. No brokers means: start the embedded
	// in-process cluster.
	Kafka Kafka `yaml:"kafka"`
	// Redis holds crawl state, dedup sets, levels and alert state. No URL
	// means: start the embedded store.
	Redis  Redis  `yaml:"redis"`
	Topics Topics `yaml:"topics"`
	// Runner tunes the stage runner shared by every stage.
	Runner Runner `yaml:"runner"`
	// HTTP is where long-running processes serve /metrics, /healthz and /readyz.
	HTTP HTTP `yaml:"http"`
	Log  Log  `yaml:"log"`

	Scrape    Scrape    `yaml:"scrape"`
	Classify  Classify  `yaml:"classify"`
	Aggregate Aggregate `yaml:"aggregate"`
	Notify    Notify    `yaml:"notify"`
	Serve     Serve     `yaml:"serve"`
	Watchlist Watchlist `yaml:"watchlist"`
}

// Kafka configures the connection to the brokers.
type Kafka struct {
	// Brokers are host:port seeds. Empty: run the embedded cluster.
	Brokers  []string `yaml:"brokers"`
	ClientID string   `yaml:"client_id"`
	// Partitions and ReplicationFactor are used when creating topics at
	// start-up; existing topics are left as they are. With a replication
	// factor of 3 or more, topics are created with min.insync.replicas=2,
	// so an acknowledged write is on at least two brokers.
	Partitions        int `yaml:"partitions"`
	ReplicationFactor int `yaml:"replication_factor"`
	// Retention of created topics; long enough for analysts to replay.
	Retention time.Duration `yaml:"retention"`
	// GroupPrefix prefixes every consumer group id (groups are
	// <prefix><stage>), so two deployments can share a cluster.
	GroupPrefix string `yaml:"group_prefix"`
	TLS         TLS    `yaml:"tls"`
	SASL        SASL   `yaml:"sasl"`
	// Embedded configures the in-process cluster used when Brokers is empty.
	Embedded Embedded `yaml:"embedded"`
	// DialTimeout bounds one connection attempt.
	DialTimeout time.Duration `yaml:"dial_timeout"`
}

// Embedded configures the in-process Kafka-protocol cluster.
type Embedded struct {
	// DataDir keeps the embedded stream across restarts. Empty: in memory.
	DataDir string `yaml:"data_dir"`
	// Port is a fixed loopback port; 0 picks a free one.
	Port int `yaml:"port"`
}

// TLS configures a TLS client.
type TLS struct {
	// Enabled turns TLS on; the other keys are read only with it (a
	// rediss:// URL alone uses the system's roots).
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures broker authentication.
type SASL struct {
	// Mechanism is "", "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
}

// Redis configures the connection to Redis.
type Redis struct {
	// URL is redis://host:port/db or rediss:// for TLS. A password in the
	// URL is accepted but better given as Password. Empty: embedded store.
	URL      Secret `yaml:"url"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	TLS      TLS    `yaml:"tls"`
	// KeyPrefix prefixes every key, so deployments can share a server.
	KeyPrefix string `yaml:"key_prefix"`
	// Sentinel finds the master through Redis Sentinel, for a highly
	// available Redis that fails over to a replica. URL is then optional
	// and only its database, user and password are used (its host is not).
	Sentinel RedisSentinel `yaml:"sentinel"`
}

// RedisSentinel names the sentinels and the master they watch.
type RedisSentinel struct {
	// MasterName is the name the sentinels monitor the master under.
	MasterName string `yaml:"master_name"`
	// Addrs are the sentinels' host:port addresses.
	Addrs []string `yaml:"addrs"`
	// Username and Password authenticate to the sentinels (their own
	// requirepass or ACL user), not to the data nodes.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// External reports whether a Redis server is configured; without one the
// process runs the embedded store.
func (r Redis) External() bool { return r.URL.IsSet() || r.Sentinel.MasterName != "" }

// Topics names the topics. Each full name is Prefix + name.
type Topics struct {
	Prefix     string `yaml:"prefix"`
	Posts      string `yaml:"posts"`
	Scored     string `yaml:"scored"`
	Levels     string `yaml:"levels"`
	Alerts     string `yaml:"alerts"`
	DeadLetter string `yaml:"dead_letter"`
}

// Name returns the full name of a topic.
func (t Topics) Name(short string) string { return t.Prefix + short }

// All returns every full topic name.
func (t Topics) All() []string {
	return []string{t.Name(t.Posts), t.Name(t.Scored), t.Name(t.Levels), t.Name(t.Alerts), t.Name(t.DeadLetter)}
}

// Runner tunes the stage runner.
type Runner struct {
	// BatchSize is the most messages processed before one write and commit.
	BatchSize int `yaml:"batch_size"`
	// BatchLinger is how long a partial batch waits for more messages.
	BatchLinger time.Duration `yaml:"batch_linger"`
	// RetryMin and RetryMax bound the backoff on transient errors.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// MaxAttempts bounds retries of errors that are neither known transient
	// nor permanent before the message is dead-lettered.
	MaxAttempts int `yaml:"max_attempts"`
	// WriteTimeout bounds one write of a batch's outputs.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// DedupTTL is how long processed message ids are remembered.
	DedupTTL time.Duration `yaml:"dedup_ttl"`
	// ShutdownTimeout bounds finishing in-flight work on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// WatermarkEvery is how often a stage that passes posts on tells the
	// stage after it, on every partition of its output, how far it has got
	// through its input, so the aggregate stage's clock waits for a stage
	// upstream that is down or behind instead of moving past the posts it
	// has not delivered yet. Negative: never; the aggregate stage then
	// follows the wall clock alone.
	WatermarkEvery time.Duration `yaml:"watermark_every"`
}

// HTTP configures the operational HTTP listener.
type HTTP struct {
	// Listen is host:port for /metrics, /healthz and /readyz; "" disables.
	Listen string `yaml:"listen"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default returns the configuration used when no file is given: every
// stage on the embedded broker and store.
func Default() *Config {
	c := &Config{}
	c.SetDefaults()
	return c
}

// SetDefaults fills every zero field that has a default.
func (c *Config) SetDefaults() {
	k := &c.Kafka
	setDefault(&k.ClientID, "threatwatch")
	setDefault(&k.Partitions, 6)
	setDefault(&k.ReplicationFactor, 1)
	setDefault(&k.Retention, 90*24*time.Hour)
	setDefault(&k.GroupPrefix, "threatwatch-")
	setDefault(&k.DialTimeout, 10*time.Second)
	t := &c.Topics
	setDefault(&t.Posts, "posts")
	setDefault(&t.Scored, "scored")
	setDefault(&t.Levels, "levels")
	setDefault(&t.Alerts, "alerts")
	setDefault(&t.DeadLetter, "dead-letter")
	r := &c.Runner
	setDefault(&r.BatchSize, 1000)
	setDefault(&r.BatchLinger, 5*time.Millisecond)
	setDefault(&r.RetryMin, 100*time.Millisecond)
	setDefault(&r.RetryMax, 30*time.Second)
	setDefault(&r.MaxAttempts, 5)
	setDefault(&r.WriteTimeout, 30*time.Second)
	setDefault(&r.DedupTTL, 7*24*time.Hour)
	setDefault(&r.ShutdownTimeout, 30*time.Second)
	setDefault(&r.WatermarkEvery, 10*time.Second)
	setDefault(&c.Redis.KeyPrefix, "tw:")
	setDefault(&c.HTTP.Listen, "127.0.0.1:9464")
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "text")
	c.Scrape.setDefaults()
	c.Classify.setDefaults()
	c.Aggregate.setDefaults()
	c.Notify.setDefaults()
	c.Serve.setDefaults()
	c.Watchlist.setDefaults()
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Sentinel errors that Validate wraps in a *FieldError.
var (
	ErrRequired    = errors.New("is required")
	ErrInvalidEnum = errors.New("is not one of the allowed values")
	ErrOutOfRange  = errors.New("is out of range")
	ErrFile        = errors.New("names a file that cannot be read")
)

// FieldError names the field path of one configuration problem.
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr builds a *FieldError; detail may be empty.
func fieldErr(path string, sentinel error, detail string) error {
	if detail != "" {
		return &FieldError{Path: path, Err: fmt.Errorf("%w: %s", sentinel, detail)}
	}
	return &FieldError{Path: path, Err: sentinel}
}

// Problems collects field errors for one section.
type Problems struct{ errs []error }

// Add records a problem at path.
func (p *Problems) Add(path string, sentinel error, detail string) {
	p.errs = append(p.errs, fieldErr(path, sentinel, detail))
}

// Addf records a problem at path with a formatted detail.
func (p *Problems) Addf(path string, sentinel error, format string, args ...any) {
	p.Add(path, sentinel, fmt.Sprintf(format, args...))
}

// Join records every error of err (joined or single) as is.
func (p *Problems) Join(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

// Err returns all problems joined, or nil.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// Validate checks the whole configuration and returns every problem found,
// joined, each naming its field path.
func (c *Config) Validate() error {
	var p Problems
	k := c.Kafka
	for i, b := range k.Brokers {
		if !strings.Contains(b, ":") {
			p.Addf(fmt.Sprintf("kafka.brokers[%d]", i), ErrInvalidEnum, "%q is not host:port", b)
		}
	}
	if k.Partitions < 1 || k.Partitions > 10000 {
		p.Addf("kafka.partitions", ErrOutOfRange, "%d, want 1..10000", k.Partitions)
	}
	if k.ReplicationFactor < 1 {
		p.Addf("kafka.replication_factor", ErrOutOfRange, "%d, want >= 1", k.ReplicationFactor)
	}
	switch k.SASL.Mechanism {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		p.Addf("kafka.sasl.mechanism", ErrInvalidEnum, "%q, want plain, scram-sha-256 or scram-sha-512", k.SASL.Mechanism)
	}
	if k.SASL.Mechanism != "" && k.SASL.Username == "" {
		p.Add("kafka.sasl.username", ErrRequired, "with a SASL mechanism")
	}
	validateTLS(&p, "kafka.tls", k.TLS)
	validateTLS(&p, "redis.tls", c.Redis.TLS)
	if u := c.Redis.URL.Value(); u != "" && !strings.HasPrefix(u, "redis://") && !strings.HasPrefix(u, "rediss://") && !strings.HasPrefix(u, "unix://") {
		p.Add("redis.url", ErrInvalidEnum, "want a redis://, rediss:// or unix:// URL")
	}
	if sn := c.Redis.Sentinel; sn.MasterName != "" && len(sn.Addrs) == 0 {
		p.Add("redis.sentinel.addrs", ErrRequired, "with a sentinel master_name")
	} else if sn.MasterName == "" && len(sn.Addrs) > 0 {
		p.Add("redis.sentinel.master_name", ErrRequired, "with sentinel addrs")
	}
	names := map[string]string{}
	for path, v := range map[string]string{
		"topics.posts": c.Topics.Posts, "topics.scored": c.Topics.Scored, "topics.levels": c.Topics.Levels,
		"topics.alerts": c.Topics.Alerts, "topics.dead_letter": c.Topics.DeadLetter,
	} {
		if !validTopic(c.Topics.Name(v)) {
			p.Addf(path, ErrInvalidEnum, "%q is not a legal Kafka topic name", c.Topics.Name(v))
		}
		if other, dup := names[v]; dup {
			p.Addf(path, ErrInvalidEnum, "%q is also used by %s", v, other)
		}
		names[v] = path
	}
	r := c.Runner
	if r.BatchSize < 1 || r.BatchSize > 100000 {
		p.Addf("runner.batch_size", ErrOutOfRange, "%d, want 1..100000", r.BatchSize)
	}
	if r.RetryMin <= 0 || r.RetryMax < r.RetryMin {
		p.Add("runner.retry_max", ErrOutOfRange, "want 0 < retry_min <= retry_max")
	}
	if r.WatermarkEvery > 0 && (r.WatermarkEvery < time.Second || r.WatermarkEvery > 5*time.Minute) {
		// Each one is a message on every partition of a topic, and the
		// aggregate stage's clock can lag the wall clock by about three.
		p.Addf("runner.watermark_every", ErrOutOfRange, "%v, want 1s..5m, or negative for never", r.WatermarkEvery)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.Addf("log.level", ErrInvalidEnum, "%q, want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.Addf("log.format", ErrInvalidEnum, "%q, want text or json", c.Log.Format)
	}
	p.Join(c.Scrape.validate("scrape"))
	p.Join(c.Classify.validate("classify"))
	p.Join(c.Aggregate.validate("aggregate"))
	p.Join(c.Notify.validate("notify"))
	p.Join(c.Serve.validate("serve"))
	p.Join(c.Watchlist.validate("watchlist"))
	return p.Err()
}

func validateTLS(p *Problems, path string, t TLS) {
	for name, f := range map[string]string{"ca_file": t.CAFile, "cert_file": t.CertFile, "key_file": t.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			p.Addf(path+"."+name, ErrFile, "%v", err)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.Add(path+".key_file", ErrRequired, "cert_file and key_file go together")
	}
	if !t.Enabled {
		// The client reads the section only when it is enabled: a CA given
		// without it is ignored, and a rediss:// URL then checks the
		// server against the system's roots.
		var set []string
		for _, f := range []struct {
			name string
			set  bool
		}{{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""}, {"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify}} {
			if f.set {
				set = append(set, f.name)
			}
		}
		switch len(set) {
		case 0:
		case 1:
			p.Addf(path+".enabled", ErrRequired, "%s has no effect without it", set[0])
		default:
			p.Addf(path+".enabled", ErrRequired, "%s have no effect without it", strings.Join(set, ", "))
		}
	}
}

func validTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Parse decodes YAML strictly, fills defaults and validates.
func Parse(b []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cannot parse config: %w", err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	return c, nil
}

// Load reads the file at path; an empty path means THREATWATCH_CONFIG, and
// when that is empty too, the embedded defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		path = os.Getenv(EnvConfig)
	}
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
