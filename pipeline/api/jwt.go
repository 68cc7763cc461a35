package api

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// JWTVerifier verifies JWTs from one OpenID Connect issuer: RS256 or
// ES256 signatures with keys from the issuer's JWKS, then iss, aud, exp
// and nbf. It re-reads the keys periodically and when a token names a key
// it does not know (at most every 30 s, so forged kids cannot make it
// hammer the issuer).
type JWTVerifier struct {
	cfg    config.OIDC
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]crypto.PublicKey
	fetched   time.Time
	lastTry   time.Time
	jwksURL   string
	minReload time.Duration
	// loading is closed when the read of the key set in flight ends (nil:
	// none is).
	loading chan struct{}
}

// NewJWTVerifier returns a verifier for the configured issuer. The keys
// are fetched on first use, so the API starts while the issuer is away.
func NewJWTVerifier(c config.OIDC, client *http.Client, log *slog.Logger) *JWTVerifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	return &JWTVerifier{cfg: c, client: client, log: log, now: time.Now, jwksURL: c.JWKSURL, minReload: 30 * time.Second}
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Verify checks a compact JWS and returns the principal it names.
func (v *JWTVerifier) Verify(ctx context.Context, tok string) (*Principal, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, ErrBadCredentials
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, ErrBadCredentials
	}
	var h jwtHeader
	if json.Unmarshal(hb, &h) != nil {
		return nil, ErrBadCredentials
	}
	if h.Alg != "RS256" && h.Alg != "ES256" {
		// "none", HS256 with the public key as secret, and the rest: refused.
		return nil, fmt.Errorf("%w: algorithm %q not accepted", ErrBadCredentials, h.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, ErrBadCredentials
	}
	key, err := v.key(ctx, h.Kid)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch k := key.(type) {
	case *rsa.PublicKey:
		if h.Alg != "RS256" || rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) != nil {
			return nil, fmt.Errorf("%w: bad signature", ErrBadCredentials)
		}
	case *ecdsa.PublicKey:
		if h.Alg != "ES256" || len(sig) != 64 {
			return nil, fmt.Errorf("%w: bad signature", ErrBadCredentials)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k, digest[:], r, s) {
			return nil, fmt.Errorf("%w: bad signature", ErrBadCredentials)
		}
	default:
		return nil, fmt.Errorf("%w: unusable key", ErrBadCredentials)
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, ErrBadCredentials
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(pb)))
	dec.UseNumber()
	if dec.Decode(&claims) != nil {
		return nil, ErrBadCredentials
	}
	return v.principal(claims)
}

func (v *JWTVerifier) principal(c map[string]any) (*Principal, error) {
	now := v.now()
	lee := v.cfg.Leeway
	if iss, _ := c["iss"].(string); iss != v.cfg.Issuer {
		return nil, fmt.Errorf("%w: wrong issuer", ErrBadCredentials)
	}
	if !audContains(c["aud"], v.cfg.Audience) {
		return nil, fmt.Errorf("%w: wrong audience", ErrBadCredentials)
	}
	exp, ok := numericDate(c["exp"])
	if !ok {
		return nil, fmt.Errorf("%w: no expiry", ErrBadCredentials)
	}
	if !now.Before(exp.Add(lee)) {
		return nil, fmt.Errorf("%w: expired", ErrBadCredentials)
	}
	if nbf, ok := numericDate(c["nbf"]); ok && now.Add(lee).Before(nbf) {
		return nil, fmt.Errorf("%w: not valid yet", ErrBadCredentials)
	}
	sub, _ := c["sub"].(string)
	user, _ := c[v.cfg.UserClaim].(string)
	if user == "" {
		user = sub
	}
	if user == "" {
		return nil, fmt.Errorf("%w: no subject", ErrBadCredentials)
	}
	role := ""
	for _, r := range claimStrings(c[v.cfg.RolesClaim]) {
		if m, ok := v.cfg.RoleMap[r]; ok {
			r = m
		}
		if roleRank(r) > roleRank(role) {
			role = r
		}
	}
	if role == "" {
		return nil, ErrNoRole
	}
	return &Principal{Name: user, Role: role, Via: "oidc", key: "oidc:" + sub + ":" + user, expires: exp.Add(lee)}, nil
}

// ErrNoRole reports a valid identity that holds no console role (403).
var ErrNoRole = errors.New("authenticated, but no console role is granted")

func audContains(aud any, want string) bool {
	for _, a := range claimStrings(aud) {
		if a == want {
			return true
		}
	}
	return false
}

