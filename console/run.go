package console

import (
	"context"
	"time"

	"github.com/anycompany/strangler/internal/httpserver"
)

// Run serves the console on cfg.Listen until ctx ends. It streams
// (server-sent events), so it serves without a write timeout.
func (s *Server) Run(ctx context.Context) error {
	return httpserver.ServeStreams(ctx, httpserver.Listener{Addr: s.cfg.Listen, TLS: s.cfg.TLS}, s.Handler(),
		func() time.Duration { return 2 * time.Second }, 0, s.log)
}
