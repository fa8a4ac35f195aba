// Command strangler is the one binary of the toolkit: each runnable part is a
// subcommand that loads its configuration, builds its dependencies and calls
// the part's Run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/anycompany/strangler/internal/config"
)

// version is stamped by the Makefile with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2 // bad configuration or usage
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(&app{stdout: stdout, stderr: stderr})
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case config.IsConfigError(err):
		fmt.Fprintf(stderr, "strangler: bad configuration:\n%v\n", indent(err))
		return exitConfig
	case errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "strangler: %v\nRun 'strangler --help' for usage.\n", err)
		return exitConfig
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return exitOK
	default:
		fmt.Fprintf(stderr, "strangler: %v\n", err)
		return exitFailed
	}
}

// usageError is a command line that cobra rejected.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func indent(err error) string {
	out := "  "
	for _, r := range err.Error() {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}
