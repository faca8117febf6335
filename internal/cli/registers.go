package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/internal/gdpr"
)

func registersCommand(e *env) *cli.Command {
	return &cli.Command{
		Name: "registers",
		Usage: "print the record of processing of personal data (GDPR Art. 30), from the schema's @personal " +
			"declarations and --controller, --controller-contact and --processors",
		Flags:  []cli.Flag{&cli.StringFlag{Name: "format", Value: "md", Usage: "md (Markdown) or json"}},
		Action: e.registers,
	}
}

func (e *env) registers(_ context.Context, cmd *cli.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	format := cmd.String("format")
	if format != "md" && format != "json" {
		return usage("--format must be md or json, got %q", format)
	}
	cfg, err := e.config(cmd)
	if err != nil {
		return err
	}
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	r, err := gdpr.NewRegister(schema, gdpr.Controller{Name: cfg.Controller, Contact: cfg.ControllerContact}, cfg.Processors)
	if err != nil {
		return err
	}
	if format == "json" {
		b, err := r.JSON()
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(b)
		return err
	}
	_, err = fmt.Fprint(e.stdout, r.Markdown())
	return err
}
