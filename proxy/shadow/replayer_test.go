package shadow

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCopyHeader(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{name: "nil", in: nil, want: http.Header{}},
		{
			name: "end-to-end headers kept",
			in:   http.Header{"Authorization": {"Bearer k"}, "Idempotency-Key": {"i1"}, "X-Customer": {"c1"}},
			want: http.Header{"Authorization": {"Bearer k"}, "Idempotency-Key": {"i1"}, "X-Customer": {"c1"}},
		},
		{
			name: "hop-by-hop and Accept-Encoding dropped",
			in: http.Header{
				"Connection": {"keep-alive, X-Hop"}, "X-Hop": {"1"}, "Keep-Alive": {"timeout=5"}, "Te": {"trailers"},
				"Upgrade": {"h2c"}, "Proxy-Authorization": {"p"}, "Accept-Encoding": {"gzip"}, "Accept": {"application/json"},
			},
			want: http.Header{"Accept": {"application/json"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, copyHeader(tt.in)); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
}
