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
	"net"
	"net/netip"
	"os"
	"strconv"
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
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the certificate authorities the server's
	// certificate is checked against. Empty: the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// a server that requires mutual TLS; give both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must carry, when it
	// is not the host dialed (an address, or a name behind a proxy).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate: for a test
	// cluster only, as anyone on the path can then read and change the
	// traffic, credentials included.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL configures broker authentication.
type SASL struct {
	// Mechanism is "", "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string `yaml:"mechanism"`
	// Username and Password are the credentials; both are required with
	// a mechanism, and are sent only with one.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// Redis configures the connection to Redis.
type Redis struct {
	// URL is redis://host:port/db or rediss:// for TLS. A password in the
	// URL is accepted but better given as Password. Empty: embedded store.
	URL Secret `yaml:"url"`
	// Username and Password authenticate to Redis (an ACL user, or only a
	// password for requirepass); they replace those of the URL.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	TLS      TLS    `yaml:"tls"`
	// KeyPrefix prefixes every key, so deployments can share a server.
	KeyPrefix string `yaml:"key_prefix"`
	// Sentinel finds the master through Redis Sentinel, for a highly
	// available Redis that fails over to a replica. URL is then optional
	// and everything it sets but its host is used: database, user,
	// password, timeouts, retries and pool.
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

	// off records a listen key given as "" in the file, so that filling
	// the defaults does not turn the disabled listener back on.
	off bool
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
	if !c.HTTP.off {
		setDefault(&c.HTTP.Listen, "127.0.0.1:9464")
	}
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
	// ErrUnused is a setting nothing reads: most often a typo elsewhere.
	ErrUnused = errors.New("is not used")
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
	} else if len(k.Brokers) == 0 && k.ReplicationFactor > 1 {
		// The embedded cluster has one broker: it refuses to create the
		// topics, and every stage then fails on a topic that is not there.
		p.Addf("kafka.replication_factor", ErrOutOfRange, "%d, want 1 with the embedded cluster (no kafka.brokers)", k.ReplicationFactor)
	}
	if e := k.Embedded.Port; e < 0 || e > 65535 {
		p.Addf("kafka.embedded.port", ErrOutOfRange, "%d, want 0..65535 (0: a free one)", e)
	}
	switch k.SASL.Mechanism {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		p.Addf("kafka.sasl.mechanism", ErrInvalidEnum, "%q, want plain, scram-sha-256 or scram-sha-512", k.SASL.Mechanism)
	}
	if k.Retention <= 0 {
		// A topic created without retention.ms keeps the broker's default,
		// which is not what a negative value would seem to ask for.
		p.Addf("kafka.retention", ErrOutOfRange, "%v, want > 0", k.Retention)
	}
	if k.DialTimeout <= 0 {
		p.Addf("kafka.dial_timeout", ErrOutOfRange, "%v, want > 0", k.DialTimeout)
	}
	// A broker that gets no or half the credentials closes the connection,
	// which kafka-go reports only as "unexpected EOF".
	if k.SASL.Mechanism != "" {
		if k.SASL.Username == "" {
			p.Add("kafka.sasl.username", ErrRequired, "with a SASL mechanism")
		}
		if !k.SASL.Password.IsSet() {
			detail := "with a SASL mechanism"
			if src := k.SASL.Password.Source(); src != "" {
				detail += " (" + src + " is empty)"
			}
			p.Add("kafka.sasl.password", ErrRequired, detail)
		}
	} else if k.SASL.Username != "" || k.SASL.Password.IsSet() {
		p.Add("kafka.sasl.mechanism", ErrRequired, "username and password are sent only with a mechanism")
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
	if r.MaxAttempts < 1 {
		p.Addf("runner.max_attempts", ErrOutOfRange, "%d, want >= 1", r.MaxAttempts)
	}
	// 0 is unset and takes the default; below it, a context times out at
	// once, a dedup mark expires before it is written (and is retried for
	// ever), and a linger never waits.
	for _, d := range []struct {
		path string
		v    time.Duration
	}{
		{"runner.batch_linger", r.BatchLinger}, {"runner.write_timeout", r.WriteTimeout},
		{"runner.dedup_ttl", r.DedupTTL}, {"runner.shutdown_timeout", r.ShutdownTimeout},
	} {
		if d.v <= 0 {
			p.Addf(d.path, ErrOutOfRange, "%v, want > 0", d.v)
		}
	}
	if r.WatermarkEvery > 0 && (r.WatermarkEvery < time.Second || r.WatermarkEvery > 5*time.Minute) {
		// Each one is a message on every partition of a topic, and the
		// aggregate stage's clock can lag the wall clock by about three.
		p.Addf("runner.watermark_every", ErrOutOfRange, "%v, want 1s..5m, or negative for never", r.WatermarkEvery)
	}
	validateListen(&p, "http.listen", c.HTTP.Listen)
	// The serve process listens on both: the second listener would fail at
	// start with a socket error that names neither key.
	if h, s := c.HTTP.Listen, c.Serve.Listen; h != "" && s != "" && sameListener(h, s) {
		p.Addf("serve.listen", ErrInvalidEnum, "%q binds the port of http.listen (%q); give them different ports", s, h)
	}
	// So does a process running the embedded broker on a fixed port, which
	// it binds on loopback before either listener starts.
	if e := c.Kafka.Embedded.Port; len(c.Kafka.Brokers) == 0 && e > 0 && e <= 65535 {
		broker := net.JoinHostPort("127.0.0.1", strconv.Itoa(e))
		for _, l := range []struct{ key, addr string }{{"http.listen", c.HTTP.Listen}, {"serve.listen", c.Serve.Listen}} {
			if l.addr != "" && sameListener(l.addr, broker) {
				p.Addf("kafka.embedded.port", ErrInvalidEnum, "%d binds the port of %s (%q); give them different ports", e, l.key, l.addr)
				break
			}
		}
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

// sameListener reports whether two host:port listen addresses would bind
// the same socket: the same port on the same address, or on any address
// when one of them binds every interface. Port 0 picks a free port each
// time and never clashes.
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return false
	}
	na, okA := listenPort(pa)
	nb, okB := listenPort(pb)
	if !okA || !okB || na != nb || na == 0 {
		return false
	}
	ha, hb = listenHost(ha), listenHost(hb)
	return ha == "" || hb == "" || ha == hb
}

// validateListen checks a listen address before the process binds it:
// net.Listen would refuse a bad port only at start.
func validateListen(p *Problems, path, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.Addf(path, ErrInvalidEnum, "%q is not host:port", addr)
		return
	}
	if _, ok := listenPort(port); !ok {
		p.Addf(path, ErrInvalidEnum, "%q: port %q is neither a number of 0..65535 nor a known service name", addr, port)
	}
}

