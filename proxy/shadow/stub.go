package shadow

import (
	"net/http"
	"net/url"
)

// stats holds the per-route figures. (Skeleton.)
type stats struct{}

func newStats(Config) *stats { return &stats{} }

// replayer sends an exchange to a backend. (Skeleton.)
type replayer struct {
	cfg                       Config
	newBackend, legacyBackend http.RoundTripper
	newURL, legacyURL         *url.URL
}

// differ compares two answers. (Skeleton.)
type differ struct{}

func newDiffer([]string) *differ { return &differ{} }
