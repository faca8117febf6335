package httpx

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies is the set of addresses whose X-Forwarded-For header is believed: the load
// balancers and reverse proxies in front of the server. The zero value trusts no one, so
// the client IP is always the socket peer.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses CIDR ranges ("10.0.0.0/8", "fd00::/8") and single addresses
// ("192.0.2.10", "::1").
func ParseTrustedProxies(entries []string) (TrustedProxies, error) {
	var tp TrustedProxies
	for _, e := range entries {
		e = strings.TrimSpace(e)
		var p netip.Prefix
		if strings.Contains(e, "/") {
			parsed, err := netip.ParsePrefix(e)
			if err != nil {
				return TrustedProxies{}, fmt.Errorf("httpx: trusted proxy %q: %w", e, err)
			}
			p = parsed.Masked()
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
		} else {
			a, err := netip.ParseAddr(e)
			if err != nil {
				return TrustedProxies{}, fmt.Errorf("httpx: trusted proxy %q: %w", e, err)
			}
			if a.Zone() != "" {
				return TrustedProxies{}, fmt.Errorf("httpx: trusted proxy %q: zones are not supported", e)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		tp.prefixes = append(tp.prefixes, p)
	}
	return tp, nil
}

// Contains reports whether a is a trusted proxy.
func (tp TrustedProxies) Contains(a netip.Addr) bool {
	a = normalize(a)
	for _, p := range tp.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that sent r. It is the socket peer, unless the
// peer is a trusted proxy: then X-Forwarded-For is walked from the right (the entries that
// our own proxies appended), past every trusted proxy, to the first address that is not
// one. Entries left of that were written by the client and are never read, so a client
// cannot choose its address by sending the header. A malformed entry stops the walk at
// the trusted hop that forwarded it. The zero Addr means the peer address was unusable.
func (tp TrustedProxies) ClientIP(r *http.Request) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !tp.Contains(peer) {
		return peer
	}
	client := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		entries := strings.Split(values[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			if strings.TrimSpace(entries[j]) == "" {
				continue // "a,,b" and trailing commas carry nothing
			}
			a := parseAddr(entries[j])
			if !a.IsValid() {
				return client
			}
			client = a
			if !tp.Contains(a) {
				return client
			}
		}
	}
	// Every hop was a trusted proxy: the request started inside our own network.
	return client
}

// parseAddr parses "ip", "ip:port", "[ipv6]:port" and "[ipv6]", returning the zero Addr for
// anything else.
func parseAddr(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr())
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return normalize(a)
}

// normalize makes IPv4-mapped IPv6 addresses plain IPv4 and drops zones, so that prefix
// checks and logs see one form of each address.
func normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
