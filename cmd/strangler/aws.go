package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsiam"
	"github.com/anycompany/strangler/internal/cfn"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/relay"
	"github.com/anycompany/strangler/proxy"
)

// awsOptions are the template's knobs that no part's config holds.
type awsOptions struct {
	configs       string
	name          string
	proxyReplicas int
	retentionDays int
	burst         int
	rate          float64
}

func newAWSCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "aws", Short: "The AWS side as code: the CloudFormation template and its IAM data"}
	var o awsOptions
	var out string
	tmpl := &cobra.Command{
		Use:   "template",
		Short: "Write the CloudFormation template of the AWS side from the parts' configs",
		Long: `Write one CloudFormation template (JSON) made from configs/<part>.yaml of the
orders service, the relay, the cdc, the proxy, the migrator and the bus's
rules, with each part's IAM policy from internal/awsiam/observed.json (the
calls the part was seen to make). See docs/aws.md. The template is checked
before it is written (every reference resolves, every function has a log
group, every queue a redrive policy, nothing public but the HTTP API and the
ALB, no IAM wildcard); a failed check writes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := awsTemplate(o)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = a.stdout.Write(append(raw, '\n'))
				return err
			}
			return os.WriteFile(out, append(raw, '\n'), 0o644)
		},
	}
	f := tmpl.Flags()
	f.StringVarP(&out, "output", "o", "", "file to write (default stdout)")
	f.StringVar(&o.configs, "configs", "configs", "folder of the parts' <part>.yaml")
	f.StringVar(&o.name, "name", "strangler", "name prefix of the resources")
	f.IntVar(&o.proxyReplicas, "proxy-replicas", 2, "proxy tasks behind the ALB")
	f.IntVar(&o.retentionDays, "log-retention-days", 30, "retention of every log group")
	f.IntVar(&o.burst, "api-burst", 200, "the HTTP API's burst limit")
	f.Float64Var(&o.rate, "api-rate", 100, "the HTTP API's steady requests per second")

	var mergeOut string
	merge := &cobra.Command{
		Use:   "iam-merge DIR...",
		Short: "Merge IAM recordings (scripts/iam-observe.sh) into internal/awsiam/observed.json",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			grants, err := awsiam.Merge(dirs...)
			if err != nil {
				return err
			}
			b, err := awsiam.Encode(grants)
			if err != nil {
				return err
			}
			return os.WriteFile(mergeOut, b, 0o644)
		},
	}
	merge.Flags().StringVarP(&mergeOut, "output", "o", filepath.Join("internal", "awsiam", "observed.json"), "file to write")
	cmd.AddCommand(tmpl, merge)
	return cmd
}

// awsTemplate builds, checks and encodes the template.
func awsTemplate(o awsOptions) ([]byte, error) {
	spec, err := awsSpec(o)
	if err != nil {
		return nil, err
	}
	t, err := cfn.Build(spec)
	if err != nil {
		return nil, err
	}
	raw, err := t.JSON()
	if err != nil {
		return nil, fmt.Errorf("encoding the template: %w", err)
	}
	if errs := cfn.Check(raw); len(errs) > 0 {
		return nil, fmt.Errorf("the template fails its checks: %w", errors.Join(errs...))
	}
	return raw, nil
}

// partConfigs are the configs the template is made from.
type partConfigs struct {
	orders   orders.Config
	relay    relay.Config
	cdc      cdc.Config
	proxy    proxy.Config
	migrator migrator.Config
	bus      eventbus.Config
}

func loadPartConfigs(dir string) (partConfigs, error) {
	c := partConfigs{orders: orders.DefaultConfig(), relay: relay.DefaultConfig(), cdc: cdc.DefaultConfig(),
		proxy: proxy.DefaultConfig(), migrator: migrator.DefaultConfig(), bus: eventbus.DefaultConfig()}
	for part, cfg := range map[string]config.Validator{"orders": &c.orders, "relay": &c.relay, "cdc": &c.cdc,
		"proxy": &c.proxy, "migrator": &c.migrator, "eventbus": &c.bus} {
		if err := config.Load(config.Source{Part: part, File: filepath.Join(dir, part+".yaml")}, cfg); err != nil {
			return c, err
		}
	}
	return c, nil
}

// awsSpec fills the template's spec from the configs, refusing configs
// that disagree about a shared name.
func awsSpec(o awsOptions) (cfn.Spec, error) {
	c, err := loadPartConfigs(o.configs)
	if err != nil {
		return cfn.Spec{}, err
	}
	for _, same := range []struct {
		what string
		a, b string
	}{
		{"relay table vs orders service_table", c.relay.Table, c.orders.ServiceTable},
		{"cdc table vs orders table", c.cdc.Table, c.orders.Table},
		{"migrator table vs orders table", c.migrator.Table, c.orders.Table},
		{"migrator index.name vs orders index", c.migrator.Index.Name, c.orders.Index},
		{"cdc control_table vs migrator control_table", c.cdc.ControlTable, c.migrator.ControlTable},
		{"proxy control.table vs migrator control_table", c.proxy.Control.Table, c.migrator.ControlTable},
		{"relay shards vs orders outbox.shards", strconv.Itoa(c.relay.Shards), strconv.Itoa(c.orders.Outbox.Shards)},
	} {
		if same.a != same.b {
			return cfn.Spec{}, fmt.Errorf("configs disagree: %s (%q, %q): one deployment has one of each", same.what, same.a, same.b)
		}
	}
	obs, err := awsiam.Load()
	if err != nil {
		return cfn.Spec{}, err
	}
	s := cfn.Spec{
		Name: o.name, OrdersTable: c.orders.Table, OrdersIndex: c.orders.Index,
		IndexPartition: c.migrator.Index.Partition, IndexSort: c.migrator.Index.Sort, TTLAttribute: codec.AttrExpires,
		ServiceTable: c.orders.ServiceTable, ControlTable: c.migrator.ControlTable,
		CDCSource: c.cdc.Events.Source, ServiceSource: c.relay.Events.Source, OutboxShards: c.orders.Outbox.Shards,
		ProxyReplicas: o.proxyReplicas, LogRetentionDays: o.retentionDays, ThrottleBurst: o.burst, ThrottleRate: o.rate,
	}
	if s.ProxyPort, err = port(c.proxy.Listen); err != nil {
		return s, fmt.Errorf("proxy listen: %w", err)
	}
	if s.ProxyAdminPort, err = port(c.proxy.Admin.Listen); err != nil {
		return s, fmt.Errorf("proxy admin.listen: %w", err)
	}
	for _, g := range obs.Grants {
		s.Grants = append(s.Grants, cfn.Grant{Part: g.Part, Action: g.Action, Resource: g.Resource})
	}
	s.Rules = busRules(c)
	return s, nil
}

// busRules are the bus's rules with their targets: the processor's sink
// becomes the processor function, every other HTTP target an API
// destination with the target's kind of credential.
func busRules(c partConfigs) []cfn.Rule {
	var rules []cfn.Rule
	for _, r := range c.bus.Rules {
		rule := cfn.Rule{Name: r.Name, Pattern: r.Pattern}
		for _, t := range r.Targets {
			tg := cfn.Target{Name: t.Name, MaxAttempts: t.MaxAttempts, APIKeyHeader: t.Connection.APIKeyName, Username: t.Connection.Username}
			if u, err := url.Parse(t.URL); err == nil && u.Host == c.orders.Processor.Listen {
				tg = cfn.Target{Name: t.Name, Function: cfn.PartProcessor, MaxAttempts: t.MaxAttempts}
			}
			rule.Targets = append(rule.Targets, tg)
		}
		rules = append(rules, rule)
	}
	return rules
}

func port(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}
