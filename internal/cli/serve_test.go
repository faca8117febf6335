package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeTLS runs the laatu command as `go run .` would, with a certificate: it creates its
// embedded database, migrates, loads the demo data and serves HTTPS only, with HSTS; a login
// works over TLS; a cancelled context (Ctrl-C) stops it cleanly.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	addr, adminAddr := freeAddr(t), freeAddr(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"),
			"--tls-cert", certFile, "--tls-key", keyFile, "--audit-log", "off", "--log-level", "error",
			"--admin-addr", adminAddr},
			func(string) string { return "" }, stdout, stderr)
	}()

	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	base := "https://" + addr
	var ready bool
	// Migrating and loading the demo data (argon2 hashes) takes long under the race detector on
	// a busy machine: the deadline is generous, the poll frequent.
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve ended early with %d:\n%s", code, stderr.String())
		default:
		}
		res, err := client.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			ready = res.StatusCode == http.StatusOK
			if ready {
				break
			}
		}
	}
	if !ready {
		t.Fatalf("not ready over HTTPS:\n%s", stderr.String())
	}
	// The banner is for a person: on stderr, after the listener is bound (the poll above
	// reached it), and stdout stays empty (it is the audit stream's in prod).
	if !strings.Contains(stderr.String(), "admin@acme.test") || !strings.Contains(stderr.String(), "https://"+addr+"/graphql") {
		t.Errorf("the banner does not show the demo accounts and the URL:\n%s", stderr.String())
	}
	if stdout.String() != "" {
		t.Errorf("serve wrote to stdout with --audit-log off:\n%s", stdout.String())
	}

	body := `{"query":"mutation { login(email: \"admin@acme.test\", password: \"laatu-demo-password\") { token } }"}`
	res, err := client.Post(base+"/graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data struct{ Login struct{ Token string } }
	}
	err = json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	if err != nil || out.Data.Login.Token == "" {
		t.Fatalf("login over TLS: %v %+v", err, out)
	}
	if hsts := res.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("no HSTS over TLS: %q", hsts)
	}
	if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS state %+v", res.TLS)
	}

	// The listener speaks Mozilla's intermediate profile only (httpx.ServerTLSConfig): an
	// ECDHE-AEAD suite of TLS 1.2 and TLS 1.3 are accepted; CBC and TLS 1.1 are refused.
	for _, c := range []struct {
		name   string
		cfg    *tls.Config
		accept bool
	}{
		{"ECDHE-ECDSA-AES128-GCM-SHA256", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"ECDHE-ECDSA-AES128-CBC-SHA", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, false},
	} {
		c.cfg.RootCAs, c.cfg.ServerName = pool, "localhost"
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, c.cfg)
		if err == nil {
			conn.Close()
		}
		if (err == nil) != c.accept {
			t.Errorf("handshake with %s: %v, want accepted %v", c.name, err, c.accept)
		}
	}

	// Plain HTTP on the TLS port gets nothing of the API.
	if res, err := (&http.Client{Timeout: 5 * time.Second}).Post("http://"+addr+"/graphql", "application/json", strings.NewReader(body)); err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "token") {
			t.Errorf("plain HTTP on the TLS port: %d %s", res.StatusCode, b)
		}
	}

	// The admin listener (plain HTTP, apart from the API) has counted the login; the public
	// port serves no metrics.
	plain := &http.Client{Timeout: 30 * time.Second}
	if res, err := plain.Get("http://" + adminAddr + "/metrics"); err != nil {
		t.Errorf("admin listener: %v", err)
	} else {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `laatu_graphql_operations_total{operation="anonymous",type="mutation"} 1`) {
			t.Errorf("admin /metrics: %d, no count of the login:\n%.2000s", res.StatusCode, b)
		}
	}
	if res, err := client.Get(base + "/metrics"); err != nil {
		t.Error(err)
	} else {
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("public /metrics: %d, want 404", res.StatusCode)
		}
	}
	if !strings.Contains(stderr.String(), "http://"+adminAddr+"/metrics") {
		t.Errorf("the banner does not show the metrics URL:\n%s", stderr.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after Ctrl-C", code)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("serve did not stop")
	}
}

// TestServeProdBehindProxy: in prod, plain HTTP is served only with --tls-terminated-by-proxy
// (and trusted proxies, see TestServeRefusesClearly), and it still sends HSTS: the clients
// reach the proxy over HTTPS.
func TestServeProdBehindProxy(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--mode", "prod", "--allow-embedded-store", "--addr", addr, "--data-dir", dir,
			"--tls-terminated-by-proxy", "--trusted-proxies", "127.0.0.1/32",
			"--audit-log", "off", "--log-level", "error", "--admin-addr", "off"},
			func(string) string { return "" }, stdout, stderr)
	}()
	waitReady(t, "http://"+addr, done, stderr)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if hsts := res.Header.Get("Strict-Transport-Security"); hsts != "max-age=63072000; includeSubDomains" {
		t.Errorf("HSTS behind a TLS-terminating proxy: %q", hsts)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d:\n%s", code, stderr.String())
	}
}

// TestServeWarnsOfDatabaseTLS: in prod, a PostgreSQL URL whose sslmode is not verify-full is
// warned of at start, before the connection is tried (here it cannot be: nothing listens on
// port 1); verify-full is not.
func TestServeWarnsOfDatabaseTLS(t *testing.T) {
	for _, c := range []struct {
		query, env, want string
	}{
		{"?sslmode=disable", "", "may be in plain text"},
		{"?sslmode=prefer", "", "may be in plain text"},
		{"?sslmode=require", "", "is not verified"},
		{"", "", "is not verified"}, // lib/pq's default is require
		{"", "disable", "may be in plain text"},
		{"?sslmode=verify-ca", "", "is not verified"},
		{"?sslmode=verify-full", "", ""},
		{"?sslrootcert=system", "", ""},
	} {
		t.Run(c.query+" PGSSLMODE="+c.env, func(t *testing.T) {
			url := "postgres://laatu_app@127.0.0.1:1/laatu" + c.query
			env := map[string]string{"DATABASE_URL": url, "DATABASE_ADMIN_URL": url, "PGSSLMODE": c.env}
			code, out, errOut := laatu(t, env, "serve", "--mode", "prod", "--addr", "127.0.0.1:0", "--auto-migrate=false",
				"--tls-terminated-by-proxy", "--trusted-proxies", "127.0.0.1/32", "--audit-log", "off", "--log-level", "warn", "--admin-addr", "off")
			if code != 1 {
				t.Fatalf("exit %d with no database:\n%s%s", code, out, errOut)
			}
			warned := strings.Contains(errOut, "DATABASE_URL: the connection to PostgreSQL")
			if c.want == "" && warned || c.want != "" && (!warned || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "sslmode=verify-full")) {
				t.Errorf("want warning %q:\n%s", c.want, errOut)
			}
		})
	}
}

// selfSigned writes a certificate for localhost and 127.0.0.1 and returns the files and a pool
// that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
