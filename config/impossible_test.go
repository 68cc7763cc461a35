package config

import (
	"errors"
	"strings"
	"testing"
)

// Values and combinations a user can write that the processes cannot run
// with: each must fail at load with the exact field path and reason, not
// later as a retry storm, a socket error or "unexpected EOF".
func TestValidateRejectsImpossibleValues(t *testing.T) {
	f := func(name, yml, want string, sentinel error) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(yml))
			if want == "" {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded, want error containing %q", want)
			}
			if !strings.Contains(err.Error(), want) || !errors.Is(err, sentinel) {
				t.Fatalf("error %q\ndoes not contain %q (%v)", err, want, sentinel)
			}
		})
	}
	f("a negative max_attempts is refused", "runner: {max_attempts: -1}",
		"runner.max_attempts: is out of range: -1, want >= 1", ErrOutOfRange)
	f("a negative write_timeout is refused", "runner: {write_timeout: -1s}",
		"runner.write_timeout: is out of range: -1s, want > 0", ErrOutOfRange)
	f("a negative dedup_ttl is refused", "runner: {dedup_ttl: -1h}",
		"runner.dedup_ttl: is out of range: -1h0m0s, want > 0", ErrOutOfRange)
	f("a negative shutdown_timeout is refused", "runner: {shutdown_timeout: -5s}",
		"runner.shutdown_timeout: is out of range: -5s, want > 0", ErrOutOfRange)
	f("a negative batch_linger is refused", "runner: {batch_linger: -1ms}",
		"runner.batch_linger: is out of range: -1ms, want > 0", ErrOutOfRange)
	f("a negative retention is refused", "kafka: {retention: -1h}",
		"kafka.retention: is out of range: -1h0m0s, want > 0", ErrOutOfRange)
	f("a negative dial_timeout is refused", "kafka: {dial_timeout: -1s}",
		"kafka.dial_timeout: is out of range: -1s, want > 0", ErrOutOfRange)
	f("positive runner and kafka values load", "runner: {max_attempts: 1, write_timeout: 1s, dedup_ttl: 1h, shutdown_timeout: 1s, batch_linger: 1ms}\nkafka: {retention: 1h, dial_timeout: 1s}", "", nil)

	f("the embedded cluster has one broker to replicate on", "kafka: {replication_factor: 3}",
		"kafka.replication_factor: is out of range: 3, want 1 with the embedded cluster (no kafka.brokers)", ErrOutOfRange)
	f("a real cluster replicates on its brokers", "kafka: {brokers: ['k1:9092', 'k2:9092', 'k3:9092'], replication_factor: 3}", "", nil)
	f("the embedded port is a port", "kafka: {embedded: {port: 70000}}",
		"kafka.embedded.port: is out of range: 70000, want 0..65535 (0: a free one)", ErrOutOfRange)
	f("a negative embedded port is refused", "kafka: {embedded: {port: -1}}",
		"kafka.embedded.port: is out of range: -1, want 0..65535 (0: a free one)", ErrOutOfRange)

	f("a short target key is refused", "aggregate: {target_key: short}",
		"aggregate.target_key: is out of range: shorter than 16 characters", ErrOutOfRange)
	f("a target key of 16 characters loads", "aggregate: {target_key: 0123456789abcdef}", "", nil)

	f("a SASL mechanism needs a password", "kafka: {sasl: {mechanism: plain, username: u}}",
		"kafka.sasl.password: is required: with a SASL mechanism", ErrRequired)
	f("a SASL mechanism needs a user", "kafka: {sasl: {mechanism: scram-sha-512, password: p}}",
		"kafka.sasl.username: is required: with a SASL mechanism", ErrRequired)
	f("SASL credentials need a mechanism", "kafka: {sasl: {username: u, password: p}}",
		"kafka.sasl.mechanism: is required: username and password are sent only with a mechanism", ErrRequired)
	f("SASL with a mechanism, user and password loads", "kafka: {sasl: {mechanism: scram-sha-256, username: u, password: p}}", "", nil)

	f("the API and the ops listener cannot share an address", "http: {listen: '127.0.0.1:8080'}\nserve: {listen: '127.0.0.1:8080'}",
		`serve.listen: is not one of the allowed values: "127.0.0.1:8080" binds the port of http.listen ("127.0.0.1:8080"); give them different ports`, ErrInvalidEnum)
	f("an all-interfaces listener takes the port on every address", "http: {listen: ':8080'}\nserve: {listen: '127.0.0.1:8080'}",
		`serve.listen: is not one of the allowed values: "127.0.0.1:8080" binds the port of http.listen (":8080")`, ErrInvalidEnum)
	f("0.0.0.0 binds all interfaces too", "http: {listen: '10.1.2.3:9000'}\nserve: {listen: '0.0.0.0:9000'}",
		`serve.listen: is not one of the allowed values: "0.0.0.0:9000" binds the port of http.listen ("10.1.2.3:9000")`, ErrInvalidEnum)
	f("[::] binds all interfaces too", "http: {listen: '[::]:9000'}\nserve: {listen: ':9000'}",
		`serve.listen: is not one of the allowed values`, ErrInvalidEnum)
	f("localhost is the loopback address", "http: {listen: 'localhost:9000'}\nserve: {listen: '127.0.0.1:9000'}",
		`serve.listen: is not one of the allowed values`, ErrInvalidEnum)
	f("one port on two addresses is fine", "http: {listen: '127.0.0.1:8080'}\nserve: {listen: '10.1.2.3:8080'}", "", nil)
	f("two ports on one address are fine", "http: {listen: ':9464'}\nserve: {listen: ':8080'}", "", nil)
	f("port 0 picks a free port each time", "http: {listen: '127.0.0.1:0'}\nserve: {listen: '127.0.0.1:0'}", "", nil)
	f("a disabled console clashes with nothing", "http: {listen: '127.0.0.1:8080'}\nserve: {listen: ''}", "", nil)
	f("the ops listen address is host:port", "http: {listen: '9464'}",
		`http.listen: is not one of the allowed values: "9464" is not host:port`, ErrInvalidEnum)
	f("a service name is its port", "http: {listen: '127.0.0.1:http'}\nserve: {listen: '127.0.0.1:80'}",
		`serve.listen: is not one of the allowed values: "127.0.0.1:80" binds the port of http.listen ("127.0.0.1:http")`, ErrInvalidEnum)
	f("a port written with a leading zero is the same port", "http: {listen: ':09464'}\nserve: {listen: ':9464'}",
		`serve.listen: is not one of the allowed values: ":9464" binds the port of http.listen (":09464")`, ErrInvalidEnum)
	f("an unknown service name is refused", "serve: {listen: '127.0.0.1:htp'}",
		`serve.listen: is not one of the allowed values: "127.0.0.1:htp": port "htp" is neither a number of 0..65535 nor a known service name`, ErrInvalidEnum)
	f("a port past 65535 is refused", "http: {listen: '127.0.0.1:65536'}",
		`http.listen: is not one of the allowed values: "127.0.0.1:65536": port "65536" is neither a number of 0..65535 nor a known service name`, ErrInvalidEnum)
	f("the embedded broker's port is taken on loopback", "kafka: {embedded: {port: 9464}}\nhttp: {listen: ':9464'}",
		`kafka.embedded.port: is not one of the allowed values: 9464 binds the port of http.listen (":9464"); give them different ports`, ErrInvalidEnum)
	f("the embedded broker clashes with the console too", "kafka: {embedded: {port: 8080}}\nhttp: {listen: '127.0.0.1:9464'}\nserve: {listen: 'localhost:8080'}",
		`kafka.embedded.port: is not one of the allowed values: 8080 binds the port of serve.listen ("localhost:8080"); give them different ports`, ErrInvalidEnum)
	f("the embedded broker listens on loopback only", "kafka: {embedded: {port: 9464}}\nhttp: {listen: '10.1.2.3:9464'}", "", nil)
	f("an external cluster starts no embedded broker", "kafka: {brokers: ['k1:9092'], embedded: {port: 9464}}\nhttp: {listen: ':9464'}", "", nil)

	f("an alertmanager keep-alive must come more often than the tick", "notify:\n  tick: 30s\n  receivers: [{name: am, type: alertmanager, settings: {url: 'http://am:9093', resend_interval: 30s}}]\n  default_receivers: [am]",
		"notify.tick: is out of range: 30s, want less than notify.receivers[0].settings.resend_interval (30s)", ErrOutOfRange)
	f("the default keep-alive counts too", "notify:\n  tick: 1m\n  receivers: [{name: am, type: alertmanager, settings: {url: 'http://am:9093'}}]\n  default_receivers: [am]",
		"notify.tick: is out of range: 1m0s, want less than notify.receivers[0].settings.resend_interval (1m0s, its default)", ErrOutOfRange)
	f("a tick shorter than the keep-alive loads", "notify:\n  tick: 10s\n  receivers: [{name: am, type: alertmanager, settings: {url: 'http://am:9093', resend_interval: 30s}}]\n  default_receivers: [am]", "", nil)
	f("a long tick is fine without keep-alives", "notify:\n  tick: 5m\n  receivers: [{name: hook, type: webhook, settings: {url: 'http://h', resend_interval: 1s}}]\n  default_receivers: [hook]", "", nil)
}

