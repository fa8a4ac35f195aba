package proxy

import (
	"context"
	"log/slog"
	"os"
	"reflect"
	"time"
)

// Reloader watches the config file and applies its routes live: it polls
// the file's modification time and size every interval (no inotify needed,
// works on every file system), loads the whole configuration again through
// load (file, env and flags, validated), and hands a valid one to apply. An
// invalid file is refused with the error logged, and the running
// configuration stays. Never copy one.
type Reloader struct {
	path  string
	load  func() (Config, error)
	apply func(context.Context, Config) error
	every time.Duration
	m     *Metrics
	log   *slog.Logger

	running Config
	mod     time.Time
	size    int64
}

// NewReloader watches path; running is the configuration in force.
func NewReloader(path string, running Config, load func() (Config, error), apply func(context.Context, Config) error,
	every time.Duration, m *Metrics, logger *slog.Logger) *Reloader {
	r := &Reloader{path: path, load: load, apply: apply, every: every, m: m, log: logger, running: running}
	if fi, err := os.Stat(path); err == nil {
		r.mod, r.size = fi.ModTime(), fi.Size()
	}
	return r
}

// Run polls until ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fi, err := os.Stat(r.path)
		if err != nil {
			continue // an editor replacing the file; the next tick sees it
		}
		if fi.ModTime().Equal(r.mod) && fi.Size() == r.size {
			continue
		}
		r.mod, r.size = fi.ModTime(), fi.Size()
		r.Reload(ctx)
	}
}

// Reload loads and applies the configuration once, reporting whether it
// was applied.
func (r *Reloader) Reload(ctx context.Context) bool {
	cfg, err := r.load()
	if err != nil {
		r.m.reloads.WithLabelValues("refused").Inc()
		r.log.Error("config file refused; keeping the running configuration", "file", r.path, "err", err)
		return false
	}
	if err := r.apply(ctx, cfg); err != nil {
		r.m.reloads.WithLabelValues("refused").Inc()
		r.log.Error("config file could not be applied; keeping the running configuration", "file", r.path, "err", err)
		return false
	}
	a, b := r.running, cfg
	a.Routes, b.Routes = nil, nil
	if !reflect.DeepEqual(a, b) {
		r.log.Warn("config file changed more than routes: only routes apply live, the rest needs a restart", "file", r.path)
	}
	r.running.Routes = cfg.Routes
	r.m.reloads.WithLabelValues("applied").Inc()
	r.log.Info("config file reloaded", "file", r.path, "routes", len(cfg.Routes))
	return true
}
