package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anycompany/strangler/internal/config"
)

// FuzzLoad: whatever a config file holds, Load never panics, every failure
// is a *config.Error naming a key or the file, and what it accepts passes
// Validate.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"listen: 127.0.0.1:9\ntimeout: 2s\ndb:\n  conns: 3\n", "db: 7\n", "timeout: forever\n", "tags: [a, b]\n", "tags: x\n",
		"unknown: 1\n", "db:\n  conns: -1\n", "{", "- a\n- b\n", "token: &a x\nlisten: *a\n", "db: {dsn: ~}\n", "\t",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, yaml string) {
		file := filepath.Join(dir, "sample.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		out := defaults()
		err := config.Load(config.Source{Part: "sample", File: file}, out)
		if err == nil {
			if verr := out.Validate(); verr != nil {
				t.Fatalf("%q loaded but does not validate: %v", yaml, verr)
			}
			return
		}
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%q: error %v (%T) is not a *config.Error", yaml, err, err)
		}
	})
}
