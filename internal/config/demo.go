package config

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
)

// DevEnv names the environment variable that says whether a part runs in
// the local stack: "1" yes (scripts/stack.sh and scripts/demo.sh set it),
// "0" no. Unset, a part is in the local stack when every listener it has
// (each listen or *_listen key) is on loopback, so no other machine can
// present the demo credentials to it.
const DevEnv = "STRANGLER_DEV"

// IsDemoCredential reports whether s is one of the demo keys, tokens and
// passwords of the local stack's configs/*.yaml, or a DSN with the local
// stack's MySQL user and password (the parts' defaults), which a part
// outside the local stack refuses.
func IsDemoCredential(s string) bool {
	switch s {
	case "retail-demo-key", "wholesale-demo-key", "dev-admin-token", "local-admin-token-change-me",
		"dev-syncback-sink-key", "dev-processor-sink-key", "dev-downstream-sink-password",
		"demo-admin-token-0123456789", "demo-orders-admin-token":
		return true
	}
	// The local stack's MySQL users, as the default DSNs carry them.
	return strings.HasPrefix(s, "strangler:strangler@") || strings.HasPrefix(s, "cdc:cdc@")
}

// checkDemo refuses, naming its key, a demo credential in out when the part
// is not in the local stack (see DevEnv).
func checkDemo(part string, out any) error {
	rv := reflect.ValueOf(out).Elem()
	local, why := localStack(rv)
	if local {
		return nil
	}
	key := demoKey(rv, "")
	if key == "" {
		return nil
	}
	return &Error{Part: part, Key: key, Err: fmt.Errorf("holds a demo credential of the local stack's configs/, refused outside it (%s)", why),
		Allowed: "a secret of your own, from STRANGLER_" + strings.ToUpper(part) + "_<KEY> or a *_file key; or " + DevEnv + "=1 in the local stack"}
}

// localStack applies DevEnv's rule and says why the part is not local.
func localStack(rv reflect.Value) (bool, string) {
	switch os.Getenv(DevEnv) {
	case "1":
		return true, ""
	case "0":
		return false, DevEnv + "=0"
	}
	if key, addr := publicListener(rv, ""); key != "" {
		return false, fmt.Sprintf("%s %s is not on loopback and %s is not 1", key, addr, DevEnv)
	}
	return true, ""
}

// walk calls visit on every leaf of rv with its key (a.b[0].c) until visit
// returns true.
func walk(rv reflect.Value, prefix string, visit func(key string, v reflect.Value) bool) bool {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !rv.IsNil() && walk(rv.Elem(), prefix, visit)
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			if walk(rv.Index(i), fmt.Sprintf("%s[%d]", prefix, i), visit) {
				return true
			}
		}
		return false
	case reflect.Struct:
		rt := rv.Type()
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			if walk(rv.Field(i), key, visit) {
				return true
			}
		}
		return false
	}
	return visit(prefix, rv)
}

var secretType = reflect.TypeFor[Secret]()

func demoKey(rv reflect.Value, prefix string) (found string) {
	walk(rv, prefix, func(key string, v reflect.Value) bool {
		if v.Type() == secretType && IsDemoCredential(v.String()) {
			found = key
		}
		return found != ""
	})
	return found
}

func publicListener(rv reflect.Value, prefix string) (found, addr string) {
	walk(rv, prefix, func(key string, v reflect.Value) bool {
		last := key[strings.LastIndex(key, ".")+1:]
		if v.Kind() != reflect.String || (last != "listen" && !strings.HasSuffix(last, "_listen")) || v.String() == "" {
			return false
		}
		host, _, err := net.SplitHostPort(v.String())
		ip := net.ParseIP(host)
		if err != nil || host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			found, addr = key, v.String()
		}
		return found != ""
	})
	return found, addr
}
