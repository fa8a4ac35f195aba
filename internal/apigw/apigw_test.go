package apigw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/apigw"
)

// TestGateway: a request reaches the function as a payload 2.0 event
// (lower-case headers, cookies apart, raw and parsed query, a binary body
// in base64) and the function's answer comes back as HTTP (multi-value
// headers, cookies, a base64 body decoded); a function error is API
// Gateway's 500.
func TestGateway(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	fn := lambda.NewHandler(func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.RawPath == "/fail" {
			return events.APIGatewayV2HTTPResponse{}, errors.New("boom")
		}
		got = ev
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 201, Headers: map[string]string{"Content-Type": "application/octet-stream"},
			MultiValueHeaders: map[string][]string{"X-Many": {"a", "b"}}, Cookies: []string{"s=1; Path=/"},
			Body: base64.StdEncoding.EncodeToString([]byte{0xff, 0x00}), IsBase64Encoded: true,
		}, nil
	})
	srv := httptest.NewServer(apigw.New(fn, 1<<20))
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/v1/x%2Fy?a=1&a=2&b=3", bytes.NewReader([]byte{0xfe, 0x01}))
	req.Header.Set("X-Thing", "v")
	req.AddCookie(&http.Cookie{Name: "c", Value: "d"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || !bytes.Equal(body, []byte{0xff, 0x00}) || !cmp.Equal(resp.Header.Values("X-Many"), []string{"a", "b"}) || resp.Header.Get("Set-Cookie") != "s=1; Path=/" {
		t.Errorf("answer %d %v %x", resp.StatusCode, resp.Header, body)
	}
	want := map[string]any{
		"version": "2.0", "rawPath": "/v1/x%2Fy", "rawQuery": "a=1&a=2&b=3", "method": "POST", "path": "/v1/x/y",
		"x-thing": "v", "cookies": []string{"c=d"}, "query": map[string]string{"a": "1,2", "b": "3"},
		"body": base64.StdEncoding.EncodeToString([]byte{0xfe, 0x01}), "b64": true,
	}
	have := map[string]any{
		"version": got.Version, "rawPath": got.RawPath, "rawQuery": got.RawQueryString, "method": got.RequestContext.HTTP.Method,
		"path": got.RequestContext.HTTP.Path, "x-thing": got.Headers["x-thing"], "cookies": got.Cookies,
		"query": got.QueryStringParameters, "body": got.Body, "b64": got.IsBase64Encoded,
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}

	resp, err = http.Get(srv.URL + "/fail")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("a failed function answered %d, want 500", resp.StatusCode)
	}
}
