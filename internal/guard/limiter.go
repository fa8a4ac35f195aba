package guard

import (
	"context"
	"sync"
	"time"

	"github.com/anycompany/strangler/internal/clock"
)

// RateLimiter is a token bucket of write capacity units per second with one
// second of burst. It is safe for concurrent use; the zero value is not
// usable, make one with NewRateLimiter.
type RateLimiter struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

// NewRateLimiter allows perSecond units a second. now and sleep may be nil
// (the real clock).
func NewRateLimiter(perSecond int, now func() time.Time, sleep func(context.Context, time.Duration) error) *RateLimiter {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = clock.Sleep
	}
	return &RateLimiter{rate: float64(perSecond), tokens: float64(perSecond), last: now(), now: now, sleep: sleep}
}

// Wait blocks until units are available. A request larger than a second's
// worth waits for the whole second's worth, then goes.
func (l *RateLimiter) Wait(ctx context.Context, units int) error {
	need := min(float64(units), l.rate)
	for {
		l.mu.Lock()
		now := l.now()
		l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
		if l.tokens >= need {
			l.tokens -= float64(units)
			l.mu.Unlock()
			return nil
		}
		wait := time.Duration((need - l.tokens) / l.rate * float64(time.Second))
		l.mu.Unlock()
		if err := l.sleep(ctx, wait); err != nil {
			return err
		}
	}
}
