// Package clock holds the real-time defaults that components take as
// injected functions, so tests can replace them and production code does not
// repeat them.
package clock

import (
	"context"
	"time"
)

// Sleep waits d or until ctx ends, whichever is first; it returns ctx's error
// in the second case. It is the default of every injected sleep.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
