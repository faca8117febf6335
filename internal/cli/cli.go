package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"github.com/laatu/laatu/internal/config"
)

// commands lists every subcommand of laatu, in the order `laatu help` shows them.
func commands(e *env) []*cli.Command {
	return []*cli.Command{
		serveCommand(e),
		migrateCommand(e),
		seedCommand(e),
		auditCommand(e),
		backupCommand(e),
		maintenanceCommand(e),
		registersCommand(e),
		configCommand(e),
	}
}

// Run runs the laatu command with args (without the program name) and returns the process's
// exit code: 0 on success (help included), 1 when the command fails, 2 on a usage error, or
// the code a command chose. getenv supplies the environment.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	root := &cli.Command{
		Name:  "laatu",
		Usage: "the Laatu GraphQL API server for quality documentation",
		UsageText: "laatu [flags] [command [command flags]]\n" +
			"laatu with no command serves, like laatu serve. Every flag has an environment variable; the flag wins.",
		Flags:    settingFlags(getenv),
		Commands: commands(e),
		// No command: serve, so that `go run .` starts the server.
		Action:                 func(ctx context.Context, cmd *cli.Command) error { return e.serve(ctx, cmd) },
		Writer:                 stdout,
		ErrWriter:              stderr,
		HideVersion:            true,
		EnableShellCompletion:  false,
		UseShortOptionHandling: false,
		// Errors are printed and mapped to exit codes by Run, never by os.Exit in the library.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
	}
	onUsageError(root)
	err := root.Run(ctx, append([]string{"laatu"}, args...))
	return exitCode(err, stderr)
}

// env is what every command's actions share: the injected environment and output streams.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// config builds the configuration from the flags and the environment.
func (e *env) config(cmd *cli.Command) (config.Config, error) {
	return config.Build(func(s config.Setting) string {
		if !cmd.IsSet(s.Flag) {
			return s.Default
		}
		switch s.Kind() {
		case config.KindBool:
			return strconv.FormatBool(cmd.Bool(s.Flag))
		case config.KindInt:
			return strconv.FormatInt(cmd.Int64(s.Flag), 10)
		case config.KindDuration:
			return cmd.Duration(s.Flag).String()
		case config.KindList:
			return strings.Join(cmd.StringSlice(s.Flag), ",")
		}
		return cmd.String(s.Flag)
	})
}

// logger is the application log, on stderr: stdout is kept for results and the audit stream.
func (e *env) logger(cfg config.Config) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	var w io.Writer = e.stderr
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// settingFlags makes one typed flag per configuration setting, with its variable as fallback.
func settingFlags(getenv func(string) string) []cli.Flag {
	var flags []cli.Flag
	for _, s := range config.Settings() {
		src := cli.NewValueSourceChain(envSource{key: s.Env, getenv: getenv})
		cat := category(s.Flag)
		switch s.Kind() {
		case config.KindBool:
			def, _ := strconv.ParseBool(s.Default)
			use := s.Usage
			if def {
				use += " (default: true; --" + s.Flag + "=false turns it off)"
			}
			flags = append(flags, &cli.BoolFlag{Name: s.Flag, Usage: use, Value: def, Sources: src, Category: cat})
		case config.KindInt:
			def, _ := strconv.ParseInt(s.Default, 10, 64)
			flags = append(flags, &cli.Int64Flag{Name: s.Flag, Usage: s.Usage, Value: def, Sources: src, Category: cat})
		case config.KindDuration:
			def, _ := time.ParseDuration(s.Default)
			flags = append(flags, &cli.DurationFlag{Name: s.Flag, Usage: s.Usage, Value: def, Sources: src, Category: cat})
		case config.KindList:
			flags = append(flags, &cli.StringSliceFlag{Name: s.Flag, Usage: s.Usage, Sources: src, Category: cat})
		default:
			flags = append(flags, &cli.StringFlag{Name: s.Flag, Usage: s.Usage, Value: s.Default, Sources: src, Category: cat})
		}
	}
	return flags
}

// category groups the flags in help: the store flags every command uses first.
func category(flag string) string {
	switch flag {
	case "mode", "data-dir", "database-url", "admin-database-url", "auto-migrate", "allow-embedded-store", "seed-demo":
		return "store"
	case "log-level", "log-format", "audit-log":
		return "logs"
	case "smtp-addr", "smtp-from", "smtp-user", "smtp-password":
		return "mail"
	}
	return "serving"
}

// envSource is an environment variable read through the injected getenv; an empty value
// counts as unset, as it always has for Laatu's variables.
type envSource struct {
	key    string
	getenv func(string) string
}

func (s envSource) Lookup() (string, bool) {
	v := s.getenv(s.key)
	return v, v != ""
}
func (s envSource) IsFromEnv() bool  { return true }
func (s envSource) Key() string      { return s.key }
func (s envSource) String() string   { return "environment variable " + strconv.Quote(s.key) }
func (s envSource) GoString() string { return "envSource{" + strconv.Quote(s.key) + "}" }

// usageError is a mistake in the command line: exit 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// usage reports a usage error (exit 2).
func usage(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitError ends the command with a code and no message of its own (the command has said
// what it had to).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// exit ends the command silently with code.
func exit(code int) error { return exitError(code) }

// onUsageError marks the library's own parse errors (unknown flag, bad value) as usage
// errors, in every command.
func onUsageError(cmd *cli.Command) {
	cmd.OnUsageError = func(_ context.Context, _ *cli.Command, err error, _ bool) error { return usageError{err} }
	for _, sub := range cmd.Commands {
		onUsageError(sub)
	}
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var code exitError
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintln(stderr, "laatu:", err)
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintln(stderr, "laatu help lists the commands; laatu COMMAND --help shows a command's flags")
		return 2
	}
	return 1
}

// noArgs refuses positional arguments an action does not take (a misspelt command, a
// forgotten "--"), instead of ignoring them.
func noArgs(cmd *cli.Command) error {
	if cmd.Args().Len() > 0 {
		if cmd.Root() == cmd || slices.ContainsFunc(cmd.Commands, func(c *cli.Command) bool { return c.Name != "help" }) {
			return usage("unknown command %q", cmd.Args().First())
		}
		return usage("unexpected arguments: %s", strings.Join(cmd.Args().Slice(), " "))
	}
	return nil
}
