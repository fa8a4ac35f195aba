// Command lambdazip packs a Lambda bootstrap binary into the zip that
// provided.al2023 runs: one entry named bootstrap, mode 0755 (Lambda runs
// the file as it is, so the execute bit must survive the zip).
//
//	go run ./scripts/lambdazip -o bin/lambda/orders.zip bin/lambda/orders/bootstrap
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	out := flag.String("o", "", "the zip to write (required)")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: lambdazip -o FUNCTION.zip path/to/bootstrap")
		os.Exit(2)
	}
	if err := pack(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "lambdazip:", err)
		os.Exit(1)
	}
}

// pack writes the zip at out holding bin as bootstrap. The entry's time is
// fixed, so the same binary gives the same zip (and CloudFormation sees no
// change).
func pack(out, bin string) (err error) {
	src, err := os.Open(bin)
	if err != nil {
		return fmt.Errorf("the bootstrap binary: %w (run make lambda)", err)
	}
	defer src.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	zw := zip.NewWriter(f)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		return fmt.Errorf("packing %s: %w", bin, err)
	}
	return zw.Close()
}
