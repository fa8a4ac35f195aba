package orderapi

import (
	"fmt"
	"strings"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/order"
)

// APIKey binds a bearer key to a channel.
type APIKey struct {
	Key     config.Secret `mapstructure:"key"`
	Channel string        `mapstructure:"channel"`
}

// APIKeys is a list of keys; its text form is "key=channel,key=channel".
type APIKeys []APIKey

// UnmarshalText parses "key=channel,key=channel".
func (k *APIKeys) UnmarshalText(b []byte) error {
	var out APIKeys
	for _, pair := range strings.Split(string(b), ",") {
		key, ch, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("api key entry without '=': use key=retail or key=wholesale")
		}
		out = append(out, APIKey{Key: config.Secret(key), Channel: ch})
	}
	*k = out
	return nil
}

// Check records unusable keys in ck under prefix ("api_keys"): there must
// be at least one, each of 8 characters or more, each once, each bound to
// a known channel.
func (k APIKeys) Check(ck *config.Checker, prefix string) {
	ck.Check(len(k) > 0, prefix, len(k), "at least one {key, channel}")
	seen := map[config.Secret]bool{}
	for i, key := range k {
		name := fmt.Sprintf("%s[%d]", prefix, i)
		ck.Check(len(key.Key.Reveal()) >= 8, name+".key", key.Key, "at least 8 characters")
		ck.Check(!seen[key.Key], name+".key", key.Key, "each key once")
		seen[key.Key] = true
		_, err := order.ParseChannel(key.Channel)
		ck.Add(name+".channel", key.Channel, err, "retail or wholesale")
	}
}
