package config

import (
	"errors"
	"strings"
	"testing"
)

func TestServeSectionValidation(t *testing.T) {
	good := strings.Repeat("ab", 32)
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
	f("the defaults are valid", "", "", nil)
	f("a token with its hash and role is valid", "serve: {tokens: [{name: wall, role: viewer, sha256: "+good+"}]}", "", nil)
	f("a token hash must be 64 hex digits", "serve: {tokens: [{name: wall, role: viewer, sha256: abc}]}", "serve.tokens[0].sha256", ErrInvalidEnum)
	f("a token hash must be lower case", "serve: {tokens: [{name: wall, role: viewer, sha256: "+strings.ToUpper(good)+"}]}", "serve.tokens[0].sha256", ErrInvalidEnum)
	f("a token needs a name", "serve: {tokens: [{role: viewer, sha256: "+good+"}]}", "serve.tokens[0].name", ErrRequired)
	f("token names are unique", "serve: {tokens: [{name: a, role: viewer, sha256: "+good+"}, {name: a, role: viewer, sha256: "+strings.Repeat("cd", 32)+"}]}", "serve.tokens[1].name", ErrInvalidEnum)
	f("one token cannot have two entries", "serve: {tokens: [{name: a, role: viewer, sha256: "+good+"}, {name: b, role: analyst, sha256: "+good+"}]}", "serve.tokens[1].sha256", ErrInvalidEnum)
	f("a role is one of three", "serve: {tokens: [{name: a, role: admin, sha256: "+good+"}]}", "serve.tokens[0].role", ErrInvalidEnum)
	f("an issuer needs an audience", "serve: {oidc: {issuer: 'https://idp.example'}}", "serve.oidc.audience", ErrRequired)
	f("an issuer over plain http is refused off loopback", "serve: {oidc: {issuer: 'http://idp.example', audience: tw}}", "serve.oidc.issuer", ErrInvalidEnum)
	f("a loopback issuer over http is allowed", "serve: {oidc: {issuer: 'http://127.0.0.1:9000', audience: tw}}", "", nil)
	f("a role map names roles", "serve: {oidc: {issuer: 'https://idp.example', audience: tw, role_map: {g: root}}}", "serve.oidc.role_map.g", ErrInvalidEnum)
	f("an audience without an issuer is a mistake", "serve: {oidc: {audience: tw}}", "serve.oidc.issuer", ErrRequired)
	f("CORS takes no wildcard", "serve: {cors_allowed_origins: ['*']}", "serve.cors_allowed_origins[0]", ErrInvalidEnum)
	f("CORS takes origins, not URLs with paths", "serve: {cors_allowed_origins: ['https://a.example/x']}", "serve.cors_allowed_origins[0]", ErrInvalidEnum)
	f("CORS takes an origin", "serve: {cors_allowed_origins: ['https://soc.example:8443']}", "", nil)
	f("the body limit is bounded", "serve: {max_body_bytes: 10}", "serve.max_body_bytes", ErrOutOfRange)
	f("the rate is positive", "serve: {rate_limit: {per_second: -1}}", "serve.rate_limit.per_second", ErrOutOfRange)
	f("the listen address is host:port", "serve: {listen: localhost}", "serve.listen", ErrInvalidEnum)
	f("the replica id fits in a group name", "serve: {replica_id: 'A B'}", "serve.replica_id", ErrInvalidEnum)
	f("hourly retention covers the raw one", "serve: {retention: {levels: 240h, levels_hourly: 24h}}", "serve.retention.levels_hourly", ErrOutOfRange)
	f("a certificate needs its key", "serve: {tls: {cert_file: /nonexistent}}", "serve.tls.key_file", ErrRequired)
	if _, err := Parse([]byte("serve: {token: []}")); err == nil || !strings.Contains(err.Error(), "serve.token: unknown key") {
		t.Errorf("a misspelt key: %v", err)
	}
}

func TestServeDefaultsLeaveAuthUnconfigured(t *testing.T) {
	c := Default()
	if c.Serve.AuthConfigured() || len(c.Serve.CORSAllowedOrigins) != 0 || c.Serve.Listen != "127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", c.Serve)
	}
}
