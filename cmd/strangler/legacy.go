package main

import (
	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/legacy"
)

func newLegacyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "legacy",
		Short: "The reference legacy order monolith (HTTP API over MySQL)",
	}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the legacy order API over the MySQL orders table",
		Long: `Serve the order API of shared/DESIGN.md over the legacy MySQL table. It
creates and migrates the table at start, authenticates bearer API keys bound to
a channel, stores each order in one transaction and then calls inventory and
accounting synchronously — the monolith's flaw, counted in
legacy_orders_unreported_total. Configured by configs/legacy.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := legacy.DefaultConfig()
			if err := a.load(cmd, "legacy", &cfg, map[string]string{
				"listen":                    "listen",
				"faults.crash_after_commit": "crash-after-commit",
			}); err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			return legacy.Run(cmd.Context(), cfg, log)
		},
	}
	serve.Flags().String("listen", "", "HTTP address (key listen)")
	serve.Flags().Bool("crash-after-commit", false, "exit right after an order commits, before downstream hears of it (key faults.crash_after_commit)")
	cmd.AddCommand(serve)
	return cmd
}
