package proxy

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Reloader watches the config file and applies it live: it polls the
// file's modification time and size every reload_interval (no inotify
// needed, works on every file system), loads the whole configuration again
// through load (file, env and flags, validated), and hands a valid one to
// apply. Keys that only a restart can change (restartKey: listen addresses,
// the admin token, the control table and its group, the DynamoDB endpoint,
// the plan lease) keep their running values, each logged by name as
// needing a restart; every other key applies. An invalid file is refused
// with the error logged, and the running configuration stays whole. Never
// copy one.
type Reloader struct {
	path  string
	load  func() (Config, error)
	apply func(context.Context, Config) ([]string, error)
	m     *Metrics
	log   *slog.Logger

	mu      sync.Mutex // serialises reloads (the watcher and Server.Reload)
	running Config
	mod     time.Time
	size    int64
}

// NewReloader watches path; running is the configuration in force. apply
// applies a configuration and returns the keys it changed.
func NewReloader(path string, running Config, load func() (Config, error), apply func(context.Context, Config) ([]string, error),
	m *Metrics, logger *slog.Logger) *Reloader {
	r := &Reloader{path: path, load: load, apply: apply, m: m, log: logger, running: running}
	if fi, err := os.Stat(path); err == nil {
		r.mod, r.size = fi.ModTime(), fi.Size()
	}
	return r
}

// interval is the running reload_interval.
func (r *Reloader) interval() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running.ReloadInterval
}

// Run polls every reload_interval (read again each round) until ctx ends,
// or until a reload sets reload_interval to 0.
func (r *Reloader) Run(ctx context.Context) error {
	every := r.interval()
	if every <= 0 {
		return nil
	}
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if fi, err := os.Stat(r.path); err == nil && (!fi.ModTime().Equal(r.mod) || fi.Size() != r.size) {
			// (An error is an editor replacing the file; the next round sees it.)
			r.mod, r.size = fi.ModTime(), fi.Size()
			r.Reload(ctx)
		}
		if every = r.interval(); every <= 0 {
			r.log.Warn("reload_interval is 0: the config file is no longer watched until a restart", "file", r.path)
			return nil
		}
		t.Reset(every)
	}
}

// Reload loads and applies the configuration once, reporting whether it
// was applied.
func (r *Reloader) Reload(ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := r.load()
	if err != nil {
		r.m.reloads.WithLabelValues("refused").Inc()
		r.log.Error("config file refused; keeping the running configuration", "file", r.path, "err", err)
		return false
	}
	var restart []string
	for _, key := range changedKeys(r.running, cfg) {
		if why, ok := restartKey(key); ok {
			restart = append(restart, key)
			r.log.Warn("config key changed but needs a restart; keeping the running value", "file", r.path, "key", key, "why", why)
		}
	}
	keepRestartKeys(&cfg, r.running)
	applied, err := r.apply(ctx, cfg)
	if err != nil {
		r.m.reloads.WithLabelValues("refused").Inc()
		r.log.Error("config file could not be applied; keeping the running configuration", "file", r.path, "err", err)
		return false
	}
	r.running = cfg
	r.m.reloads.WithLabelValues("applied").Inc()
	r.log.Info("config file reloaded", "file", r.path, "applied", applied, "needs_restart", restart)
	return true
}
