package config

import (
	"errors"
	"strings"
	"testing"
)

func TestServeTrustedProxiesAndStreamsPerCaller(t *testing.T) {
	f := func(name, yml, wantPath string, wantErr error) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(yml))
			if wantPath == "" {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), wantPath+":") || !errors.Is(err, wantErr) {
				t.Fatalf("want %s (%v), got %v", wantPath, wantErr, err)
			}
		})
	}
	f("trusted proxies take CIDRs and addresses", "serve: {trusted_proxies: [10.0.0.0/8, 192.0.2.7, 'fd00::/8']}", "", nil)
	f("a trusted proxy is a CIDR or an address", "serve: {trusted_proxies: [10.0.0.0/8, ingress.local]}", "serve.trusted_proxies[1]", ErrInvalidEnum)
	f("a trusted proxy's prefix is in range", "serve: {trusted_proxies: [10.0.0.0/33]}", "serve.trusted_proxies[0]", ErrInvalidEnum)
	f("each caller may hold a stream", "serve: {sse: {max_clients_per_principal: -1}}", "serve.sse.max_clients_per_principal", ErrOutOfRange)
	if got := Default().Serve.SSE.MaxClientsPerPrincipal; got < 1 || got >= Default().Serve.SSE.MaxClients {
		t.Errorf("default streams per caller: %d", got)
	}
}

func TestParseCIDROrIP(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		p, err := ParseCIDROrIP(in)
		if got := p.String(); (err != nil) != (want == "") || (err == nil && got != want) {
			t.Errorf("%q: %s (%v), want %q", in, got, err, want)
		}
	}
	f("10.0.0.0/8", "10.0.0.0/8")
	f("10.1.2.3/8", "10.0.0.0/8")
	f("192.0.2.7", "192.0.2.7/32")
	f("::ffff:192.0.2.7", "192.0.2.7/32")
	f("fd00::1", "fd00::1/128")
	f("", "")
	f("proxy", "")
}
