// Package cli is the laatu command: every subcommand, its flags and its exit code.
//
// The command is built on github.com/urfave/cli/v3. Every configuration setting of
// internal/config is a typed flag of the root command with its environment variable as a
// fallback (the flag wins), and flags are inherited: every subcommand takes the same store
// flags (--data-dir, --database-url, --admin-database-url, --mode, ...), before or after its
// name. Human text (banners, progress, logs) goes to stderr; stdout carries only a command's
// result (a table, an export) and, in prod, the audit stream.
//
// # Adding a subcommand
//
//  1. Write one file per command group, named after it (serve.go, migrate.go, audit.go):
//     a function func xxxCommand(e *env) *cli.Command that returns the command, its own
//     flags and its subcommands, and one small function per action.
//  2. Register it in the one list, commands() in cli.go. `laatu help` lists it from there.
//  3. In an action, call e.config(cmd) for the configuration, e.logger(cfg) for the log, and
//     openServer/openOwner (store.go) for the database: never read flags or the environment
//     yourself. Write results to e.stdout and messages to e.stderr.
//  4. Return an error to fail (exit 1, printed as "laatu: ..."), usage(...) for a usage
//     error (exit 2), or exit(code) for a silent exit code (e.g. verify found tampering).
//  5. Test it through Run, as cli_test.go does: args, environment and output are all injected.
package cli
