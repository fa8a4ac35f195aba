package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/internal/tracing"
)

// traced runs fn with the tracer provider of part that
// STRANGLER_TRACE_EXPORTER asks for (off by default; "stdout" writes the
// spans to standard output, "otlp" batches them to the collector of
// OTEL_EXPORTER_OTLP_ENDPOINT), flushing the spans when fn returns (on
// SIGTERM too: fn returns when its context ends). A value that names no
// exporter, or an OTLP endpoint that is not a URL, is refused before fn
// starts, naming the variable.
func (a *app) traced(part string, log *slog.Logger, fn func(tp trace.TracerProvider) error) error {
	tp, shutdown, err := tracing.Provider(os.Getenv(tracing.EnvExporter), part, a.stdout)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Warn("flushing the spans failed", "err", err)
		}
	}()
	return fn(tp)
}
