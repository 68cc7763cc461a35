package scrapers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrForbiddenAddress reports a request or redirect to an address the site
// may not reach: loopback, private, link-local and other special ranges,
// unless the site is configured with allow_private.
var ErrForbiddenAddress = errors.New("address not allowed (loopback, private or link-local; set allow_private for local sites)")

// specialPrefixes are ranges no public site lives in, beyond what
// netip.Addr's predicates cover.
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can embed a private IPv4
	netip.MustParsePrefix("2001:db8::/32"),
}

// forbiddenIP reports whether ip is outside the public unicast space.
func forbiddenIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range specialPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// guard keeps a site's requests away from internal addresses. It checks at
// two points because either alone has a hole: the dial check sees the
// address actually connected to (so DNS rebinding cannot slip past), but
// behind a proxy it only sees the proxy; the URL check resolves the target
// host itself before every request and redirect.
type guard struct {
	allowPrivate bool
	// proxyAddrs are the ip:port the configured proxy may be dialled at.
	proxyAddrs map[string]bool
	proxied    bool
	// lookup resolves a host name (replaced in tests).
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

func newGuard(allowPrivate bool, proxy *url.URL) (*guard, error) {
	g := &guard{allowPrivate: allowPrivate, proxyAddrs: map[string]bool{}, lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}}
	if proxy != nil {
		g.proxied = true
		host, port := proxy.Hostname(), proxy.Port()
		if port == "" {
			switch proxy.Scheme {
			case "socks5", "socks5h":
				port = "1080"
			case "https":
				port = "443"
			default:
				port = "80"
			}
		}
		ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve the proxy host: %w", err)
		}
		for _, ip := range ips {
			g.proxyAddrs[net.JoinHostPort(ip.Unmap().String(), port)] = true
		}
	}
	return g, nil
}

// control runs on every outgoing connection, after name resolution.
func (g *guard) control(_, address string, _ syscall.RawConn) error {
	if g.allowPrivate || g.proxyAddrs[address] {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if forbiddenIP(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// checkURL vets a request URL before it is sent.
func (g *guard) checkURL(ctx context.Context, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q", ErrForbiddenAddress, u.Scheme)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return fmt.Errorf("%w: no host", ErrForbiddenAddress)
	}
	if strings.HasSuffix(host, ".onion") {
		if !g.proxied {
			return fmt.Errorf("%w: an .onion host needs a proxy (socks5h://127.0.0.1:9050)", ErrForbiddenAddress)
		}
		return nil // only the proxy can resolve it
	}
	if g.allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if forbiddenIP(ip) {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, ip)
		}
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
	}
	if !g.proxied {
		return nil // the dial check sees the resolved address
	}
	ips, err := g.lookup(ctx, host)
	if err != nil {
		return fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if forbiddenIP(ip) {
			return fmt.Errorf("%w: %s resolves to %s", ErrForbiddenAddress, host, ip)
		}
	}
	return nil
}
