package config

import (
	"errors"
	"strings"
	"testing"
)

func TestWatchlistSection(t *testing.T) {
	f := func(name, yml, wantPath string, wantErr error) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(yml))
			if wantPath == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), wantPath+":") || !errors.Is(err, wantErr) {
				t.Fatalf("err = %v, want %s: %v", err, wantPath, wantErr)
			}
			_ = c
		})
	}
	key := "0123456789abcdef0123456789abcdef"
	f("off by default", "", "", nil)
	f("one key", "watchlist:\n  keys:\n    - {id: k1, secret: "+key+"}\n", "", nil)
	f("two keys while rotating", "watchlist:\n  keys:\n    - {id: k1, secret: "+key+"}\n    - {id: k2, secret: "+key+"x}\n", "", nil)
	f("short key", "watchlist:\n  keys:\n    - {id: k1, secret: short}\n", "watchlist.keys[0].secret", ErrOutOfRange)
	f("missing secret", "watchlist:\n  keys:\n    - {id: k1}\n", "watchlist.keys[0].secret", ErrRequired)
	f("bad key id", "watchlist:\n  keys:\n    - {id: K 1, secret: "+key+"}\n", "watchlist.keys[0].id", ErrInvalidEnum)
	f("duplicate key id", "watchlist:\n  keys:\n    - {id: k1, secret: "+key+"}\n    - {id: k1, secret: "+key+"}\n", "watchlist.keys[1].id", ErrInvalidEnum)
	f("three keys", "watchlist:\n  keys:\n    - {id: a, secret: "+key+"}\n    - {id: b, secret: "+key+"}\n    - {id: c, secret: "+key+"}\n", "watchlist.keys", ErrOutOfRange)
	f("unknown phone region", "watchlist:\n  phone_regions: [US, XX]\n", "watchlist.phone_regions[1]", ErrInvalidEnum)
	f("refresh too fast", "watchlist:\n  refresh: 1ms\n", "watchlist.refresh", ErrOutOfRange)
	f("bad namespace", "watchlist:\n  namespace: \"a:b\"\n", "watchlist.namespace", ErrInvalidEnum)

	c := Default()
	if c.Watchlist.Enabled() || c.Watchlist.Refresh == 0 || c.Watchlist.Namespace != "wl" || len(c.Watchlist.PhoneRegions) != 1 {
		t.Fatalf("defaults: %+v", c.Watchlist)
	}
	var b strings.Builder
	c.Watchlist.Keys = []WatchlistKey{{ID: "k1", Secret: NewSecret(key)}}
	if err := WriteYAML(&b, c); err != nil || strings.Contains(b.String(), key) {
		t.Fatalf("the key is printed: %v\n%s", err, b.String())
	}
}
