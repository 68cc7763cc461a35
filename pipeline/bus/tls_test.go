package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/tlstest"
)

// startCluster starts an in-process cluster with opts and returns a Kafka
// config that reaches it (without TLS or SASL: the caller adds those).
func startCluster(t *testing.T, opts ...kfake.Opt) config.Kafka {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(1)}, opts...)...)
	if err != nil {
		t.Fatalf("cannot start cluster: %v", err)
	}
	t.Cleanup(c.Close)
	cfg := config.Default().Kafka
	cfg.Brokers = c.ListenAddrs()
	cfg.Partitions = 1
	cfg.DialTimeout = 3 * time.Second
	return cfg
}

// roundTrip creates a topic, writes three messages through a Writer and
// reads them back through a group reader: the paths every stage uses.
func roundTrip(t *testing.T, cfg config.Kafka) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	topic := fmt.Sprintf("secure-%d", time.Now().UnixNano())
	if err := b.EnsureTopics(ctx, topic); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	parts, err := b.Partitions(ctx, topic)
	if err != nil || len(parts) != 1 {
		t.Fatalf("Partitions = %v, %v; want one partition (was the topic created?)", parts, err)
	}
	w := b.Writer(topic, bus.WriterOptions{})
	defer w.Close()
	want := []string{"one", "two", "three"}
	var msgs []kafka.Message
	for _, v := range want {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", b.Explain(err))
	}
	r := b.GroupReader("secure-test", []string{topic}, bus.ReaderOptions{})
	defer r.Close()
	var got []string
	for len(got) < len(want) {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("FetchMessage after %v: %v", got, b.Explain(err))
		}
		got = append(got, string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("CommitMessages: %v", b.Explain(err))
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("read %v, want %v", got, want)
	}
}

func TestTLS(t *testing.T) {
	pki := tlstest.New(t)
	t.Run("the bus writes and reads over TLS verified against the configured CA", func(t *testing.T) {
		cfg := startCluster(t, kfake.TLS(pki.ServerConfig(false)))
		cfg.TLS = config.TLS{Enabled: true, CAFile: pki.CAFile}
		roundTrip(t, cfg)
	})
	t.Run("the bus presents its client certificate to a broker that requires one", func(t *testing.T) {
		cfg := startCluster(t, kfake.TLS(pki.ServerConfig(true)))
		cfg.TLS = config.TLS{Enabled: true, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
		roundTrip(t, cfg)
	})
	t.Run("TLS and SCRAM together, as production runs", func(t *testing.T) {
		cfg := startCluster(t, kfake.TLS(pki.ServerConfig(false)), kfake.EnableSASL(),
			kfake.Superuser("SCRAM-SHA-512", "threatwatch", "s3cret-512"))
		cfg.TLS = config.TLS{Enabled: true, CAFile: pki.CAFile}
		cfg.SASL = config.SASL{Mechanism: "scram-sha-512", Username: "threatwatch", Password: config.NewSecret("s3cret-512")}
		roundTrip(t, cfg)
	})
	t.Run("a broker whose certificate the CA did not sign is refused", func(t *testing.T) {
		other := tlstest.New(t)
		cfg := startCluster(t, kfake.TLS(other.ServerConfig(false)))
		cfg.TLS = config.TLS{Enabled: true, CAFile: pki.CAFile}
		b, err := bus.Open(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = b.Ping(ctx)
		if err == nil {
			t.Fatal("Ping succeeded against a broker signed by another CA")
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error %q does not say the certificate is the problem", err)
		}
	})
	t.Run("a plaintext client cannot talk to a TLS broker", func(t *testing.T) {
		cfg := startCluster(t, kfake.TLS(pki.ServerConfig(false)))
		b, err := bus.Open(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Ping(ctx); err == nil {
			t.Fatal("Ping without TLS succeeded against a TLS listener")
		}
	})
}

func TestTLSConfigErrors(t *testing.T) {
	pki := tlstest.New(t)
	f := func(name string, c config.TLS, want string) {
		t.Run(name, func(t *testing.T) {
			_, err := bus.TLSConfig(c)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("TLSConfig err = %v, want it to contain %q", err, want)
			}
		})
	}
	f("a missing CA file is reported", config.TLS{Enabled: true, CAFile: "/nonexistent/ca.pem"}, "cannot read CA file")
	f("a CA file with no certificate is reported", config.TLS{Enabled: true, CAFile: pki.ClientKey}, "no certificate found")
	f("a certificate with the wrong key is reported", config.TLS{Enabled: true, CertFile: pki.ClientCert, KeyFile: pki.ServerKey}, "cannot load client certificate")
	t.Run("TLS off gives no config", func(t *testing.T) {
		c, err := bus.TLSConfig(config.TLS{CAFile: pki.CAFile})
		if c != nil || err != nil {
			t.Fatalf("TLSConfig = %v, %v; want nil, nil", c, err)
		}
	})
}
