package redfish

import (
	"context"
	"testing"
	"time"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

// expectedHealth is what a correct provider reads from a simulated server:
// legacy Thermal/Power carry thresholds and per-sensor health, the
// ThermalSubsystem excerpts only readings and context.
func expectedHealth(s redfishsim.Server, legacy bool) *racktrackv1.ServerHealth {
	h := &racktrackv1.ServerHealth{Health: s.Health, PowerState: s.PowerState, PowerConsumedWatts: s.PowerConsumedWatts}
	for _, t := range s.Temperatures {
		sn := &racktrackv1.Sensor{Name: t.Name, Kind: "temperature", Reading: t.Celsius, Units: "Cel", PhysicalContext: t.PhysicalContext}
		if legacy {
			sn.Health, sn.UpperCritical = "OK", t.UpperCritical
		}
		h.Sensors = append(h.Sensors, sn)
	}
	for _, f := range s.Fans {
		h.Sensors = append(h.Sensors, &racktrackv1.Sensor{Name: f.Name, Kind: "fan", Reading: f.RPM, Units: "RPM", Health: "OK"})
	}
	sortSensors(h.Sensors)
	return h
}

func TestPollHealth(t *testing.T) {
	e := startEnv(t, "127.0.3.51", allProfiles())
	legacy := map[redfishsim.Profile]bool{
		redfishsim.ProfileDell: true, // has both; the quirk prefers legacy
		redfishsim.ProfileHPE:  true, redfishsim.ProfileSupermicro: true,
	}
	for _, b := range e.sim.BMCs() {
		b.Update(func(s *redfishsim.Server) { s.Temperatures[2].Celsius = 71.5; s.Fans[1].RPM = 9000 })
		srv := b.Server()
		t.Run(string(srv.Profile), func(t *testing.T) {
			p := newProvider(t, b.Name, e.config(b.URL))
			res, err := p.Poll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			obs := res.Observations[1]
			if !obs.Complete {
				t.Fatalf("health incomplete: %q", obs.Incomplete)
			}
			diffProto(t, obs.GetServerHealth(), expectedHealth(srv, legacy[srv.Profile]))
		})
	}
}

// TestRequestBudget checks the number of requests per poll for every
// profile: the first poll adds the service root and the login.
func TestRequestBudget(t *testing.T) {
	e := startEnv(t, "127.0.3.61", allProfiles())
	for _, b := range e.sim.BMCs() {
		srv := b.Server()
		for _, mode := range []string{ExpandAuto, ExpandOff} {
			t.Run(string(srv.Profile)+"/"+mode, func(t *testing.T) {
				c := e.config(b.URL)
				c.Expand = mode
				p := newProvider(t, b.Name, c)
				first, err := p.Poll(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				second, err := p.Poll(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if first.Requests != second.Requests+2 {
					t.Fatalf("first poll %d requests, second %d: want exactly the service root and login more", first.Requests, second.Requests)
				}
				want := wantRequests[srv.Profile][mode]
				if second.Requests != want {
					t.Fatalf("steady-state poll: %d requests, want %d", second.Requests, want)
				}
				limit := 60
				if mode == ExpandAuto && srv.Profile != redfishsim.ProfileSupermicro {
					limit = 12
				}
				// The budget of the issue counts the inventory; the health
				// sensors of the new subsystems cost up to two more.
				if inv := want - sensorRequests[srv.Profile][mode]; inv > limit {
					t.Fatalf("inventory takes %d requests, budget %d", inv, limit)
				}
			})
		}
	}
}

// wantRequests are the steady-state requests per poll (session reused).
var wantRequests = map[redfishsim.Profile]map[string]int{
	redfishsim.ProfileGeneric:    {ExpandAuto: 12, ExpandOff: 49},
	redfishsim.ProfileDell:       {ExpandAuto: 11, ExpandOff: 40},
	redfishsim.ProfileHPE:        {ExpandAuto: 11, ExpandOff: 40},
	redfishsim.ProfileSupermicro: {ExpandAuto: 40, ExpandOff: 40},
	redfishsim.ProfileLenovo:     {ExpandAuto: 12, ExpandOff: 49},
	redfishsim.ProfileOpenBMC:    {ExpandAuto: 12, ExpandOff: 53},
}

// sensorRequests are the requests only the health observation needs.
var sensorRequests = map[redfishsim.Profile]map[string]int{
	redfishsim.ProfileGeneric:    {ExpandAuto: 2, ExpandOff: 7},
	redfishsim.ProfileDell:       {ExpandAuto: 1, ExpandOff: 1},
	redfishsim.ProfileHPE:        {ExpandAuto: 1, ExpandOff: 1},
	redfishsim.ProfileSupermicro: {ExpandAuto: 1, ExpandOff: 1},
	redfishsim.ProfileLenovo:     {ExpandAuto: 2, ExpandOff: 7},
	redfishsim.ProfileOpenBMC:    {ExpandAuto: 2, ExpandOff: 7},
}

// TestInFlightLimit makes every response slow, so parallel parts overlap,
// and reads the most concurrent requests the BMC saw.
func TestInFlightLimit(t *testing.T) {
	e := startEnv(t, "127.0.3.71", []redfishsim.Server{
		redfishsim.GenerateServer("lab", "r05", 0, redfishsim.ProfileGeneric),
		redfishsim.GenerateServer("lab", "r05", 1, redfishsim.ProfileGeneric),
	})
	for i, limit := range []int{1, 2} {
		b := e.sim.BMCs()[i]
		b.SetFaults(redfishsim.Faults{Latency: 20 * time.Millisecond})
		c := e.config(b.URL)
		c.MaxInFlight = limit
		p := newProvider(t, b.Name, c)
		if _, err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := b.Stats().MaxInFlight; got != int64(limit) {
			t.Errorf("max_in_flight %d: BMC saw %d requests at once", limit, got)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(100, 5)
	start := time.Now()
	for range 25 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 5 from the burst, 20 at 100/s: at least 200 ms.
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Fatalf("25 requests at 100/s with burst 5 took %s, want ≥ 200ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l = newLimiter(1, 1)
	_ = l.wait(context.Background())
	if err := l.wait(ctx); err != context.Canceled {
		t.Fatalf("wait with cancelled context: %v", err)
	}
}
