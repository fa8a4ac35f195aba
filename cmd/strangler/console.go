package main

import (
	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/console"
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
proxy's admin API like 'strangler route'. Configured by configs/console.yaml
(STRANGLER_CONSOLE_<KEY>; the token: STRANGLER_CONSOLE_PROXY_TOKEN).`,
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
