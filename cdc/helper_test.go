package cdc_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/internal/config"
)

// TestMain doubles as the cdc process the crash tests kill: with
// CDC_HELPER set, the test binary runs cdc.Run with the config in it
// (CDC_HELPER_DSN carries the DSN, a secret JSON never holds) until SIGTERM.
func TestMain(m *testing.M) {
	if raw := os.Getenv("CDC_HELPER"); raw != "" {
		var cfg cdc.Config
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			os.Stderr.WriteString("helper config: " + err.Error() + "\n")
			os.Exit(2)
		}
		cfg.MySQL.DSN = config.Secret(os.Getenv("CDC_HELPER_DSN"))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		err := cdc.Run(ctx, cfg, cdc.Options{From: os.Getenv("CDC_HELPER_FROM")}, cdc.Env{Log: log, Out: io.Discard})
		if err != nil {
			os.Stderr.WriteString("cdc: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is a cdc in a child process.
type process struct {
	cmd *exec.Cmd
}

// spawn starts a cdc child process as owner.
func (f *fixture) spawn(owner, from string) *process {
	f.t.Helper()
	cfg := f.cfg
	cfg.Lease.Owner = owner
	raw, err := json.Marshal(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CDC_HELPER="+string(raw), "CDC_HELPER_DSN="+f.dsn, "CDC_HELPER_FROM="+from)
	if os.Getenv("CDC_TEST_VERBOSE") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	p := &process{cmd: cmd}
	f.t.Cleanup(func() { p.kill() })
	return p
}

// kill is kill -9.
func (p *process) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}
