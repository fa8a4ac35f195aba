// Command backend is the benchmark's fixed-size HTTP backend: every request
// gets the same 200 JSON body of -size bytes, /readyz answers 200. It stands
// for an upstream that costs almost nothing, so the figures measure the
// proxy in front of it.
package main

import (
	"bytes"
	"flag"
	"log"
	"net/http"
	"strconv"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9001", "address")
	size := flag.Int("size", 512, "response body bytes")
	flag.Parse()
	body := append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), max(0, *size-10))...)
	body = append(body, '"', '}')
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(body)
	})
	log.Fatal((&http.Server{Addr: *addr, Handler: h}).ListenAndServe())
}