func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(strings.ReplaceAll(x, ",", " "))
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// key returns the key named kid, refreshing the key set when it is old or
// does not hold kid. The issuer is never asked while v.mu is held: a known
// key is used at once and the stale set refreshed in the background, so an
// issuer that hangs delays nobody whose token it already vouched for; a
// token naming an unknown key waits for the read in flight, if any.
func (v *JWTVerifier) key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	v.mu.Lock()
	now := v.now()
	k, ok := v.pick(kid)
	fresh := now.Sub(v.fetched) <= v.cfg.KeysRefresh
	due := now.Sub(v.lastTry) >= v.minReload || v.keys == nil && v.lastTry.IsZero()
	var started chan struct{}
	if due && !(ok && fresh) && v.loading == nil {
		// At most one read of the key set per minReload, whoever asks.
		v.lastTry = now
		started = make(chan struct{})
		v.loading = started
	}
	inFlight := v.loading
	v.mu.Unlock()
	if ok {
		if started != nil {
			go v.refresh(context.WithoutCancel(ctx), started)
		}
		return k, nil
	}
	switch {
	case started != nil:
		// Not bound to this request: others may be waiting for it.
		v.refresh(context.WithoutCancel(ctx), started)
	case inFlight != nil:
		select {
		case <-inFlight:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	v.mu.Lock()
	k, ok = v.pick(kid)
	v.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: unknown signing key", ErrBadCredentials)
	}
	return k, nil
}

// refresh re-reads the key set and installs it, then closes done; on
// failure the old keys stay: an issuer hiccup must not lock everyone out.
func (v *JWTVerifier) refresh(ctx context.Context, done chan struct{}) {
	started := v.now()
	err := v.reload(ctx)
	if err != nil {
		v.log.Warn("cannot refresh the OIDC key set", "err", err)
	}
	v.mu.Lock()
	if err == nil {
		v.fetched = started
	}
	v.loading = nil
	v.mu.Unlock()
	close(done)
}

// pick finds kid; a token without kid matches a key set of one key. The
// caller holds v.mu.
func (v *JWTVerifier) pick(kid string) (crypto.PublicKey, bool) {
	if kid == "" && len(v.keys) == 1 {
		for _, k := range v.keys {
			return k, true
		}
	}
	k, ok := v.keys[kid]
	return k, ok
}

// reload reads the key set (through the discovery document the first
// time) and installs it. It must not be called with v.mu held.
func (v *JWTVerifier) reload(ctx context.Context) error {
	v.mu.Lock()
	jwksURL := v.jwksURL
	v.mu.Unlock()
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		u := strings.TrimSuffix(v.cfg.Issuer, "/") + "/.well-known/openid-configuration"
		if err := v.getJSON(ctx, u, &doc); err != nil {
			return fmt.Errorf("cannot read issuer discovery document: %w", err)
		}
		if doc.Issuer != v.cfg.Issuer {
			return fmt.Errorf("discovery document names issuer %q, want %q", doc.Issuer, v.cfg.Issuer)
		}
		if doc.JWKSURI == "" {
			return errors.New("discovery document has no jwks_uri")
		}
		jwksURL = doc.JWKSURI
		v.mu.Lock()
		v.jwksURL = jwksURL
		v.mu.Unlock()
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := v.getJSON(ctx, jwksURL, &set); err != nil {
		return fmt.Errorf("cannot read key set: %w", err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		k, err := j.publicKey()
		if err != nil {
			v.log.Warn("skipping an unusable key of the OIDC key set", "kid", j.Kid, "err", err)
			continue
		}
		keys[j.Kid] = k
	}
	if len(keys) == 0 {
		return errors.New("key set holds no usable RSA or P-256 key")
	}
	v.mu.Lock()
	v.keys = keys
	v.mu.Unlock()
	return nil
}

func (v *JWTVerifier) getJSON(ctx context.Context, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", u, res.Status)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(out)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (j jwk) publicKey() (crypto.PublicKey, error) {
	b64 := base64.RawURLEncoding
	switch j.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key encoding")
		}
		k := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if k.N.BitLen() < 2048 {
			return nil, errors.New("RSA key shorter than 2048 bits")
		}
		return k, nil
	case "EC":
		if j.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q not supported", j.Crv)
		}
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad EC key encoding")
		}
		// Build the uncompressed point so the standard library checks it
		// lies on the curve.
		pt := append(append([]byte{4}, x...), y...)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			return nil, fmt.Errorf("bad EC key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("key type %q not supported", j.Kty)
}
