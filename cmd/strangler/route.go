package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/proxy"
)

// routeFlags are the connection flags of every 'strangler route' command.
type routeFlags struct {
	adminURL string
	token    string
	asJSON   bool
}

func (f *routeFlags) client() (*proxy.AdminClient, error) {
	tok := f.token
	if tok == "" {
		tok = os.Getenv("STRANGLER_PROXY_ADMIN_TOKEN")
	}
	if tok == "" {
		return nil, &usageError{fmt.Errorf("no admin token: pass --token or set STRANGLER_PROXY_ADMIN_TOKEN")}
	}
	return &proxy.AdminClient{BaseURL: f.adminURL, Token: tok}, nil
}

func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "cli"
}

func newRouteCmd(a *app) *cobra.Command {
	f := &routeFlags{}
	cmd := &cobra.Command{
		Use:   "route",
		Short: "Operate the proxy's routes and write groups through its admin API: list, set, plan, history",
		Long: `Operate a running 'strangler proxy serve' through its admin API: list the
routes with live figures, set a route's mode and weight, run a progressive
plan, and read the audit log. Every change names an actor and a reason, and is
persisted and audited by the proxy.

A write group (write_groups in configs/proxy.yaml) moves its write routes
together: set and plan it by its name as a route (its members refuse changes
of their own), so every call on one order goes to one backend. Raising it is
refused while the cdc lags over the group's max_cdc_lag.`,
	}
	pf := cmd.PersistentFlags()
	adminURL := os.Getenv("STRANGLER_ADMIN_URL")
	if adminURL == "" {
		adminURL = "http://127.0.0.1:8089"
	}
	pf.StringVar(&f.adminURL, "admin-url", adminURL, "admin API of the proxy (env STRANGLER_ADMIN_URL)")
	pf.StringVar(&f.token, "token", "", "admin bearer token (default: env STRANGLER_PROXY_ADMIN_TOKEN)")
	pf.BoolVar(&f.asJSON, "json", false, "print the admin API's JSON answer")

	list := &cobra.Command{
		Use:   "list",
		Short: "List routes: mode, weight, requests, errors, p50/p99 of the last minute per backend, plan",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			v, err := c.Routes(cmd.Context())
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(a, v)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROUTE\tMATCH\tMODE\tWEIGHT\tLEGACY req/err p50/p99 ms\tNEW req/err p50/p99 ms\tPLAN\tLAST CHANGE")
			for _, r := range v.Routes {
				planState := "-"
				if r.Plan != nil {
					planState = fmt.Sprintf("%s step %d/%d", r.Plan.State, r.Plan.Step+1, len(r.Plan.Steps))
				} else if r.HasPlan {
					planState = "configured"
				}
				fig := func(b proxy.Backend) string {
					x := r.Backends[b]
					return fmt.Sprintf("%d/%d %.1f/%.1f", x.Requests, x.Errors, x.Last60s.P50ms, x.Last60s.P99ms)
				}
				last := "-"
				if r.State.Actor != "" {
					last = fmt.Sprintf("%s: %s", r.State.Actor, r.State.Reason)
				}
				if r.Group != "" {
					planState, last = "group "+r.Group, "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%g\t%s\t%s\t%s\t%s\n", r.Name, r.Match, r.State.Mode, r.State.Weight,
					fig(proxy.BackendLegacy), fig(proxy.BackendNew), planState, last)
			}
			for _, g := range v.Groups {
				planState := "-"
				if g.Plan != nil {
					planState = fmt.Sprintf("%s step %d/%d", g.Plan.State, g.Plan.Step+1, len(g.Plan.Steps))
				} else if g.HasPlan {
					planState = "configured"
				}
				last := "-"
				if g.State.Actor != "" {
					last = fmt.Sprintf("%s: %s", g.State.Actor, g.State.Reason)
				}
				fmt.Fprintf(tw, "%s\twrite group: %s\t%s\t%g\t\t\t%s\t%s\n", g.Name, strings.Join(g.Routes, ", "), g.State.Mode, g.State.Weight, planState, last)
			}
			for _, b := range v.Backends {
				fmt.Fprintf(tw, "backend %s\t%s\thealthy=%t\t%s\n", b.Name, b.URL, b.Healthy, b.Circuit)
			}
			switch d := v.PlanDriver; {
			case d.Driving && d.Holder != "":
				fmt.Fprintf(tw, "plans\tdriven here (%s holds the plan lease)\n", d.Holder)
			case !d.Driving && d.Holder != "":
				fmt.Fprintf(tw, "plans\tdriven by %s (plan actions go to its admin API)\n", d.Holder)
			case !d.Driving:
				fmt.Fprintf(tw, "plans\tnot driven right now (the plan lease is free)\n")
			}
			return tw.Flush()
		},
	}

	var mode, actor, reason, weight string
	set := &cobra.Command{
		Use:   "set ROUTE",
		Short: "Set a route's mode and/or weight (persisted, audited, applied by every replica)",
		Example: `  strangler route set order-writes --mode canary --weight 5 --reason "start canary"
  strangler route set get-order --weight 0 --reason "rollback: p99 up"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			req := proxy.SetRouteRequest{Actor: actor, Reason: reason}
			if mode != "" {
				req.Mode = &mode
			}
			if weight != "" {
				w, err := strconv.ParseFloat(weight, 64)
				if err != nil {
					return &usageError{fmt.Errorf("--weight %q: want a number 0-100", weight)}
				}
				req.Weight = &w
			}
			if req.Mode == nil && req.Weight == nil {
				return &usageError{fmt.Errorf("pass --mode, --weight or both")}
			}
			st, err := c.SetRoute(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(a, st)
			}
			fmt.Fprintf(a.stdout, "%s: mode %s, weight %g (version %d)\n", args[0], st.Mode, st.Weight, st.Version)
			return nil
		},
	}
	set.Flags().StringVar(&mode, "mode", "", "legacy, shadow, canary or new")
	set.Flags().StringVar(&weight, "weight", "", "percent of sticky buckets to new, 0-100, two decimals")
	set.Flags().StringVar(&actor, "actor", defaultActor(), "who makes the change (audit log)")
	set.Flags().StringVar(&reason, "reason", "", "why (audit log; required)")

	var (
		steps, bake, maxP99 string
		max5xx              float64
		minReq              int
		planActor, planWhy  string
	)
	planCmd := &cobra.Command{
		Use:   "plan ROUTE start|pause|resume|abort",
		Short: "Start, pause, resume or abort a route's progressive plan",
		Long: `Start (the route's plan from configs/proxy.yaml, or the one given by --steps,
--bake and the SLO flags), pause, resume or abort a route's progressive plan.
Abort sends the route back to weight 0.`,
		Example: `  strangler route plan order-writes start --reason "the canary of the writes"
  strangler route plan order-writes start --reason "a faster plan" --steps 1,5,25,50,100 --bake 5m --max-5xx 0.01 --max-p99 250ms --min-requests 100
  strangler route plan order-writes abort --reason "new drops the coupon"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(planWhy) == "" {
				return &usageError{fmt.Errorf("--reason is required: say why (it goes to the plan's history and the audit log)")}
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			req := proxy.PlanRequest{Action: args[1], Actor: planActor, Reason: planWhy}
			if steps != "" {
				spec := &proxy.PlanSpec{Bake: bake}
				for _, s := range strings.Split(steps, ",") {
					w, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
					if err != nil {
						return &usageError{fmt.Errorf("--steps %q: want weights like 1,5,25,50,100", steps)}
					}
					spec.Steps = append(spec.Steps, w)
				}
				spec.SLO.Max5xxRatio, spec.SLO.MaxP99, spec.SLO.MinRequests = max5xx, maxP99, minReq
				req.Plan = spec
			}
			st, err := c.Plan(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(a, st)
			}
			fmt.Fprintf(a.stdout, "%s: plan %s, step %d/%d at %g%%: %s\n", args[0], st.State, st.Step+1, len(st.Steps), st.Weight, st.Reason)
			return nil
		},
	}
	planCmd.Flags().StringVar(&steps, "steps", "", "weights to go through, e.g. 1,5,25,50,100 (default: the route's configured plan)")
	planCmd.Flags().StringVar(&bake, "bake", "5m", "time each step must hold inside the SLO")
	planCmd.Flags().Float64Var(&max5xx, "max-5xx", 0.01, "largest tolerated 5xx ratio of the new backend")
	planCmd.Flags().StringVar(&maxP99, "max-p99", "", "largest tolerated p99 latency of the new backend, e.g. 250ms")
	planCmd.Flags().IntVar(&minReq, "min-requests", 100, "requests new must serve in a step before any decision")
	planCmd.Flags().StringVar(&planActor, "actor", defaultActor(), "who acts (audit log)")
	planCmd.Flags().StringVar(&planWhy, "reason", "", "why (the plan's history and the audit log; required)")

	var histRoute string
	var limit int
	history := &cobra.Command{
		Use:   "history",
		Short: "Print the audit log of route changes, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			entries, err := c.Audit(cmd.Context(), histRoute, limit)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(a, entries)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tROUTE\tACTOR\tBEFORE\tAFTER\tREASON")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s %g\t%s %g\t%s\n", e.At.Format(time.RFC3339), e.Route, e.Actor,
					e.Before.Mode, e.Before.Weight, e.After.Mode, e.After.Weight, e.Reason)
			}
			return tw.Flush()
		},
	}
	history.Flags().StringVar(&histRoute, "route", "", "only this route")
	history.Flags().IntVar(&limit, "limit", 50, "at most this many entries (1-1000)")

	cmd.AddCommand(list, set, planCmd, history)
	return cmd
}

func printJSON(a *app, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
