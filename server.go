// Command laatu is the Laatu GraphQL API server for quality documentation. Its subcommands
// live in internal/cli (`laatu help` lists them).
package main

//go:generate go run github.com/99designs/gqlgen generate

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/laatu/laatu/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
