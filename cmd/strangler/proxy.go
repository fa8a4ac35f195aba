package main

import (
	"os"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/proxy"
)

func newProxyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "The strangler reverse proxy in front of the legacy and the new order service",
	}
	flags := map[string]string{
		"listen":          "listen",
		"admin.listen":    "admin-listen",
		"backends.legacy": "legacy-url",
		"backends.new":    "new-url",
		"gomaxprocs":      "gomaxprocs",
	}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the order API, routing each call to legacy or new by route, weight and sticky key",
		Long: `Serve the order API in front of two backends (backends.legacy, backends.new).
Each route of configs/proxy.yaml matches a method and a path pattern and has a
mode: legacy, shadow (legacy answers, new gets a copy compared field by
field), canary (the keys whose sticky bucket fmix64(fnv1a64(key)) mod 10000 is
below weight*100 go to new) or new. Ids with the ord_ prefix always go to new;
a POST with an Idempotency-Key stays on the backend that first saw the key for
24 h. Every response names its backend in X-Strangler-Backend; a tester may
force one with X-Strangler-Backend plus X-Strangler-Force-Token: force.token
(off unless configured; without the token the header is ignored). A client's
own X-Strangler-* and dry-run headers are dropped before any backend.

The admin API (admin.listen, bearer admin.token) lists live figures, changes
modes and weights, runs progressive plans and serves the audit log and the
shadow diffs; 'strangler route' is its CLI. Changes are persisted with their
audit entry in the DynamoDB control table (control.table) and picked up by
every replica within control.poll. One replica, the holder of the plan lease
(control.plan_lease), drives progressive plans; the others refuse plan actions
naming it, and one of them takes over when it dies. Editing the config file
applies it live (routes, backends, transport, health, circuit, limits, ...);
listen addresses, the admin token, the control table and the DynamoDB endpoint
need a restart (logged by key, running value kept); an invalid file is refused
and the running configuration kept.`,
		Example: `  STRANGLER_PROXY_ADMIN_TOKEN=$(openssl rand -hex 16) strangler proxy serve
  strangler proxy serve --legacy-url http://127.0.0.1:8080 --new-url http://127.0.0.1:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			load := func() (proxy.Config, error) {
				cfg := proxy.DefaultConfig()
				err := a.load(cmd, "proxy", &cfg, flags)
				return cfg, err
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			file := a.configFile
			if file == "" {
				if _, err := os.Stat("configs/proxy.yaml"); err == nil {
					file = "configs/proxy.yaml"
				}
			}
			return a.traced("proxy", log, func(tp trace.TracerProvider) error {
				return proxy.Run(cmd.Context(), cfg, proxy.Deps{Logger: log, Reload: load, ConfigFile: file, Tracer: tp})
			})
		},
	}
	serve.Flags().String("listen", "", "HTTP address of the proxied API (key listen)")
	serve.Flags().String("admin-listen", "", "HTTP address of the admin API (key admin.listen)")
	serve.Flags().String("legacy-url", "", "base URL of the legacy service (key backends.legacy)")
	serve.Flags().String("new-url", "", "base URL of the new service (key backends.new)")
	serve.Flags().Int("gomaxprocs", 0, "cap the Go scheduler's threads (key gomaxprocs)")
	cmd.AddCommand(serve)
	return cmd
}
