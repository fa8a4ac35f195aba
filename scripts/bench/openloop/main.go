// Command openloop sends GET requests at a fixed rate, open loop (wrk2
// style): each millisecond it sends the requests due by then, and measures
// each latency from the request's intended send time, so a stalled server
// cannot hide its queueing. Go timers here have about 1 ms resolution,
// hence the small bursts per tick. It prints sent, errors, p50, p90, p99.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:9001/v1/orders/", "URL prefix; a sequence number is appended")
	rate := flag.Int("rate", 2000, "requests a second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	conns := flag.Int("conns", 64, "keep-alive connections (and most requests in flight)")
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}}
	total := int(float64(*rate) * dur.Seconds())
	lat := make([]time.Duration, total)
	var errs atomic.Int64
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
				resp, err := client.Get(fmt.Sprintf("%s%d", *url, i))
				if err != nil {
					errs.Add(1)
					lat[i] = -1
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
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
	fmt.Fprintf(os.Stdout, "sent %d errors %d rate %.0f/s p50 %.3fms p90 %.3fms p99 %.3fms\n",
		total, errs.Load(), float64(total)/time.Since(start).Seconds(), q(0.50), q(0.90), q(0.99))
}
