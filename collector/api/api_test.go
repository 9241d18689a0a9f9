package api

import (
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/racktrack/racktrack/collector/store"
)

func TestParams(t *testing.T) {
	tests := []struct {
		query   string
		allowed []string
		want    string
	}{
		{"site=a&rack=b", []string{"site", "rack"}, ""},
		{"site=a&x=1&y=2", []string{"site"}, `unknown query parameter "x"`},
		{"site=a&site=b", []string{"site"}, `query parameter "site" given more than once`},
		{"site=", []string{"site"}, `query parameter "site" is empty`},
		{"from=yesterday", []string{"from"}, `query parameter "from": "yesterday" is not an RFC 3339 time (2006-01-02T15:04:05Z)`},
		{"step=1ms", []string{"step"}, `query parameter "step": "1ms" is not a duration of at least 1s (e.g. 5m)`},
		{"reachable=maybe", []string{"reachable"}, `query parameter "reachable": "maybe" is neither true nor false`},
		{"limit=0", []string{"limit"}, `query parameter "limit": "0" is not a number between 1 and 5000`},
		{"limit=5001", []string{"limit"}, `query parameter "limit": "5001" is not a number between 1 and 5000`},
		{"cursor=!!", []string{"cursor"}, `query parameter "cursor" is not a cursor this API returned`},
		{"cursor=e30", []string{"cursor"}, ""},
		{"", []string{"site"}, `query parameter "site" is required`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p := parse(httptest.NewRequest("GET", "/x?"+tt.query, nil), tt.allowed...)
			for _, a := range tt.allowed {
				switch a {
				case "from":
					p.time(a)
				case "step":
					p.duration(a)
				case "reachable":
					p.boolean(a)
				case "limit":
					p.limit()
				case "cursor":
					var c store.ServerCursor
					p.cursor(&c)
				default:
					if tt.query == "" {
						p.required(a)
					} else {
						p.str(a)
					}
				}
			}
			got := ""
			if p.err != nil {
				got = p.err.Error()
			}
			if got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	in := store.HistoryCursor{ObservedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Device: "bmc-1", Kind: "server_inventory", Component: "memory[A1]", Field: "serial_number"}
	p := parse(httptest.NewRequest("GET", "/x?cursor="+encodeCursor(in), nil), "cursor")
	var out store.HistoryCursor
	if !p.cursor(&out) || p.err != nil || !reflect.DeepEqual(in, out) {
		t.Errorf("round trip: %+v (%v), want %+v", out, p.err, in)
	}
	// A cursor of another list does not decode (unknown fields).
	p = parse(httptest.NewRequest("GET", "/x?cursor="+encodeCursor(in), nil), "cursor")
	var other store.ServerCursor
	if p.cursor(&other); p.err == nil {
		t.Errorf("a history cursor decoded as a server cursor: %+v", other)
	}
}

// FuzzCursor feeds arbitrary cursors: they decode or fail with the one
// message, never panic.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(store.ServerCursor{Site: "ams1", Rack: "r1", Target: "bmc-1"}))
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, c string) {
		r := httptest.NewRequest("GET", "/x", nil)
		q := r.URL.Query()
		q.Set("cursor", c)
		r.URL.RawQuery = q.Encode()
		p := parse(r, "cursor")
		var sc store.ServerCursor
		ok := p.cursor(&sc)
		if p.err != nil && (ok || p.err.Error() != `query parameter "cursor" is not a cursor this API returned` && p.err.Error() != `query parameter "cursor" is empty`) {
			t.Fatalf("cursor %q: ok %v err %v", c, ok, p.err)
		}
	})
}
