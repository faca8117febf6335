package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestIdentifyRequestID(t *testing.T) {
	tests := []struct {
		incoming string
		keep     bool
	}{
		{"abc", true},
		{"A.b_c-9", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"has space", false},
		{"line\nbreak", false},
		{"quote\"", false},
		{"<script>", false},
		{"semi;colon", false},
		{"päivä", false},
		{"a/b", false},
	}
	// httptest requests come from 192.0.2.1: trust it as a proxy, whose ids are kept.
	proxies, err := ParseTrustedProxies([]string{"192.0.2.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.incoming, func(t *testing.T) {
			var info RequestInfo
			h := Identify(proxies)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				info, _ = FromContext(r.Context())
			}))
			r := httptest.NewRequest("GET", "/healthz", nil)
			if tt.incoming != "" {
				r.Header.Set(RequestIDHeader, tt.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			got := rec.Header().Get(RequestIDHeader)
			if got != info.ID {
				t.Fatalf("header %q differs from context id %q", got, info.ID)
			}
			if tt.keep {
				if got != tt.incoming {
					t.Fatalf("id = %q, want the incoming %q kept", got, tt.incoming)
				}
				return
			}
			u, err := uuid.Parse(got)
			if err != nil || u.Version() != 7 {
				t.Fatalf("id = %q, want a fresh UUIDv7 (err %v)", got, err)
			}
		})
	}
}

func TestIdentifyRequestInfo(t *testing.T) {
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		info RequestInfo
		ok   bool
		ann  *Annotations
	)
	h := Identify(tp)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok = FromContext(r.Context())
		ann = AnnotationsFromContext(r.Context())
	}))
	r := httptest.NewRequest("POST", "/graphql", nil)
	r.RemoteAddr = "10.0.0.2:1234"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	r.Header.Set("User-Agent", "laatu-test/1.0 "+strings.Repeat("ö", 400))
	h.ServeHTTP(httptest.NewRecorder(), r)

	if !ok {
		t.Fatal("no RequestInfo in the context")
	}
	if info.ClientIP != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("ClientIP = %v", info.ClientIP)
	}
	if !strings.HasPrefix(info.UserAgent, "laatu-test/1.0 ") || len(info.UserAgent) > maxUserAgentLen ||
		!strings.HasSuffix(info.UserAgent, "ö") {
		t.Errorf("UserAgent not kept and cut at a rune boundary: %d bytes, %q...", len(info.UserAgent), info.UserAgent[:20])
	}
	if info.Start.IsZero() {
		t.Error("Start not set")
	}
	if ann == nil {
		t.Error("no Annotations in the context")
	}
}

func TestAnnotations(t *testing.T) {
	var nilAnn *Annotations
	nilAnn.SetOperation("Q", "query") // must not panic
	nilAnn.SetUserID("u1")
	if nilAnn.OperationName() != "" || nilAnn.OperationType() != "" || nilAnn.UserID() != "" {
		t.Error("nil Annotations returned values")
	}
	if a := AnnotationsFromContext(t.Context()); a != nil {
		t.Errorf("AnnotationsFromContext on an empty context = %v, want nil", a)
	}

	a := &Annotations{}
	a.SetOperation(strings.Repeat("N", 1000), "mutation")
	a.SetUserID("01J9Z")
	if len(a.OperationName()) != maxAnnotationLen || a.OperationType() != "mutation" || a.UserID() != "01J9Z" {
		t.Errorf("got %d-byte name, %q, %q", len(a.OperationName()), a.OperationType(), a.UserID())
	}
}

// TestIdentifyIgnoresClientRequestID: a client that is not a trusted proxy cannot choose the id
// its request is logged and audited under.
func TestIdentifyIgnoresClientRequestID(t *testing.T) {
	h := Identify(TrustedProxies{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/healthz", nil)
	r.Header.Set(RequestIDHeader, "chosen-by-client")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if got := rec.Header().Get(RequestIDHeader); got == "chosen-by-client" {
		t.Fatal("an untrusted client chose its request id")
	}
}
