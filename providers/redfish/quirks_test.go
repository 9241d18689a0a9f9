package redfish

import (
	"context"
	"strings"
	"testing"

	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

func TestLookupQuirks(t *testing.T) {
	tests := []struct {
		vendor, product string
		want            string
	}{
		{"Dell", "Integrated Dell Remote Access Controller", "dell-idrac-legacy-thermal"},
		{"Supermicro", "", "supermicro-no-expand"},
		{"HPE", "ProLiant DL360 Gen10 Plus", ""},
		{"dell", "", ""}, // Vendor matches exactly
	}
	for _, tc := range tests {
		if got := lookupQuirks(&serviceRoot{Vendor: tc.vendor, Product: tc.product}).Name; got != tc.want {
			t.Errorf("lookupQuirks(%q, %q) = %q, want %q", tc.vendor, tc.product, got, tc.want)
		}
	}
}

// TestSupermicroQuirk: the Supermicro-like profile advertises $expand but
// fails it with 500. With the quirk the poll is complete and sends no
// $expand; without it the expanded requests fail and the poll is partial.
func TestSupermicroQuirk(t *testing.T) {
	e := startEnv(t, "127.0.3.111", []redfishsim.Server{
		redfishsim.GenerateServer("lab", "r08", 0, redfishsim.ProfileSupermicro),
		redfishsim.GenerateServer("lab", "r08", 1, redfishsim.ProfileSupermicro),
	})
	withQuirk, without := e.sim.BMCs()[0], e.sim.BMCs()[1]

	p := newProvider(t, withQuirk.Name, e.config(withQuirk.URL))
	res, err := p.Poll(context.Background())
	if err != nil || !res.Observations[0].Complete || !res.Observations[1].Complete {
		t.Fatalf("with the quirk: err %v, incomplete %q %q", err, res.Observations[0].GetIncomplete(), res.Observations[1].GetIncomplete())
	}
	for _, r := range withQuirk.RecentRequests() {
		if strings.Contains(r, "$expand") {
			t.Fatalf("sent %q despite the quirk", r)
		}
	}

	saved := quirks
	quirks = nil
	t.Cleanup(func() { quirks = saved })
	p = newProvider(t, without.Name, e.config(without.URL))
	_, err = p.Poll(context.Background())
	if te := targetError(t, err); te.Kind != "http" || te.Operation != "GET /redfish/v1/Systems?$expand=." {
		t.Fatalf("without the quirk: %v", err)
	}
}
