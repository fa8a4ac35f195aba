// Command backend is the benchmark's fixed-size HTTP backend: every request
// gets the same 200 JSON body of -size bytes, /readyz answers 200. It stands
// for an upstream that costs almost nothing, so the figures measure the
// proxy in front of it.
//
// With -proxy URL it is instead the reference Go proxy of the benchmark: a
// bare httputil.ReverseProxy (Rewrite with SetURL, a BufferPool, a transport
// with 256 idle connections per host, no compression) and nothing else, so
// the cost of net/http's proxying is measured in the same run as the
// strangler proxy built on it: proxy/bare in scripts/bench/proxy.sh is what
// the proxy's own features cost on top of plain net/http.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"sync"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9001", "address")
	size := flag.Int("size", 512, "response body bytes")
	target := flag.String("proxy", "", "be a bare httputil.ReverseProxy to this base URL instead of a backend")
	procs := flag.Int("gomaxprocs", 0, "GOMAXPROCS (0: the runtime's choice)")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if *target != "" {
		u, err := url.Parse(*target)
		if err != nil {
			log.Fatal(err)
		}
		rp := &httputil.ReverseProxy{
			ErrorLog:   log.New(io.Discard, "", 0),
			Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
			Transport:  &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, DisableCompression: true},
			BufferPool: &pool{},
		}
		// wrk cuts its connections at the end: those errors are noise here.
		log.Fatal((&http.Server{Addr: *addr, Handler: rp, ErrorLog: log.New(io.Discard, "", 0)}).ListenAndServe())
	}
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

// pool lends 32 KiB copy buffers to the ReverseProxy.
type pool struct{ p sync.Pool }

func (b *pool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *pool) Put(buf []byte) { b.p.Put(&buf) }
