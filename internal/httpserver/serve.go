// Package httpserver runs an http.Handler with the toolkit's timeouts and a
// graceful drain, the same way in every service.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Serve listens on l (with TLS when l.TLS is set) and serves h until ctx
// ends, then shuts down gracefully within drain.
func Serve(ctx context.Context, l Listener, h http.Handler, drain time.Duration, logger *slog.Logger) error {
	hs := server(h, logger)
	hs.ReadTimeout, hs.WriteTimeout = 30*time.Second, 30*time.Second
	return run(ctx, l, hs, func() time.Duration { return drain }, 0, logger)
}

// ServeStreams is Serve for a handler that streams bodies (the proxy): it
// keeps ReadHeaderTimeout, against clients that never finish their
// headers, and IdleTimeout, but has no ReadTimeout or WriteTimeout, which
// would cut off a streamed request or response after a fixed time whatever
// its progress. drain is asked at shutdown, so it may change while serving.
// maxConns, when positive, caps the client connections open at once (see
// LimitListener).
func ServeStreams(ctx context.Context, l Listener, h http.Handler, drain func() time.Duration, maxConns int, logger *slog.Logger) error {
	return run(ctx, l, server(h, logger), drain, maxConns, logger)
}

func server(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

func run(ctx context.Context, l Listener, hs *http.Server, drain func() time.Duration, maxConns int, logger *slog.Logger) error {
	addr := l.Addr
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	if maxConns > 0 {
		ln = LimitListener(ln, maxConns)
	}
	if ln, err = l.TLS.Wrap(ln); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "tls", l.TLS.Enabled())
	select {
	case err := <-errc:
		return fmt.Errorf("serving %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain())
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("draining %s: %w", addr, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// ServeMetrics serves g's Prometheus metrics on GET /metrics at l in the
// background until ctx ends; an empty address serves nothing. A listener
// that fails is logged, not fatal: the work the metrics describe goes on.
func ServeMetrics(ctx context.Context, l Listener, g prometheus.Gatherer, logger *slog.Logger) {
	if l.Addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	go func() {
		if err := Serve(ctx, l, mux, time.Second, logger.With("component", "metrics")); err != nil {
			logger.Warn("metrics endpoint unavailable", "err", err)
		}
	}()
}
