package bus_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bus"
)

func TestSASL(t *testing.T) {
	for _, tc := range []struct{ kfake, config string }{
		{"PLAIN", "plain"},
		{"SCRAM-SHA-256", "scram-sha-256"},
		{"SCRAM-SHA-512", "scram-sha-512"},
	} {
		t.Run("the bus authenticates with "+tc.kfake+", writes and reads", func(t *testing.T) {
			cfg := startCluster(t, kfake.EnableSASL(), kfake.Superuser(tc.kfake, "tw-user", "right-password"))
			cfg.SASL = config.SASL{Mechanism: tc.config, Username: "tw-user", Password: config.NewSecret("right-password")}
			roundTrip(t, cfg)
		})
		t.Run("a wrong "+tc.kfake+" password says authentication failed and does not print the password", func(t *testing.T) {
			cfg := startCluster(t, kfake.EnableSASL(), kfake.Superuser(tc.kfake, "tw-user", "right-password"))
			cfg.DialTimeout = 2 * time.Second
			cfg.SASL = config.SASL{Mechanism: tc.config, Username: "tw-user", Password: config.NewSecret("wrong-password")}
			b, err := bus.Open(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer b.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = b.Ping(ctx)
			if err == nil {
				t.Fatal("Ping succeeded with a wrong password")
			}
			if !strings.Contains(err.Error(), "authentication failed?") {
				t.Errorf("error %q does not say authentication failed?", err)
			}
			if strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), "right-password") {
				t.Errorf("error %q leaks a password", err)
			}
		})
	}
	t.Run("a client without SASL is refused by a SASL cluster", func(t *testing.T) {
		cfg := startCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "tw-user", "pw"))
		b, err := bus.Open(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Ping(ctx); err == nil {
			t.Fatal("Ping without credentials succeeded against a SASL cluster")
		}
	})
	t.Run("an unknown mechanism is refused at Open", func(t *testing.T) {
		_, err := bus.Open(config.Kafka{Brokers: []string{"127.0.0.1:1"}, SASL: config.SASL{Mechanism: "gssapi"}}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "kafka.sasl") {
			t.Fatalf("Open err = %v, want a kafka.sasl error", err)
		}
	})
}
