package scrapers

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

// socks5 is a minimal SOCKS5 proxy (no auth, CONNECT) that sends every
// host name it is asked for to target, recording the names.
type socks5 struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	asked  []string
}

func newSocks5(t *testing.T, target string) *socks5 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socks5{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *socks5) serve(c net.Conn) {
	defer c.Close()
	b := make([]byte, 262)
	if _, err := io.ReadFull(c, b[:2]); err != nil || b[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, b[:b[1]]); err != nil {
		return
	}
	_, _ = c.Write([]byte{5, 0})
	if _, err := io.ReadFull(c, b[:4]); err != nil || b[1] != 1 {
		return
	}
	var host string
	switch b[3] {
	case 1:
		_, _ = io.ReadFull(c, b[:4])
		host = net.IP(b[:4]).String()
	case 3:
		_, _ = io.ReadFull(c, b[:1])
		n := int(b[0])
		_, _ = io.ReadFull(c, b[:n])
		host = string(b[:n])
	default:
		return
	}
	_, _ = io.ReadFull(c, b[:2])
	_ = binary.BigEndian.Uint16(b[:2])
	s.mu.Lock()
	s.asked = append(s.asked, host)
	s.mu.Unlock()
	up, err := net.Dial("tcp", s.target)
	if err != nil {
		_, _ = c.Write([]byte{5, 4, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	_, _ = c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	go func() { _, _ = io.Copy(up, c) }()
	_, _ = io.Copy(c, up)
}

func TestSocks5Proxy(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			return
		}
		_, _ = w.Write([]byte("hello via socks, host " + r.Host))
	}))
	defer origin.Close()
	px := newSocks5(t, origin.Listener.Addr().String())
	f := testFetcher(t, func(c *config.Scrape, s *config.Site) {
		s.AllowPrivate = false
		s.Proxy = config.NewSecret("socks5h://" + px.ln.Addr().String())
	})
	f.guard.lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "internal.example" {
			return []netip.Addr{netip.MustParseAddr("192.168.0.10")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	r, err := f.Get(context.Background(), "http://public.example/page", Validators{})
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if string(r.Body) != "hello via socks, host public.example" {
		t.Fatalf("through the proxy: %q", r.Body)
	}
	if _, err := f.Get(context.Background(), "http://internal.example/", Validators{}); fetchErrReason(err) != "forbidden_address" {
		t.Fatalf("internal host through the proxy: %v", err)
	}
	if _, err := f.Get(context.Background(), "http://abcdefghijklmnop.onion/", Validators{}); err != nil {
		t.Fatalf(".onion through the proxy: %v", err)
	}
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, h := range px.asked {
		if h == "internal.example" {
			t.Error("the proxy was asked for the internal host")
		}
	}
	if len(px.asked) == 0 || px.asked[0] != "public.example" {
		t.Errorf("proxy saw %v; want host names resolved by the proxy (socks5h)", px.asked)
	}
	// Without a proxy an .onion host is refused outright.
	if _, err := testFetcher(t, nil).Get(context.Background(), "http://abcdefghijklmnop.onion/", Validators{}); fetchErrReason(err) != "forbidden_address" {
		t.Errorf(".onion without a proxy: %v", err)
	}
}
