package httpx

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 192.0.2.10 ", "fd00::/8", "::ffff:172.16.0.0/108", "10.1.2.3/8"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.200.0.1":        true,
		"::ffff:10.200.0.1": true, // IPv4-mapped form of a trusted IPv4 address
		"192.0.2.10":        true,
		"192.0.2.11":        false,
		"fd12::1":           true,
		"fe80::1%eth0":      false,
		"172.16.5.5":        true, // from the IPv4-mapped CIDR
		"172.32.0.1":        false,
		"203.0.113.9":       false,
		"2001:db8::1":       false,
		"fd00::1%eth0":      true, // zones do not hide an address
	} {
		if got := tp.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}

	for _, bad := range [][]string{{"10.0.0.0/33"}, {"not-an-ip"}, {""}, {"fe80::1%eth0"}, {"10.0.0.1:80"}} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) succeeded, want error", bad)
		}
	}
}

func TestClientIP(t *testing.T) {
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		peer    string
		xff     []string // one element per header line
		noTrust bool     // use the zero TrustedProxies
		want    string   // "" means the zero Addr
	}{
		{name: "direct client, no header", peer: "203.0.113.7:5555", want: "203.0.113.7"},
		{name: "spoof: untrusted peer sends X-Forwarded-For", peer: "203.0.113.7:5555",
			xff: []string{"198.51.100.1"}, want: "203.0.113.7"},
		{name: "spoof: untrusted peer claims to be behind a trusted proxy", peer: "203.0.113.7:5555",
			xff: []string{"198.51.100.1, 10.0.0.5"}, want: "203.0.113.7"},
		{name: "trusted proxy, one hop", peer: "10.0.0.2:80",
			xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "spoof: client prepends a fake address before our proxy", peer: "10.0.0.2:80",
			xff: []string{"1.2.3.4, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "spoof: client claims a trusted address before its own", peer: "10.0.0.2:80",
			xff: []string{"10.9.9.9, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "two trusted hops", peer: "10.0.0.2:80",
			xff: []string{"1.2.3.4, 198.51.100.1, 10.0.0.3"}, want: "198.51.100.1"},
		{name: "header split over several lines", peer: "10.0.0.2:80",
			xff: []string{"1.2.3.4", "198.51.100.1", "10.0.0.3"}, want: "198.51.100.1"},
		{name: "trusted proxy without header", peer: "10.0.0.2:80", want: "10.0.0.2"},
		{name: "all hops trusted: the first one is the client", peer: "10.0.0.2:80",
			xff: []string{"10.0.0.9, 10.0.0.3"}, want: "10.0.0.9"},
		{name: "garbage on the left is never reached", peer: "10.0.0.2:80",
			xff: []string{"<script>, unknown, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "garbage right of the client stops at the hop that forwarded it", peer: "10.0.0.2:80",
			xff: []string{"198.51.100.1, garbage, 10.0.0.3"}, want: "10.0.0.3"},
		{name: "garbage as the only entry", peer: "10.0.0.2:80",
			xff: []string{"unknown"}, want: "10.0.0.2"},
		{name: "empty entries are skipped", peer: "10.0.0.2:80",
			xff: []string{"198.51.100.1,, 10.0.0.3 ,"}, want: "198.51.100.1"},
		{name: "entry with a port", peer: "10.0.0.2:80",
			xff: []string{"198.51.100.1:4711"}, want: "198.51.100.1"},
		{name: "IPv6 entries, bracketed and not", peer: "[2001:db8:ffff::2]:443",
			xff: []string{"2001:db8:1::7, [2001:db8:ffff::9]"}, want: "2001:db8:1::7"},
		{name: "IPv6 entry with port", peer: "[2001:db8:ffff::2]:443",
			xff: []string{"[2001:db8:1::7]:9000"}, want: "2001:db8:1::7"},
		{name: "IPv4-mapped peer is trusted and the entry unmapped", peer: "[::ffff:10.0.0.2]:80",
			xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "zero value trusts no one", peer: "10.0.0.2:80", noTrust: true,
			xff: []string{"198.51.100.1"}, want: "10.0.0.2"},
		{name: "unparsable peer", peer: "@", xff: []string{"198.51.100.1"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/graphql", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			trust := tp
			if tt.noTrust {
				trust = TrustedProxies{}
			}
			got := trust.ClientIP(r)
			if tt.want == "" {
				if got.IsValid() {
					t.Fatalf("ClientIP = %v, want the zero Addr", got)
				}
				return
			}
			if got != netip.MustParseAddr(tt.want) {
				t.Fatalf("ClientIP = %v, want %v", got, tt.want)
			}
		})
	}
}
