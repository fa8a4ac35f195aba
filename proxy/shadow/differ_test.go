package shadow

import (
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiffer(t *testing.T) {
	tests := []struct {
		name   string
		ignore []string
		a, b   answer
		want   []difference
	}{
		{
			name: "equal",
			a:    answer{200, []byte(`{"a":1,"b":[1,2],"c":{"d":"x"}}`)},
			b:    answer{200, []byte(`{"c":{"d":"x"},"b":[1,2],"a":1}`)},
		},
		{
			name: "status only",
			a:    answer{200, []byte(`{}`)},
			b:    answer{500, []byte(`{}`)},
			want: []difference{{field: "(status)", path: "(status)", a: "200", b: "500"}},
		},
		{
			name: "scalar, missing and extra fields",
			a:    answer{200, []byte(`{"status":"accepted","total":10,"gone":true}`)},
			b:    answer{200, []byte(`{"status":"ACCEPTED","total":10,"extra":null}`)},
			want: []difference{
				{field: "extra", path: "extra", a: "(absent)", b: "null"},
				{field: "gone", path: "gone", a: "true", b: "(absent)"},
				{field: "status", path: "status", a: `"accepted"`, b: `"ACCEPTED"`},
			},
		},
		{
			name: "arrays by index, reported with a wildcard",
			a:    answer{200, []byte(`{"items":[{"sku":"A","qty":1},{"sku":"B","qty":2}]}`)},
			b:    answer{200, []byte(`{"items":[{"sku":"A","qty":1},{"sku":"B","qty":3},{"sku":"C","qty":1}]}`)},
			want: []difference{
				{field: "items.*.qty", path: "items.1.qty", a: "2", b: "3"},
				{field: "items.*.qty", path: "items.2.qty", a: "(absent)", b: "1"},
				{field: "items.*.sku", path: "items.2.sku", a: "(absent)", b: `"C"`},
			},
		},
		{
			name:   "ignored fields, wildcard and parent paths",
			ignore: []string{"id", "created_at", "items.*.id", "meta"},
			a:      answer{200, []byte(`{"id":"o1","created_at":"t1","items":[{"id":1,"sku":"A"}],"meta":{"trace":"x"}}`)},
			b:      answer{200, []byte(`{"id":"o2","created_at":"t2","items":[{"id":2,"sku":"A"}],"meta":{"trace":"y","more":1}}`)},
		},
		{
			name:   "an ignore pattern does not match a longer name",
			ignore: []string{"items.*.id"},
			a:      answer{200, []byte(`{"id":1,"items":[{"idx":1}]}`)},
			b:      answer{200, []byte(`{"id":2,"items":[{"idx":2}]}`)},
			want: []difference{
				{field: "id", path: "id", a: "1", b: "2"},
				{field: "items.*.idx", path: "items.0.idx", a: "1", b: "2"},
			},
		},
		{
			name: "numbers compare by value",
			a:    answer{200, []byte(`{"total":10,"big":12345678901234567890}`)},
			b:    answer{200, []byte(`{"total":10.0,"big":12345678901234567890}`)},
		},
		{
			name: "a number is not a string",
			a:    answer{200, []byte(`{"total":10}`)},
			b:    answer{200, []byte(`{"total":"10"}`)},
			want: []difference{{field: "total", path: "total", a: "10", b: `"10"`}},
		},
		{
			name: "empty containers are values",
			a:    answer{200, []byte(`{"a":[],"b":{},"c":[]}`)},
			b:    answer{200, []byte(`{"a":{},"b":{},"c":[1]}`)},
			want: []difference{
				{field: "a", path: "a", a: "[]", b: "{}"},
				{field: "c", path: "c", a: "[]", b: "(absent)"},
				{field: "c.*", path: "c.0", a: "(absent)", b: "1"},
			},
		},
		{
			name: "bare scalar body",
			a:    answer{200, []byte(`"ok"`)},
			b:    answer{200, []byte(`"ko"`)},
			want: []difference{{field: "(root)", path: "(root)", a: `"ok"`, b: `"ko"`}},
		},
		{
			name: "non-JSON bodies compare as bytes",
			a:    answer{200, []byte("hello")},
			b:    answer{200, []byte("hello")},
		},
		{
			name: "non-JSON bodies that differ",
			a:    answer{200, []byte("hello")},
			b:    answer{200, []byte("hullo")},
			want: []difference{{field: "(body)", path: "(body)", a: "hello", b: "hullo"}},
		},
		{
			name: "JSON against non-JSON",
			a:    answer{200, []byte(`{"a":1}`)},
			b:    answer{502, []byte("bad gateway")},
			want: []difference{
				{field: "(status)", path: "(status)", a: "200", b: "502"},
				{field: "(body)", path: "(body)", a: `{"a":1}`, b: "bad gateway"},
			},
		},
		{
			name: "two JSON values are not JSON",
			a:    answer{200, []byte(`{"a":1}{"a":2}`)},
			b:    answer{200, []byte(`{"a":1}`)},
			want: []difference{{field: "(body)", path: "(body)", a: `{"a":1}{"a":2}`, b: `{"a":1}`}},
		},
		{
			name: "empty bodies",
			a:    answer{204, nil},
			b:    answer{204, []byte{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newDiffer(tt.ignore).diff(tt.a, tt.b)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(difference{})); diff != "" {
				t.Errorf("differences (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReportable(t *testing.T) {
	tests := []struct {
		name                                              string
		mismatches, compared, noise, noiseCompared, minMM int64
		want                                              bool
	}{
		{name: "always different, never noisy", mismatches: 100, compared: 100, noiseCompared: 100, minMM: 3, want: true},
		{name: "noise as often as mismatch", mismatches: 100, compared: 100, noise: 100, noiseCompared: 100, minMM: 3},
		{name: "noise almost as often", mismatches: 500, compared: 1000, noise: 495, noiseCompared: 1000, minMM: 3},
		{name: "clearly above noise", mismatches: 60, compared: 100, noise: 40, noiseCompared: 100, minMM: 3, want: true},
		{name: "too few occurrences", mismatches: 2, compared: 2, noiseCompared: 2, minMM: 3},
		{name: "just enough occurrences", mismatches: 3, compared: 3, noiseCompared: 3, minMM: 3, want: true},
		{name: "rare difference within margin", mismatches: 5, compared: 1000, noiseCompared: 1000, minMM: 3},
		{name: "no noise measured (writes)", mismatches: 10, compared: 10, minMM: 3, want: true},
		{name: "nothing compared", minMM: 0},
		{name: "rates use their own denominators", mismatches: 50, compared: 100, noise: 5, noiseCompared: 10, minMM: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reportable(tt.mismatches, tt.compared, tt.noise, tt.noiseCompared, tt.minMM, 0.01); got != tt.want {
				t.Errorf("reportable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlainBody(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	if _, err := zw.Write([]byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "gzip", in: zipped.Bytes(), want: `{"a":1}`},
		{name: "plain", in: []byte(`{"a":1}`), want: `{"a":1}`},
		{name: "gzip magic but not gzip", in: []byte{0x1f, 0x8b, 'x'}, want: "\x1f\x8bx"},
		{name: "empty", in: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(plainBody(tt.in, 1<<20)); got != tt.want {
				t.Errorf("plainBody = %q, want %q", got, tt.want)
			}
		})
	}
}