// The reasons printed for aggregate.tick_every and aggregate.grace say what
// 0 means there: the default (0 is "unset"), not "never" or "no grace".
func TestAggregateRangeErrorsSayZeroIsTheDefault(t *testing.T) {
	f := func(yml, want string) {
		t.Helper()
		_, err := Parse([]byte(yml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v\ndoes not contain %q", yml, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "never") {
			t.Errorf("%q: error %v says never", yml, err)
		}
	}
	f("aggregate: {tick_every: -1s}", "aggregate.tick_every: is out of range: -1s, want > 0 (0: the default, 15s)")
	f("aggregate: {grace: -1s}", "aggregate.grace: is out of range: -1s, want > 0 and <= 168h (0: the default, 30m0s)")
	f("aggregate: {grace: 169h}", "aggregate.grace: is out of range: 169h0m0s, want > 0 and <= 168h (0: the default, 30m0s)")
}

// http.listen and serve.listen document "" as "disabled": an explicit ""
// must stay empty, also when the defaults are filled again, while a key
// left out (or null) takes the default address.
func TestEmptyListenDisablesTheListener(t *testing.T) {
	f := func(yml, wantHTTP, wantServe string) {
		t.Helper()
		c, err := Parse([]byte(yml))
		if err != nil {
			t.Fatalf("%q: %v", yml, err)
		}
		for i := 0; i < 2; i++ {
			if c.HTTP.Listen != wantHTTP || c.Serve.Listen != wantServe {
				t.Errorf("%q (defaults filled %d times): http.listen %q, serve.listen %q; want %q, %q", yml, i+1, c.HTTP.Listen, c.Serve.Listen, wantHTTP, wantServe)
			}
			c.SetDefaults()
		}
	}
	f("http: {listen: ''}", "", "127.0.0.1:8080")
	f("serve: {listen: ''}", "127.0.0.1:9464", "")
	f("http: {listen: ''}\nserve: {listen: ''}", "", "")
	f("http: {listen: }\nserve: {listen: null}", "127.0.0.1:9464", "127.0.0.1:8080")
	f("http: {}\nserve: {}", "127.0.0.1:9464", "127.0.0.1:8080")
	f("", "127.0.0.1:9464", "127.0.0.1:8080")
}
