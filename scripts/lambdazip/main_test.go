package main

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestPack: the zip holds one entry, bootstrap, executable, with the
// binary's bytes; packing again gives the same bytes.
func TestPack(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(bin, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.zip")
	for _, out := range []string{a, b} {
		if err := pack(out, bin); err != nil {
			t.Fatal(err)
		}
	}
	zr, err := zip.OpenReader(a)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
		t.Fatalf("entries %v, want [bootstrap]", zr.File)
	}
	if m := zr.File[0].Mode(); m.Perm() != 0o755 {
		t.Errorf("bootstrap mode %v, want -rwxr-xr-x", m)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "\x7fELF not really" {
		t.Errorf("bootstrap holds %q", got)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if string(ab) != string(bb) {
		t.Error("packing the same binary twice gave different zips")
	}
	if err := pack(filepath.Join(dir, "c.zip"), filepath.Join(dir, "missing")); err == nil {
		t.Error("packing a missing binary succeeded")
	}
}
