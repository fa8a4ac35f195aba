package shadow

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// errTooLarge is an answer longer than Config.MaxBodyBytes.
var errTooLarge = errors.New("answer over max_body_bytes")

// hopHeaders are the hop-by-hop headers (RFC 9110 section 7.6.1) a copy
// must not carry; Accept-Encoding is dropped too so both backends answer
// uncompressed, comparable bodies.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Accept-Encoding",
}

// replayer sends a copy of an exchange's request to one backend and reads
// its answer. It holds no mutable state; the zero value is not usable.
type replayer struct {
	timeout      time.Duration
	maxBodyBytes int64
	dryRunHeader string
}

// send replays ex to base through rt. A write carries the dry-run header set to "true".
func (p *replayer) send(ctx context.Context, rt http.RoundTripper, base *url.URL, ex Exchange) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + ex.Path
	u.RawPath = ""
	u.RawQuery = ex.RawQuery
	req, err := http.NewRequestWithContext(ctx, ex.Method, u.String(), bytes.NewReader(ex.Body))
	if err != nil {
		return answer{}, fmt.Errorf("building %s %s: %w", ex.Method, u.Redacted(), err)
	}
	req.Header = copyHeader(ex.Header)
	if isWrite(ex.Method) {
		req.Header.Set(p.dryRunHeader, "true")
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return answer{}, fmt.Errorf("sending %s %s: %w", ex.Method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBodyBytes+1))
	if err != nil {
		return answer{}, fmt.Errorf("reading answer of %s %s: %w", ex.Method, u.Redacted(), err)
	}
	if int64(len(body)) > p.maxBodyBytes {
		return answer{}, fmt.Errorf("reading answer of %s %s: %w", ex.Method, u.Redacted(), errTooLarge)
	}
	return answer{status: resp.StatusCode, body: body}, nil
}

// copyHeader clones h without hop-by-hop headers, nor those that Connection names.
func copyHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		return http.Header{}
	}
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			out.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopHeaders {
		out.Del(name)
	}
	return out
}

// isWrite reports whether method may change state: anything but GET and HEAD.
func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

// plainBody returns body gunzipped when it is gzip (the client asked for
// it, so legacy's answer as the client saw it is compressed), else body.
func plainBody(body []byte, limit int64) []byte {
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return body
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit))
	if err != nil {
		return body
	}
	return out
}