// listenPort resolves a port as net.Listen does: a number, or a service
// name ("http") from the system's table or Go's built-in one.
func listenPort(s string) (int, bool) {
	n, err := net.LookupPort("tcp", s)
	return n, err == nil
}

// listenHost canonicalizes a listen host; "" means every interface.
func listenHost(h string) string {
	switch h = strings.ToLower(h); h {
	case "", "0.0.0.0", "::":
		return ""
	case "localhost":
		// net.Listen binds the first address it resolves to.
		return "127.0.0.1"
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return h
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
		return nil, fmt.Errorf("cannot parse config: %w", decodeError(b, err))
	}
	if extraDocument(b) {
		return nil, errors.New("cannot parse config: the file holds more than one YAML document (a second ---): only the first would be read; merge them")
	}
	// A listen address given as "" disables its listener, and a string
	// cannot tell "" from a key left out: look at the keys themselves. The
	// strict decode above has reported any error already.
	var listen struct {
		HTTP  struct{ Listen *string } `yaml:"http"`
		Serve struct{ Listen *string } `yaml:"serve"`
	}
	_ = yaml.Unmarshal(b, &listen)
	c.HTTP.off = listen.HTTP.Listen != nil && *listen.HTTP.Listen == ""
	c.Serve.off = listen.Serve.Listen != nil && *listen.Serve.Listen == ""
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
