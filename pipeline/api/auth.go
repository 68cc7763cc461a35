package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// Principal is an authenticated caller.
type Principal struct {
	// Name is who acts, as written to the audit log: a token's name or the
	// user claim of a JWT. Never the credential.
	Name string `json:"name"`
	Role string `json:"role"`
	// Via is "token" or "oidc".
	Via string `json:"via"`
	// key identifies the caller for rate limiting.
	key string
	// expires is when the credential stops being valid (zero: a static
	// token, valid until the configuration changes). A live stream outlasts
	// the request that authenticated it, so it ends then.
	expires time.Time
}

// roleRank orders roles; a role may do what any lower one may.
func roleRank(r string) int {
	switch r {
	case config.RoleViewer:
		return 1
	case config.RoleResponder:
		return 2
	case config.RoleAnalyst:
		return 3
	}
	return 0
}

// Can reports whether p holds role r or a higher one.
func (p *Principal) Can(r string) bool {
	return p != nil && roleRank(p.Role) >= roleRank(r) && roleRank(r) > 0
}

// Authentication errors. Their text is safe to return to the client.
var (
	ErrNoCredentials  = errors.New("missing bearer token")
	ErrBadCredentials = errors.New("invalid bearer token")
	ErrNoAuth         = errors.New("no authentication is configured on this server (serve.tokens or serve.oidc)")
)

type tokenEntry struct {
	name string
	role string
	hash [32]byte
}

// Authenticator checks bearer tokens against hashed entries and, when an
// issuer is configured, JWTs against the issuer's keys.
type Authenticator struct {
	tokens []tokenEntry
	jwt    *JWTVerifier
}

// NewAuthenticator builds an authenticator from the serve config; jwt may
// be nil.
func NewAuthenticator(c config.Serve, jwt *JWTVerifier) (*Authenticator, error) {
	a := &Authenticator{jwt: jwt}
	for _, t := range c.Tokens {
		b, err := hex.DecodeString(t.SHA256)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("serve.tokens %s: sha256 is not 64 hex digits", t.Name)
		}
		e := tokenEntry{name: t.Name, role: t.Role}
		copy(e.hash[:], b)
		a.tokens = append(a.tokens, e)
	}
	return a, nil
}

// HashToken returns the hex SHA-256 of a token, as serve.tokens stores it.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewToken returns a fresh random token (256 bits, URL-safe).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot read random bytes: %w", err)
	}
	return "tw_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Authenticate checks the request's Authorization header.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	if len(a.tokens) == 0 && a.jwt == nil {
		return nil, ErrNoAuth
	}
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
		return nil, ErrNoCredentials
	}
	cred = strings.TrimSpace(cred)
	if len(cred) > 16<<10 {
		return nil, ErrBadCredentials
	}
	if a.jwt != nil && strings.Count(cred, ".") == 2 {
		return a.jwt.Verify(ctx, cred)
	}
	return a.checkToken(cred)
}

// checkToken compares the token's hash with every entry in constant time:
// no early exit, so timing says nothing about which entry came close.
func (a *Authenticator) checkToken(tok string) (*Principal, error) {
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, ErrBadCredentials
	}
	e := a.tokens[found]
	return &Principal{Name: e.name, Role: e.role, Via: "token", key: "token:" + e.name}, nil
}
