// Command peers is the instrument of the peer benchmark (bench/peers/README.md): it loads the
// benchmark's data set into a Laatu database and drives load against GraphQL servers.
//
//	go run ./bench/peers load --database-url URL | --sqlite PATH [--docs-per-company N] [--out FILE]
//	go run ./bench/peers run --laatu BIN --postgraphile BIN [--mode peers|scale|explain]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/laatu/laatu/internal/benchdata"
	"github.com/laatu/laatu/internal/database"
)

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "load":
		err = load(ctx, os.Args[2:])
	case "run":
		err = runCmd(ctx, os.Args[2:])
	case "-h", "--help", "help":
		usage(os.Stdout)
		return
	default:
		usage(os.Stderr)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  peers load --database-url URL | --sqlite PATH [flags]   load the benchmark data set (see load -h)
  peers run --laatu BIN [--postgraphile BIN] [--mode peers|scale|explain] [flags]   the benchmark (see run -h; run.sh calls it)`)
}

// load migrates a database and loads a shape into it, then writes what a load test needs (the
// companies with their ids and bearer tokens) as JSON.
func load(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	d := benchdata.Default()
	url := fs.String("database-url", "", "PostgreSQL URL of the tables' owner (a superuser or the migrating role)")
	sqlite := fs.String("sqlite", "", "SQLite file to create or fill (instead of --database-url)")
	appURL := fs.String("app-url", "", "PostgreSQL URL of the server's role, to grant it what it needs (optional)")
	out := fs.String("out", "", "write the loaded companies and tokens as JSON here (default: stdout)")
	fs.IntVar(&d.Companies, "companies", d.Companies, "companies")
	fs.IntVar(&d.Users, "users", d.Users, "users in all")
	fs.IntVar(&d.FoldersPerCompany, "folders-per-company", d.FoldersPerCompany, "folders per company")
	fs.IntVar(&d.RootsPerCompany, "roots-per-company", d.RootsPerCompany, "top-level folders per company")
	fs.IntVar(&d.DocsPerCompany, "docs-per-company", d.DocsPerCompany, "documents per company")
	fs.IntVar(&d.GrantsPerCompany, "grants-per-company", d.GrantsPerCompany, "grants per company")
	fs.IntVar(&d.CommentsPerCompany, "comments-per-company", d.CommentsPerCompany, "comments per company")
	seed := fs.Uint64("seed", d.Seed, "varies ids and names; a database holds one load per seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d.Seed = *seed
	if (*url == "") == (*sqlite == "") {
		return fmt.Errorf("load: give exactly one of --database-url and --sqlite")
	}
	db, err := database.Open(ctx, *url, *sqlite)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.MigrateUp(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := db.GrantServerRole(ctx, *appURL); err != nil {
		return err
	}
	got, err := benchdata.Load(ctx, db, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loaded %v in %s (%v)\n", got.Rows, got.Took.Round(10*time.Millisecond), got.Spent)
	w := io.Writer(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(got)
}
