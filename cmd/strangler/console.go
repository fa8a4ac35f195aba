package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/console"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/deadletter"
)

func newConsoleCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the operator console: routes, plans, SLOs, shadow diffs, data path and audit in a browser",
		Long: `Serve the operator console on a loopback address (listen, default
127.0.0.1:8095; another address needs tls). Log in with the proxy's admin
token. Every figure is read from the parts' APIs (proxy.admin_url, cdc_url,
syncback_url) and pushed to the page every refresh; actions (mode, weight,
plan start/pause/resume/abort) need a reason and a confirmation and go to the
proxy's admin API like 'strangler route'. Dead letters are listed and replayed
with the cdc's config (cdc_config, default configs/cdc.yaml) as 'strangler
deadletters' does: a replay from the console is the CLI's, under the position
guard, with the same audit line (by names the operator, the confirmation and
the reason). Configured by configs/console.yaml (STRANGLER_CONSOLE_<KEY>; the
token: STRANGLER_CONSOLE_PROXY_TOKEN).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := console.DefaultConfig()
			if err := a.load(cmd, "console", &cfg, map[string]string{"listen": "listen", "proxy.admin_url": "admin-url"}); err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			d := console.Deps{Logger: log}
			if cfg.Migration.ControlTable != "" {
				if d.DynamoDB, err = cfg.Migration.DynamoDB.DynamoDB(cmd.Context()); err != nil {
					return err
				}
			}
			if cfg.DeadLetters {
				if d.DeadLetters, err = a.consoleDeadLetters(cmd.Context(), cfg.CDCConfig); err != nil {
					return err
				}
			}
			s, err := console.New(cfg, d)
			if err != nil {
				return err
			}
			return s.Run(cmd.Context())
		},
	}
	cmd.Flags().String("listen", "", "address of the console (key listen)")
	cmd.Flags().String("admin-url", "", "the proxy's admin API (key proxy.admin_url)")
	return cmd
}

// consoleDeadLetters reads the cdc's config at file as 'strangler
// deadletters' does and returns its dead letters, replayed by the CLI's
// replayer.
func (a *app) consoleDeadLetters(ctx context.Context, file string) (console.DeadLetters, error) {
	cfg := cdc.DefaultConfig()
	if err := config.Load(config.Source{Part: "cdc", File: file}, &cfg); err != nil {
		return nil, fmt.Errorf("console: dead letters are read with the cdc's config (cdc_config %q; dead_letters: false hides them): %w", file, err)
	}
	ddb, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	store := deadletter.NewStore(ddb, cfg.ControlTable, nil)
	return console.StoreDeadLetters{Store: store, NewReplayer: func(ctx context.Context, by string) (*deadletter.Replayer, func(), error) {
		return a.replayer(ctx, store, cfg, by)
	}}, nil
}
