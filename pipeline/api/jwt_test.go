package api

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// issuer is a local OpenID Connect issuer that signs test tokens.
type issuer struct {
	srv      *httptest.Server
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	jwksHits atomic.Int64
	// rotated adds a second RSA key under kid "rsa-2" to the key set.
	rotated atomic.Bool
	rsaKey2 *rsa.PrivateKey
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{}
	var err error
	if is.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if is.rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if is.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		rsaJWK := func(kid string, k *rsa.PublicKey) map[string]string {
			return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
		}
		ecPub := is.ecKey.PublicKey
		pt, _ := ecPub.Bytes()
		keys := []map[string]string{
			rsaJWK("rsa-1", &is.rsaKey.PublicKey),
			{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])},
		}
		if is.rotated.Load() {
			keys = append(keys, rsaJWK("rsa-2", &is.rsaKey2.PublicKey))
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	return is
}

func (is *issuer) sign(t *testing.T, alg, kid string, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	cb, _ := json.Marshal(claims)
	in := b64(hb) + "." + b64(cb)
	d := sha256.Sum256([]byte(in))
	var sig []byte
	var err error
	switch alg {
	case "RS256":
		k := is.rsaKey
		if kid == "rsa-2" {
			k = is.rsaKey2
		}
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, is.ecKey, d[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case "HS256":
		// The classic confusion attack: the public key as an HMAC secret.
		m := hmac.New(sha256.New, is.rsaKey.PublicKey.N.Bytes())
		m.Write([]byte(in))
		sig = m.Sum(nil)
	case "none":
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64(sig)
}

func (is *issuer) claims(mut func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": is.srv.URL, "aud": []string{"threatwatch", "other"}, "sub": "u-123", "preferred_username": "dana",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "groups": []string{"soc-responders"},
	}
	if mut != nil {
		mut(c)
	}
	return c
}

func TestOIDCTokensAreVerifiedAgainstTheIssuersKeys(t *testing.T) {
	is := newIssuer(t)
	h := newHarness(t, func(c *config.Serve) {
		c.OIDC = config.OIDC{Issuer: is.srv.URL, Audience: "threatwatch", RolesClaim: "groups", UserClaim: "preferred_username",
			RoleMap: map[string]string{"soc-responders": "responder", "soc-analysts": "analyst"}, Leeway: 5 * time.Second, KeysRefresh: time.Hour}
	})
	me := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 1024)
		n, _ := res.Body.Read(buf)
		b.Write(buf[:n])
		return res.StatusCode, b.String()
	}
	f := func(name string, tok string, wantCode int, wantBody string) {
		t.Helper()
		code, body := me(tok)
		if code != wantCode || !strings.Contains(body, wantBody) {
			t.Errorf("%s: %d %s, want %d with %q", name, code, body, wantCode, wantBody)
		}
	}
	f("an RS256 token maps its group to a role", is.sign(t, "RS256", "rsa-1", is.claims(nil)), 200, `"role":"responder"`)
	f("an ES256 token works too", is.sign(t, "ES256", "ec-1", is.claims(func(c map[string]any) { c["groups"] = "soc-analysts" })), 200, `"role":"analyst"`)
	f("the user claim names the actor", is.sign(t, "RS256", "rsa-1", is.claims(nil)), 200, `"name":"dana"`)
	f("the highest role wins", is.sign(t, "RS256", "rsa-1", is.claims(func(c map[string]any) { c["groups"] = []string{"viewer", "soc-analysts"} })), 200, `"role":"analyst"`)
	f("an expired token is refused", is.sign(t, "RS256", "rsa-1", is.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), 401, "expired")
	f("a token without expiry is refused", is.sign(t, "RS256", "rsa-1", is.claims(func(c map[string]any) { delete(c, "exp") })), 401, "no expiry")
	f("a token not yet valid is refused", is.sign(t, "RS256", "rsa-1", is.claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), 401, "not valid yet")
	f("another audience is refused", is.sign(t, "RS256", "rsa-1", is.claims(func(c map[string]any) { c["aud"] = "someone-else" })), 401, "audience")
	f("another issuer is refused", is.sign(t, "RS256", "rsa-1", is.claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), 401, "issuer")
	f("alg none is refused", is.sign(t, "none", "rsa-1", is.claims(nil)), 401, "not accepted")
	f("HS256 with the public key as secret is refused", is.sign(t, "HS256", "rsa-1", is.claims(nil)), 401, "not accepted")
	f("a valid identity without a role gets 403", is.sign(t, "RS256", "rsa-1", is.claims(func(c map[string]any) { c["groups"] = []string{"finance"} })), 403, "no console role")
	good := is.sign(t, "RS256", "rsa-1", is.claims(nil))
	parts := strings.Split(good, ".")
	forged, _ := json.Marshal(is.claims(func(c map[string]any) { c["groups"] = "soc-analysts" }))
	f("a payload changed after signing is refused", parts[0]+"."+b64(forged)+"."+parts[2], 401, "bad signature")
	f("an ES256 header over an RSA key is refused", is.sign(t, "ES256", "rsa-1", is.claims(nil)), 401, "bad signature")

	// Key rotation: a token under a new kid makes the verifier re-read the
	// key set, once, and is accepted.
	hits := is.jwksHits.Load()
	is.rotated.Store(true)
	h.srv.auth.jwt.mu.Lock()
	h.srv.auth.jwt.lastTry = time.Time{}
	h.srv.auth.jwt.mu.Unlock()
	f("a token signed with a rotated-in key is accepted", is.sign(t, "RS256", "rsa-2", is.claims(nil)), 200, `"role":"responder"`)
	if is.jwksHits.Load() != hits+1 {
		t.Errorf("key set fetched %d times for the new kid, want 1", is.jwksHits.Load()-hits)
	}
	// Unknown kids do not make it hammer the issuer.
	for i := 0; i < 5; i++ {
		f("an unknown kid is refused", is.sign(t, "RS256", "nope", is.claims(nil)), 401, "unknown signing key")
	}
	if is.jwksHits.Load() > hits+1 {
		t.Errorf("unknown kids fetched the key set %d more times", is.jwksHits.Load()-hits-1)
	}
	// Hashed tokens keep working beside OIDC.
	if code, _, _ := h.do("GET", "/api/v1/me", config.RoleViewer, nil); code != 200 {
		t.Fatalf("static token beside OIDC: %d", code)
	}
}
