package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/internal/deadletter"
)

// deadFlags are the flags every 'strangler deadletters' command shares.
type deadFlags struct {
	source string
	by     string
}

// sourceOf reads --source; list may leave it empty (every source).
func (f *deadFlags) sourceOf(required bool) ([]deadletter.Source, error) {
	if f.source == "" {
		if required {
			return nil, &usageError{errors.New("--source is required: one of cdc, relay, backfill, bus")}
		}
		return deadletter.Sources, nil
	}
	src, err := deadletter.ParseSource(f.source)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--source: %w", err)}
	}
	return []deadletter.Source{src}, nil
}

func newDeadLettersCmd(a *app) *cobra.Command {
	f := &deadFlags{}
	cmd := &cobra.Command{
		Use:     "deadletters",
		Aliases: []string{"deadletter", "dl"},
		Short:   "List, show, replay or drop what the cdc, the relay, the backfill and the bus could not deliver",
		Long: `Dead letters are the rows and events the migration could not deliver, each
kept whole with the reason (docs/runbook.md, "Dead letters"): a row the cdc or
the backfill could not write keeps its full row image and source position; an
event the bus refused keeps its full detail. They live in the control table.

  list     every dead letter of a source (all sources without --source)
  show     one dead letter with its payload
  replay   redo it once its fault is cleared: a row is written under the
           position guard (never over a newer image of its key) with the
           mapping of the config, then its withheld event is published; an
           event is published again with its own id (consumers drop a
           duplicate). What was redone is removed, with an audit line.
  drop     remove it, with an audit line

They read configs/cdc.yaml (--config): its control_table, dynamodb,
eventbridge, and, to replay rows, its mysql, mapping and table.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.source, "source", "", "cdc, relay, backfill or bus")
	pf.StringVar(&f.by, "by", defaultActor(), "who replays or drops, for the audit line (default $USER)")
	cmd.AddCommand(newDeadListCmd(a, f), newDeadShowCmd(a, f), newDeadReplayCmd(a, f), newDeadDropCmd(a, f))
	return cmd
}

// deadStore opens the dead letters of the cdc config's control table.
func (a *app) deadStore(cmd *cobra.Command) (*deadletter.Store, cdc.Config, error) {
	cfg, err := a.loadCdc(cmd, nil)
	if err != nil {
		return nil, cfg, err
	}
	ddb, err := cfg.DynamoDB.DynamoDB(cmd.Context())
	if err != nil {
		return nil, cfg, err
	}
	return deadletter.NewStore(ddb, cfg.ControlTable, nil), cfg, nil
}

func newDeadListCmd(a *app, f *deadFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List dead letters with their reasons, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sources, err := f.sourceOf(false)
			if err != nil {
				return err
			}
			store, _, err := a.deadStore(cmd)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tID\tKIND\tKEY\tPOSITION\tATTEMPTS\tAT\tBYTES\tREASON")
			total := 0
			for _, src := range sources {
				list, err := store.List(cmd.Context(), src)
				if err != nil {
					return err
				}
				for _, r := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", r.Source, r.ID, r.Kind, r.Key, orDash(r.Position), r.Attempts,
						r.At.Format(time.RFC3339), r.Size, oneLine(r.Reason, 160))
				}
				total += len(list)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d dead letters\n", total)
			return nil
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine is s on one line, at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// idArgs refuses a command line without ids.
func idArgs(f *deadFlags) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			src := f.source
			if src == "" {
				src = "<source>"
			}
			return &usageError{fmt.Errorf("give one or more dead-letter ids, as strangler deadletters list --source %s prints them", src)}
		}
		return nil
	}
}

func newDeadShowCmd(a *app, f *deadFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID...",
		Short: "Print dead letters with their payloads (row image or event detail)",
		Args:  idArgs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachDeadLetter(cmd, f, args, func(_ *deadletter.Store, r deadletter.Record) error {
				return showRecord(a.stdout, r)
			})
		},
	}
}

// eachDeadLetter calls fn with each dead letter of --source that ids
// name, in order, and stops at the first error (an unknown id among them).
func (a *app) eachDeadLetter(cmd *cobra.Command, f *deadFlags, ids []string, fn func(*deadletter.Store, deadletter.Record) error) error {
	sources, err := f.sourceOf(true)
	if err != nil {
		return err
	}
	store, _, err := a.deadStore(cmd)
	if err != nil {
		return err
	}
	for _, id := range ids {
		r, err := store.Get(cmd.Context(), sources[0], id)
		if err != nil {
			return err
		}
		if err := fn(store, r); err != nil {
			return err
		}
	}
	return nil
}

// showRecord prints r and its payload (indented JSON).
func showRecord(w io.Writer, r deadletter.Record) error {
	fmt.Fprintf(w, "source:   %s\nid:       %s\nkind:     %s\nkey:      %s\nposition: %s\nattempts: %d\nat:       %s\nreason:   %s\n",
		r.Source, r.ID, r.Kind, r.Key, orDash(r.Position), r.Attempts, r.At.Format(time.RFC3339Nano), r.Reason)
	if r.ItemWritten {
		fmt.Fprintln(w, "note:     its item is written; a replay publishes its event")
	}
	b, err := json.MarshalIndent(r.Payload, "", "  ")
	if err != nil {
		return fmt.Errorf("printing dead letter %s: %w", r.ID, err)
	}
	_, err = fmt.Fprintf(w, "payload (%d bytes):\n%s\n", r.Size, b)
	return err
}

func newDeadReplayCmd(a *app, f *deadFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "replay ID... | --all",
		Short: "Redo dead letters whose fault is cleared (rows under the position guard, events with their own ids)",
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				if len(args) > 0 {
					return &usageError{errors.New("give ids or --all, not both")}
				}
				return nil
			}
			return idArgs(f)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sources, err := f.sourceOf(true)
			if err != nil {
				return err
			}
			store, cfg, err := a.deadStore(cmd)
			if err != nil {
				return err
			}
			if all {
				list, err := store.List(cmd.Context(), sources[0])
				if err != nil {
					return err
				}
				for _, r := range list {
					args = append(args, r.ID)
				}
			}
			rp, closeDB, err := a.replayer(cmd.Context(), store, cfg, f.by)
			if err != nil {
				return err
			}
			defer closeDB()
			var failed []error
			for _, id := range args {
				line, err := rp.Replay(cmd.Context(), sources[0], id)
				if err != nil {
					fmt.Fprintf(a.stderr, "not replayed: %v\n", err)
					failed = append(failed, err)
					continue
				}
				fmt.Fprintln(a.stdout, line)
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d dead letters not replayed (see above): %w", len(failed), len(args), errors.Join(failed...))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "replay every dead letter of the source")
	return cmd
}

// replayer wires the cdc's Replayer (cdc.NewReplayer) with the CLI's log.
func (a *app) replayer(ctx context.Context, store *deadletter.Store, cfg cdc.Config, by string) (*deadletter.Replayer, func(), error) {
	log, err := a.logger()
	if err != nil {
		return nil, nil, err
	}
	return cdc.NewReplayer(ctx, cfg, store, by, log)
}

func newDeadDropCmd(a *app, f *deadFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "drop ID...",
		Short: "Remove dead letters that need no redoing, each with an audit line",
		Args:  idArgs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachDeadLetter(cmd, f, args, func(store *deadletter.Store, r deadletter.Record) error {
				line, err := store.Remove(cmd.Context(), r, "drop", f.by, "")
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, line)
				return nil
			})
		},
	}
}
