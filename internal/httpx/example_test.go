package httpx_test

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/httpx"
)

// Example wires the edge around Laatu's routes in the recommended order.
func Example() {
	logger := zerolog.New(os.Stderr).With().Timestamp().Logger()
	var graphqlHandler, playground http.Handler = http.NotFoundHandler(), http.NotFoundHandler()
	ping := func(ctx context.Context) error { return nil } // e.g. db.PingContext

	proxies, err := httpx.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		logger.Fatal().Err(err).Msg("trusted proxies")
	}
	crossOrigin, err := httpx.CrossOrigin([]string{"https://app.laatu.example"})
	if err != nil {
		logger.Fatal().Err(err).Msg("trusted origins")
	}

	mux := http.NewServeMux()
	mux.Handle("/graphql", httpx.GraphQLMethodGuard(graphqlHandler))
	mux.Handle("GET /{$}", playground)
	mux.Handle("/healthz", httpx.Healthz())
	mux.Handle("/readyz", httpx.Readyz(ping))

	srv := &http.Server{
		Addr: ":8080",
		Handler: httpx.Chain(mux,
			httpx.SecurityHeaders(httpx.SecurityOptions{HSTS: false, FrameablePaths: []string{"/"}}),
			httpx.Identify(proxies),
			httpx.AccessLog(logger),
			httpx.Recover,
			crossOrigin,
			httpx.MaxBytes(1<<20),
		),
		ReadHeaderTimeout: 10 * time.Second,
	}
	_ = srv // srv.ListenAndServe() in server.go
}
