package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/laatu/laatu/internal/config"
)

func configCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "print every setting (flag, environment variable, default) as the README's table",
		Action: func(_ context.Context, cmd *cli.Command) error {
			if err := noArgs(cmd); err != nil {
				return err
			}
			fmt.Fprint(e.stdout, config.Markdown())
			return nil
		},
	}
}
