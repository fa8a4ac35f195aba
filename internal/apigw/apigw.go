// Package apigw serves a Lambda function written for API Gateway HTTP APIs
// (payload format 2.0) over plain HTTP, the way API Gateway calls it: each
// request becomes an events.APIGatewayV2HTTPRequest, encoded to JSON and
// handed to the function's lambda.Handler (the same decoding the Lambda
// runtime does), and the function's events.APIGatewayV2HTTPResponse
// becomes the answer. Tests use it to run HTTP suites (the order API's
// contract suite) against a function in process.
package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// Gateway is an http.Handler in front of one function. The zero value is
// not usable; make one with New. It is safe for concurrent use: it invokes
// the function one request at a time, as one Lambda execution environment
// does (aws-lambda-go's handler reuses its answer buffer between
// invocations, so two at once would race).
type Gateway struct {
	mu      sync.Mutex // one invocation at a time; guards fn's buffer
	fn      lambda.Handler
	maxBody int64
	seq     atomic.Int64
	now     func() time.Time
}

// New returns a gateway invoking fn; bodies over maxBody bytes are refused
// with 413, as API Gateway refuses payloads over its limit (10 MB).
func New(fn lambda.Handler, maxBody int64) *Gateway {
	return &Gateway{fn: fn, maxBody: maxBody, now: time.Now}
}

// ServeHTTP turns r into an event, invokes the function and writes its
// answer. A function error is a 500 {"message":"Internal Server Error"},
// as API Gateway answers it.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ev, err := g.Event(r)
	if err != nil {
		http.Error(w, `{"message":"Request Entity Too Large"}`, http.StatusRequestEntityTooLarge)
		return
	}
	resp, err := g.Invoke(r.Context(), ev)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":"Internal Server Error"}`)
		return
	}
	if err := Write(w, resp); err != nil {
		http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
	}
}

// Invoke hands ev to the function as JSON and decodes its answer.
func (g *Gateway) Invoke(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var resp events.APIGatewayV2HTTPResponse
	payload, err := json.Marshal(ev)
	if err != nil {
		return resp, fmt.Errorf("encoding the API Gateway event: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out, err := g.fn.Invoke(ctx, payload)
	if err != nil {
		return resp, fmt.Errorf("the function failed: %w", err)
	}
	if err := json.Unmarshal(out, &resp); err != nil { // before the next invocation reuses out
		return resp, fmt.Errorf("the function's answer is not an API Gateway v2 response: %w", err)
	}
	return resp, nil
}

// Event is r as API Gateway HTTP API (payload 2.0) sends it to a function:
// header names lower-cased and repeated values joined by commas, cookies
// apart, the query both raw and as parameters, and the body base64-encoded
// unless it is UTF-8 text.
func (g *Gateway) Event(r *http.Request) (events.APIGatewayV2HTTPRequest, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, g.maxBody))
	if err != nil {
		return events.APIGatewayV2HTTPRequest{}, fmt.Errorf("reading the body: %w", err)
	}
	now := g.now().UTC()
	id := strconv.FormatInt(g.seq.Add(1), 10)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Cookies: headerCookies(r), Headers: map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID: "123456789012", APIID: "local", DomainName: r.Host, DomainPrefix: "local",
			Stage: "$default", RouteKey: "$default", RequestID: "req-" + id,
			Time: now.Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: sourceIP(r), UserAgent: r.UserAgent(),
			},
		},
	}
	for name, vals := range r.Header {
		if name == "Cookie" {
			continue
		}
		ev.Headers[strings.ToLower(name)] = strings.Join(vals, ",")
	}
	if r.Host != "" {
		ev.Headers["host"] = r.Host
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		ev.Body = string(body)
		if !utf8.Valid(body) {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev, nil
}

func headerCookies(r *http.Request) []string {
	var out []string
	for _, c := range r.Cookies() {
		out = append(out, c.String())
	}
	return out
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Write writes a function's answer as API Gateway does: headers, multi-value
// headers, cookies as Set-Cookie, the status, and the body (decoded from
// base64 when the function says so).
func Write(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return fmt.Errorf("the function's body is not base64: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
