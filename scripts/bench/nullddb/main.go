// Command nullddb is the null DynamoDB endpoint of scripts/bench/backfill.sh:
// it speaks the DynamoDB JSON 1.0 protocol, answers writes to the discarded
// table (PutItem, BatchWriteItem, TransactWriteItems naming only it) with
// success at once, and forwards every other request (the control table,
// DescribeTable, CreateTable, …) unchanged to a real endpoint (DynamoDB
// Local), so a backfill's job and chunk state still works while its data
// writes cost nothing but the client's own CPU.
//
// It prints nothing per request; on SIGTERM or SIGINT it prints one line of
// counts to stderr.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	var (
		listen  = flag.String("listen", "127.0.0.1:0", "address to serve on (port 0: any free port, printed on stdout)")
		forward = flag.String("forward", "http://127.0.0.1:8000", "endpoint that gets every request not discarded")
		table   = flag.String("discard-table", "", "writes naming only this table are discarded (required)")
	)
	flag.Parse()
	if err := run(*listen, *forward, *table); err != nil {
		fmt.Fprintln(os.Stderr, "nullddb:", err)
		os.Exit(1)
	}
}

func run(listen, forward, table string) error {
	if table == "" {
		return errors.New("-discard-table is required")
	}
	target, err := url.Parse(forward)
	if err != nil {
		return fmt.Errorf("parsing -forward: %w", err)
	}
	h := newHandler(target, table)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	// The address goes to stdout, so a script may ask for port 0.
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	fmt.Fprintf(os.Stderr, "nullddb: discarded %d calls (%d items), forwarded %d\n", h.discarded.Load(), h.items.Load(), h.forwarded.Load())
	return nil
}

// handler discards writes to one table and proxies the rest.
type handler struct {
	table string
	proxy *httputil.ReverseProxy
	bufs  sync.Pool

	discarded, items, forwarded atomic.Int64
}

func newHandler(target *url.URL, table string) *handler {
	h := &handler{table: table}
	h.bufs.New = func() any { return new(bytes.Buffer) }
	h.proxy = &httputil.ReverseProxy{
		Rewrite:    func(r *httputil.ProxyRequest) { r.SetURL(target) },
		BufferPool: bufferPool{},
		ErrorLog:   log.New(os.Stderr, "nullddb: ", 0),
	}
	return h
}

// bufferPool lends the proxy its copy buffers instead of 32 KiB a response.
type bufferPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBufs.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBufs.Put(&b) }

// writeRequest is the part of a write request that names its tables.
type writeRequest struct {
	TableName     string                       `json:"TableName"`
	RequestItems  map[string][]json.RawMessage `json:"RequestItems"`
	TransactItems []map[string]struct {
		TableName string `json:"TableName"`
	} `json:"TransactItems"`
}

const targetPrefix = "DynamoDB_20120810."

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := ""
	if len(target) > len(targetPrefix) && target[:len(targetPrefix)] == targetPrefix {
		op = target[len(targetPrefix):]
	}
	if op != "PutItem" && op != "BatchWriteItem" && op != "TransactWriteItems" {
		h.forwarded.Add(1)
		h.proxy.ServeHTTP(w, r)
		return
	}
	buf := h.bufs.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); h.bufs.Put(buf) }()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	var req writeRequest
	if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
		http.Error(w, "decoding body", http.StatusBadRequest)
		return
	}
	items, ok := h.discardable(op, &req)
	if !ok {
		h.forwarded.Add(1)
		body := bytes.Clone(buf.Bytes())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.proxy.ServeHTTP(w, r)
		return
	}
	h.discarded.Add(1)
	h.items.Add(int64(items))
	var resp []byte
	switch op {
	case "BatchWriteItem":
		resp = []byte(`{"UnprocessedItems":{}}`)
	default:
		resp = []byte(`{}`)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/x-amz-json-1.0")
	hd.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(resp)), 10))
	hd.Set("X-Amzn-Requestid", "null")
	hd.Set("Content-Length", strconv.Itoa(len(resp)))
	_, _ = w.Write(resp)
}

// discardable reports whether req writes only the discarded table, and how
// many items it holds.
func (h *handler) discardable(op string, req *writeRequest) (int, bool) {
	switch op {
	case "PutItem":
		return 1, req.TableName == h.table
	case "BatchWriteItem":
		reqs, ok := req.RequestItems[h.table]
		return len(reqs), ok && len(req.RequestItems) == 1
	default:
		for _, ti := range req.TransactItems {
			for _, action := range ti {
				if action.TableName != h.table {
					return 0, false
				}
			}
		}
		return len(req.TransactItems), len(req.TransactItems) > 0
	}
}
