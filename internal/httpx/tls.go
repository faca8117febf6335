package httpx

import "crypto/tls"

// ServerTLSCipherSuites are the TLS 1.2 suites ServerTLSConfig accepts: Mozilla's
// intermediate profile, the six with an ephemeral (ECDHE) key exchange and an AEAD cipher.
// No RSA key exchange (no forward secrecy), no CBC (padding oracles), no SHA-1 MACs.
// TLS 1.3's suites are all AEAD and not configurable in Go; they are all accepted.
var ServerTLSCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerTLSCurves are the key exchange groups ServerTLSConfig accepts: the post-quantum
// hybrid X25519MLKEM768 (preferred by clients that offer it; TLS 1.3 only), then Mozilla's
// X25519 and P-256. A client offering none of them is refused.
var ServerTLSCurves = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}

// ServerTLSConfig is the API listener's TLS: Mozilla's intermediate profile (TLS 1.2 with the
// ECDHE-AEAD suites only, and TLS 1.3). Everything else is refused in the handshake.
func ServerTLSConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates:     certs,
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     ServerTLSCipherSuites,
		CurvePreferences: ServerTLSCurves,
	}
}
