// Command openloop sends requests at a fixed rate, open loop (wrk2 style):
// each millisecond it sends the requests due by then, and measures each
// latency from the request's intended send time, so a stalled server cannot
// hide its queueing. Go timers here have about 1 ms resolution, hence the
// small bursts per tick. It prints sent, errors, timeouts, p50, p90, p99.
//
// By default it GETs url+N. With -body it POSTs that file's content to url
// with the headers of -header (repeatable, "Name: value"; "{n}" in a value
// becomes the request's sequence number, so each create gets its own
// Idempotency-Key) and counts -ok statuses as successes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:9001/v1/orders/", "URL prefix; a sequence number is appended")
	rate := flag.Int("rate", 2000, "requests a second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	conns := flag.Int("conns", 64, "keep-alive connections (and most requests in flight)")
	bodyFile := flag.String("body", "", "POST this file's content to -url instead of GET url+N")
	okStatus := flag.Int("ok", 200, "the status that counts as a success")
	timeout := flag.Duration("timeout", 0, "client timeout per request (0: none); counted apart from other errors")
	var headers headerFlags
	flag.Var(&headers, "header", `a request header "Name: value" ({n} becomes the sequence number); repeatable`)
	flag.Parse()

	var body []byte
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "openloop:", err)
			os.Exit(2)
		}
		body = b
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}}
	total := int(float64(*rate) * dur.Seconds())
	lat := make([]time.Duration, total)
	var errs, timeouts atomic.Int64
	var wg sync.WaitGroup
	slots := make(chan struct{}, *conns)
	start := time.Now()
	interval := time.Second / time.Duration(*rate)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	sent := 0
	for sent < total {
		now := <-tick.C
		for sent < total {
			due := start.Add(time.Duration(sent) * interval)
			if due.After(now) {
				break
			}
			i := sent
			sent++
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				resp, err := client.Do(newRequest(*url, body, headers, i))
				if err != nil {
					if e, ok := err.(net.Error); ok && e.Timeout() {
						timeouts.Add(1)
					} else {
						errs.Add(1)
					}
					lat[i] = -1
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != *okStatus {
					errs.Add(1)
				}
				lat[i] = time.Since(due)
			}()
		}
	}
	wg.Wait()
	ok := slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })
	slices.Sort(ok)
	q := func(p float64) float64 {
		if len(ok) == 0 {
			return 0
		}
		return float64(ok[min(len(ok)-1, int(p*float64(len(ok))))].Microseconds()) / 1000
	}
	fmt.Fprintf(os.Stdout, "sent %d errors %d timeouts %d rate %.0f/s p50 %.3fms p90 %.3fms p99 %.3fms max %.3fms\n",
		total, errs.Load(), timeouts.Load(), float64(total)/time.Since(start).Seconds(), q(0.50), q(0.90), q(0.99), q(1))
}

// newRequest is request n: GET url+n, or with a body a POST of it to url.
func newRequest(url string, body []byte, headers headerFlags, n int) *http.Request {
	var req *http.Request
	if body == nil {
		req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("%s%d", url, n), nil)
	} else {
		req, _ = http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.ReplaceAll(strings.TrimSpace(value), "{n}", strconv.Itoa(n)))
	}
	return req
}

// headerFlags collects repeated -header flags.
type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

func (h *headerFlags) Set(v string) error {
	if !strings.Contains(v, ":") {
		return fmt.Errorf("header %q is not \"Name: value\"", v)
	}
	*h = append(*h, v)
	return nil
}
