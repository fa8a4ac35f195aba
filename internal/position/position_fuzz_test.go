package position

import "testing"

// FuzzParseResume: a position parsed from its resume form (what the
// checkpoint stores) prints a resume form that parses back to it, orders
// equal to itself, and Encode never panics.
func FuzzParseResume(f *testing.F) {
	for _, s := range []string{"0-1-42", "", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42", "uuid:1-5:7-9", "binlog.000042:1234",
		"0-1-18446744073709551615", "a,b", "binlog:1", "mysql-bin.999999:4294967295", "0-1-x", ":",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10:orders:1-2,9c1d5b2e-0000-11ef-8000-000000000002:1-3:5", "e2/0-1-42", "e9999/binlog.000001:4", "e0/x"} {
		f.Add(uint8(GTID), s)
		f.Add(uint8(File), s)
		f.Add(uint8(GTIDSet), s)
	}
	f.Fuzz(func(t *testing.T, k uint8, s string) {
		kind := Kind(k % 4)
		p, err := ParseResume(kind, s)
		if err != nil {
			return
		}
		_, _ = p.Encode()
		_ = p.String()
		again, err := ParseResume(p.Kind, p.Resume())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose resume form %q does not parse: %v", s, p, p.Resume(), err)
		}
		if again != p {
			t.Fatalf("%q: %+v -> %q -> %+v", s, p, p.Resume(), again)
		}
		if c, err := Compare(p, again); err == nil && c != 0 {
			t.Fatalf("%+v compares %d to itself", p, c)
		}
		if typed, err := Parse(p.Resume()); err == nil && p.Resume() != "" && typed != p {
			t.Fatalf("%q: Parse(%q) = %+v, want %+v", s, p.Resume(), typed, p)
		}
	})
}
