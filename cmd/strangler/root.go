package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/anycompany/strangler/internal/config"
)

// app carries what every subcommand shares: the output streams and the
// global flags. It is built once in run and never copied.
type app struct {
	stdout, stderr io.Writer
	configFile     string
	logFormat      string
	logLevel       string
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "strangler",
		Short: "Migrate an order service off a MySQL monolith onto DynamoDB + EventBridge, a slice of traffic at a time",
		Long: `strangler moves an order service off a legacy MySQL monolith onto an
event-driven design (DynamoDB + EventBridge) with the strangler-fig pattern.

Each part is a subcommand configured by configs/<part>.yaml, STRANGLER_<PART>_<KEY>
environment variables and flags (in rising precedence).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "config file (default configs/<part>.yaml when present)")
	pf.StringVar(&a.logFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")

	root.AddCommand(
		newVersionCmd(a),
		newLegacyCmd(a),
		newDevCmd(a),
		newLoadgenCmd(a),
		newProxyCmd(a),
		newRouteCmd(a),
		newMigrateCmd(a),
		newCdcCmd(a),
		newDoctorCmd(a),
		newSyncbackCmd(a),
		newOrdersCmd(a),
		newConsoleCmd(a),
		newAWSCmd(a),
		newDeadLettersCmd(a),
	)
	return root
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			rev := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			fmt.Fprintf(a.stdout, "strangler %s (revision %s, %s, %s/%s)\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// load fills cfg for part from the config file, env and the given flags
// (config key -> flag name on cmd).
func (a *app) load(cmd *cobra.Command, part string, cfg config.Validator, flags map[string]string) error {
	bound := map[string]*pflag.Flag{}
	for key, name := range flags {
		f := cmd.Flags().Lookup(name)
		if f == nil {
			return fmt.Errorf("internal: flag --%s for key %s is not defined", name, key)
		}
		bound[key] = f
	}
	return config.Load(config.Source{Part: part, File: a.configFile, Flags: bound}, cfg)
}

// logger builds the process logger: text on a terminal, JSON otherwise.
func (a *app) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, &config.Error{Part: "cli", Key: "--log-level", Value: a.logLevel, Allowed: "debug, info, warn, error"}
	}
	opts := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(a.logFormat)
	if format == "auto" {
		format = "json"
		if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, &config.Error{Part: "cli", Key: "--log-format", Value: a.logFormat, Allowed: "auto, text, json"}
}

// isTerminal reports whether w is a terminal (for progress bars).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
