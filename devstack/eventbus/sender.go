package eventbus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TargetError is a target's answer that is not 2xx.
type TargetError struct {
	Status int
	Body   string // the first bytes of the answer, for the dead letter
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("target answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
}

// retryable reports whether another attempt may succeed: network errors,
// timeouts, 408, 429 and 5xx. Any other 4xx means the target refuses the
// event itself, so repeating it cannot help.
func retryable(err error) bool {
	var te *TargetError
	if errors.As(err, &te) {
		return te.Status == http.StatusRequestTimeout || te.Status == http.StatusTooManyRequests || te.Status >= 500
	}
	return true
}

// Sender delivers one event to one HTTP target, retrying with jittered
// exponential backoff. The zero value is not usable; make one with
// NewSender. It is safe for concurrent use and must not be copied.
type Sender struct {
	hc     *http.Client
	sleep  func(ctx context.Context, d time.Duration) error
	mu     sync.Mutex
	random func() float64 // in [0,1), called under mu
}

// NewSender returns a Sender posting with hc (nil: a client with keep-alive
// sized for many targets), waiting with sleep and jittering with random.
func NewSender(hc *http.Client, sleep func(ctx context.Context, d time.Duration) error, random func() float64) *Sender {
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:               nil, // targets are local or explicit; never through a proxy from the environment
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return &Sender{hc: hc, sleep: sleep, random: random}
}

// Deliver posts envelope to t until it answers 2xx, a refusal that cannot
// be retried, t.MaxAttempts attempts, or ctx ends. It returns the attempts
// made and the last error (nil when delivered). onRetry, when not nil, is
// called before each retry.
func (s *Sender) Deliver(ctx context.Context, t TargetConfig, envelope []byte, onRetry func(attempt int, err error)) (int, error) {
	var err error
	for attempt := 1; ; attempt++ {
		if err = s.post(ctx, t, envelope); err == nil {
			return attempt, nil
		}
		if attempt >= t.MaxAttempts || !retryable(err) {
			return attempt, err
		}
		if ctx.Err() != nil {
			return attempt, fmt.Errorf("%w (then stopped: %w)", err, ctx.Err())
		}
		if onRetry != nil {
			onRetry(attempt, err)
		}
		if serr := s.sleep(ctx, s.backoff(t, attempt)); serr != nil {
			return attempt, fmt.Errorf("%w (then stopped: %w)", err, serr)
		}
	}
}

// backoff is the wait after attempt n (from 1): the base doubled n-1 times,
// capped, with "equal jitter" (half fixed, half random) so retries of many
// events spread out but never fire at once.
func (s *Sender) backoff(t TargetConfig, n int) time.Duration {
	d := t.Backoff
	for i := 1; i < n && d < t.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, t.MaxBackoff)
	s.mu.Lock()
	r := s.random()
	s.mu.Unlock()
	return d/2 + time.Duration(r*float64(d/2))
}

func (s *Sender) post(ctx context.Context, t TargetConfig, envelope []byte) error {
	actx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, t.URL, bytes.NewReader(envelope))
	if err != nil {
		return fmt.Errorf("building request to %s: %w", t.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "strangler-eventbus")
	t.Connection.Apply(req.Header)
	resp, err := s.hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("posting to %s: no answer within %s: %w", t.URL, t.Timeout, err)
		}
		return fmt.Errorf("posting to %s: %w", t.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	if resp.StatusCode/100 != 2 {
		return &TargetError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	return nil
}
