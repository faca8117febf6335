package httpx

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// rsaCert is a self-signed RSA certificate for 127.0.0.1: with an RSA key, the RSA key
// exchange suites are possible at all, so their refusal is the configuration's.
func rsaCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "laatu test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestServerTLSConfigHandshakes: real handshakes against a listener with ServerTLSConfig.
// Mozilla's intermediate profile is accepted (an ECDHE-AEAD suite of TLS 1.2, TLS 1.3); RSA
// key exchange, CBC, TLS 1.1 and curves outside the profile are refused.
func TestServerTLSConfigHandshakes(t *testing.T) {
	cert, pool := rsaCert(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", ServerTLSConfig(cert))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()

	tls12 := func(suite uint16) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
	}
	for _, c := range []struct {
		name    string
		cfg     *tls.Config
		accept  bool
		version uint16
	}{
		{"TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256", tls12(tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), true, tls.VersionTLS12},
		{"TLS 1.2 ECDHE-RSA-AES256-GCM-SHA384", tls12(tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384), true, tls.VersionTLS12},
		{"TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305", tls12(tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256), true, tls.VersionTLS12},
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true, tls.VersionTLS13},
		{"TLS 1.3 over P-256", &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.CurveP256}}, true, tls.VersionTLS13},
		{"TLS 1.2 over X25519", &tls.Config{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.X25519}}, true, tls.VersionTLS12},

		{"TLS_RSA_WITH_AES_128_GCM_SHA256 (no forward secrecy)", tls12(tls.TLS_RSA_WITH_AES_128_GCM_SHA256), false, 0},
		{"TLS_RSA_WITH_AES_256_GCM_SHA384", tls12(tls.TLS_RSA_WITH_AES_256_GCM_SHA384), false, 0},
		{"ECDHE-RSA-AES128-CBC-SHA", tls12(tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA), false, 0},
		{"ECDHE-RSA-AES256-CBC-SHA", tls12(tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA), false, 0},
		{"ECDHE-RSA-AES128-CBC-SHA256", tls12(tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256), false, 0},
		{"TLS_RSA_WITH_AES_128_CBC_SHA", tls12(tls.TLS_RSA_WITH_AES_128_CBC_SHA), false, 0},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, false, 0},
		{"TLS 1.0", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, false, 0},
		{"TLS 1.3 over P-384 only", &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.CurveP384}}, false, 0},
		{"TLS 1.2 over P-384 only", &tls.Config{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP384}}, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg.Clone()
			cfg.RootCAs = pool
			cfg.ServerName = "127.0.0.1"
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second}, Config: cfg}
			conn, err := d.Dial("tcp", l.Addr().String())
			if !c.accept {
				if err == nil {
					st := conn.(*tls.Conn).ConnectionState()
					conn.Close()
					t.Fatalf("accepted: %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				var alert tls.AlertError
				if !errors.As(err, &alert) {
					t.Logf("refused: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			defer conn.Close()
			if st := conn.(*tls.Conn).ConnectionState(); st.Version != c.version {
				t.Errorf("version %s, want %s", tls.VersionName(st.Version), tls.VersionName(c.version))
			}
		})
	}
}
