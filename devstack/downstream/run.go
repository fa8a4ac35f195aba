package downstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Run serves the stand-ins on cfg.Listen until ctx ends, then shuts down
// gracefully within cfg.ShutdownTimeout; opts are New's.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if ln, err = cfg.TLS.Wrap(ln); err != nil {
		return err
	}
	return New(cfg, logger, opts...).Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully within the
// configured shutdown timeout. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Requests get a context that ends at shutdown, so calls waiting out an
	// injected delay end at once instead of holding the shutdown.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           s.handler,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	s.logger.Info("downstream stand-ins listening", "addr", ln.Addr().String(),
		"inventory", "/inventory/v1/reservations", "accounting", "/accounting/v1/entries",
		"inventory_fail_ratio", s.cfg.Inventory.FailRatio, "inventory_delay", s.cfg.Inventory.Delay.String(),
		"accounting_fail_ratio", s.cfg.Accounting.FailRatio, "accounting_delay", s.cfg.Accounting.Delay.String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	cancelBase()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	s.logger.Info("downstream stand-ins stopped", "stats", s.stats())
	return nil
}
