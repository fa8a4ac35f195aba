// Package config loads one runnable part's configuration: documented defaults,
// then configs/<part>.yaml, then STRANGLER_<PART>_<KEY> environment variables,
// then command-line flags, decoded strictly into one struct and validated once.
//
// Each call builds its own viper instance; nothing here is global.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Validator is implemented by every part's config struct. Validate reports
// every wrong field as an *Error (joined with errors.Join when several are wrong).
type Validator interface {
	Validate() error
}

// Source says where a part's configuration comes from. The zero value is not
// usable: Part is required.
type Source struct {
	// Part names the runnable part ("legacy", "loadgen", …). Required. It picks
	// the default file configs/<part>.yaml and the env prefix STRANGLER_<PART>_.
	Part string
	// File is an explicit config file. Optional: defaults to configs/<part>.yaml
	// when that file exists, else built-in defaults only. An explicit file that
	// does not exist is an error.
	File string
	// Flags maps config keys ("listen", "mysql.dsn") to command-line flags; a
	// flag overrides the key only when it was set. Optional.
	Flags map[string]*pflag.Flag
}

// Error is a configuration value that cannot be used. It names the key, the
// value found and what is allowed, so the message alone tells the user what
// to fix. Commands exit with code 2 on it.
type Error struct {
	Part    string
	Key     string
	Value   any
	Allowed string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %s", e.Part)
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	if e.Value != nil {
		fmt.Fprintf(&b, " = %q", fmt.Sprint(e.Value))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Allowed != "" {
		fmt.Fprintf(&b, ": allowed: %s", e.Allowed)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsConfigError reports whether err holds at least one *Error.
func IsConfigError(err error) bool {
	var ce *Error
	return errors.As(err, &ce)
}

// Checker collects validation failures of one part. The zero value is not
// usable; make one with NewChecker.
type Checker struct {
	part string
	errs []error
}

// NewChecker returns a Checker for part.
func NewChecker(part string) *Checker { return &Checker{part: part} }

// Check records a failure for key unless ok holds.
func (c *Checker) Check(ok bool, key string, value any, allowed string) {
	if !ok {
		c.errs = append(c.errs, &Error{Part: c.part, Key: key, Value: value, Allowed: allowed})
	}
}

// Add records err (if not nil) as a failure of key.
func (c *Checker) Add(key string, value any, err error, allowed string) {
	if err != nil {
		c.errs = append(c.errs, &Error{Part: c.part, Key: key, Value: value, Err: err, Allowed: allowed})
	}
}

// Err returns every recorded failure joined, or nil.
func (c *Checker) Err() error { return errors.Join(c.errs...) }

// Load fills out (already holding the documented defaults) from src and
// validates it; a demo credential outside the local stack is refused (see
// DevEnv). Every failure is an *Error.
func Load(src Source, out Validator) error {
	if src.Part == "" {
		return errors.New("config: Source.Part is required")
	}
	v := viper.New()
	v.SetConfigType("yaml")
	known := map[string]bool{}
	if err := setDefaults(v, reflect.ValueOf(out).Elem(), "", known); err != nil {
		return &Error{Part: src.Part, Err: err}
	}

	file := src.File
	explicit := file != ""
	if !explicit {
		file = "configs/" + src.Part + ".yaml"
	}
	read := ""
	if _, err := os.Stat(file); err == nil || explicit {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return &Error{Part: src.Part, Key: "--config", Value: file, Err: err,
				Allowed: "a readable YAML file (see configs/" + src.Part + ".yaml)"}
		}
		read = file
	}
	if r, ok := out.(Retirer); ok {
		if err := checkRetired(src, read, v, r.RetiredKeys()); err != nil {
			return err
		}
	}
	if read != "" {
		if err := checkKeys(src.Part, file, v, known); err != nil {
			return err
		}
	}

	v.SetEnvPrefix("STRANGLER_" + strings.ToUpper(src.Part))
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	for key, f := range src.Flags {
		if f == nil {
			continue
		}
		if err := v.BindPFlag(key, f); err != nil {
			return &Error{Part: src.Part, Key: key, Err: err}
		}
	}

	hook := viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.TextUnmarshallerHookFunc(),
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	))
	if err := v.UnmarshalExact(out, hook); err != nil {
		return &Error{Part: src.Part, Err: err,
			Allowed: "values of the types documented in configs/" + src.Part + ".yaml"}
	}
	if err := out.Validate(); err != nil {
		return err
	}
	return checkDemo(src.Part, out)
}

// Retirer is implemented by a config struct that names keys it no longer
// has, each with what to do instead. Load refuses such a key wherever it is
// still set (the file, STRANGLER_<PART>_<KEY>, a bound flag) with that
// advice, rather than as an unknown key of the file or, in the environment,
// not at all (only the variables of known keys are read).
type Retirer interface {
	RetiredKeys() map[string]string
}

// checkRetired refuses the first retired key (in key order) that file, the
// environment or src's flags set.
func checkRetired(src Source, file string, v *viper.Viper, retired map[string]string) error {
	envKey := strings.NewReplacer(".", "_", "-", "_")
	for _, key := range slices.Sorted(maps.Keys(retired)) {
		env := "STRANGLER_" + strings.ToUpper(src.Part) + "_" + strings.ToUpper(envKey.Replace(key))
		_, inEnv := os.LookupEnv(env)
		var where string
		switch f := src.Flags[key]; {
		case file != "" && v.InConfig(key):
			where = file
		case inEnv:
			where = "the environment variable " + env
		case f != nil && f.Changed:
			where = "the flag --" + f.Name
		default:
			continue
		}
		return &Error{Part: src.Part, Key: key, Err: fmt.Errorf("the key was removed, but %s sets it", where), Allowed: retired[key]}
	}
	return nil
}

// checkKeys refuses keys in the file that the struct does not have, naming
// the first one and listing the allowed keys.
func checkKeys(part, file string, v *viper.Viper, known map[string]bool) error {
	var unknown []string
	for _, k := range v.AllKeys() {
		if known[k] || knownPrefix(k, known) {
			continue
		}
		unknown = append(unknown, k)
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	keys := make([]string, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return &Error{Part: part, Key: unknown[0], Err: fmt.Errorf("unknown key in %s", file),
		Allowed: strings.Join(keys, ", ")}
}

// knownPrefix accepts keys below a map-valued key (for example faults.<name>).
func knownPrefix(k string, known map[string]bool) bool {
	for p := range known {
		if strings.HasPrefix(k, p+".") {
			return true
		}
	}
	return false
}

// setDefaults registers every leaf field of rv as a viper default, so env
// variables and flags can override keys that the file does not mention.
func setDefaults(v *viper.Viper, rv reflect.Value, prefix string, known map[string]bool) error {
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "" || name == "-" {
			return fmt.Errorf("field %s.%s has no mapstructure tag", rt.Name(), f.Name)
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := rv.Field(i)
		if f.Type.Kind() == reflect.Struct && !isLeafStruct(f.Type) {
			if err := setDefaults(v, fv, key, known); err != nil {
				return err
			}
			continue
		}
		known[key] = true
		v.SetDefault(key, fv.Interface())
	}
	return nil
}

func isLeafStruct(t reflect.Type) bool {
	return slices.Contains([]string{"time.Time"}, t.String())
}

// Secret is a string that never prints: String, GoString, LogValue and
// MarshalText all redact it, so a config struct can be logged whole. Reveal returns the value.
type Secret string

func (s Secret) String() string       { return redact(s) }
func (s Secret) GoString() string     { return redact(s) }
func (s Secret) Reveal() string       { return string(s) }
func (s Secret) LogValue() slog.Value { return slog.StringValue(redact(s)) }

// MarshalText redacts s wherever it is encoded (JSON logs of a whole struct).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redact(s)), nil }

func redact(s Secret) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}
