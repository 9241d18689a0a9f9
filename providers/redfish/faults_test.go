package redfish

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stmcginnis/gofish/schemas"

	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

// TestFaults injects one misbehaviour per case into a Supermicro-like BMC
// (legacy Thermal/Power, no $expand) or a generic one, and checks what the
// poll reports.
func TestFaults(t *testing.T) {
	e := startEnv(t, "127.0.3.81", []redfishsim.Server{
		redfishsim.GenerateServer("lab", "r06", 0, redfishsim.ProfileGeneric),
		redfishsim.GenerateServer("lab", "r06", 1, redfishsim.ProfileSupermicro),
	})
	gen, smc := e.sim.BMCs()[0], e.sim.BMCs()[1]

	type outcome struct {
		kind       providers.ErrorKind // set when the poll fails
		op         string
		incomplete []string // inventory
		health     []string // health
	}
	tests := []struct {
		name   string
		bmc    *redfishsim.BMC
		faults redfishsim.Faults
		cfg    func(*Config)
		want   outcome
		check  func(t *testing.T, res providers.PollResult, err error)
	}{
		{
			name:   "503 once is retried",
			bmc:    gen,
			faults: redfishsim.Faults{Path: "/redfish/v1/Systems/1/Memory", Status: 503, StatusTimes: 1},
		},
		{
			name:   "500 on memory",
			bmc:    gen,
			faults: redfishsim.Faults{Path: "/redfish/v1/Systems/1/Memory", Status: 500},
			want: outcome{incomplete: []string{
				"memory: GET /redfish/v1/Systems/1/Memory?$expand=.: 500 Internal Server Error: injected fault: 500 Internal Server Error",
			}},
			check: func(t *testing.T, res providers.PollResult, _ error) {
				inv := res.Observations[0].GetServerInventory()
				if len(inv.Memory) != 0 || len(inv.Processors) != 2 || len(inv.Drives) != 3 {
					t.Fatalf("partial inventory: %d DIMMs, %d CPUs, %d drives", len(inv.Memory), len(inv.Processors), len(inv.Drives))
				}
			},
		},
		{
			name:   "503 everywhere",
			bmc:    gen,
			faults: redfishsim.Faults{Status: 503},
			want:   outcome{kind: providers.KindHTTP, op: "GET /redfish/v1/"},
			check: func(t *testing.T, res providers.PollResult, err error) {
				var rf *schemas.Error
				if !errors.As(err, &rf) || rf.HTTPReturnedStatusCode != 503 {
					t.Fatalf("error chain lacks gofish's *schemas.Error with 503: %v", err)
				}
				if res.Requests != 3 {
					t.Fatalf("%d requests, want 3 (one try and two retries)", res.Requests)
				}
			},
		},
		{
			name:   "malformed system",
			bmc:    smc,
			faults: redfishsim.Faults{Path: "/redfish/v1/Systems/1", MalformedJSON: true},
			want:   outcome{kind: providers.KindDecode, op: "GET /redfish/v1/Systems/1"},
		},
		{
			name:   "malformed thermal",
			bmc:    smc,
			faults: redfishsim.Faults{Path: "/redfish/v1/Chassis/1/Thermal", MalformedJSON: true},
			want:   outcome{health: []string{"sensors: GET /redfish/v1/Chassis/1/Thermal: decode: unexpected EOF"}},
		},
		{
			name:   "slow firmware inventory",
			bmc:    smc,
			faults: redfishsim.Faults{Path: "/redfish/v1/UpdateService", Latency: time.Minute},
			cfg:    func(c *Config) { c.Timeout = 300 * time.Millisecond },
			want:   outcome{incomplete: []string{"firmware: GET /redfish/v1/UpdateService: context deadline exceeded"}},
		},
		{
			name:   "missing fields",
			bmc:    smc,
			faults: redfishsim.Faults{DropFields: []string{"SerialNumber", "MACAddress"}},
			check: func(t *testing.T, res providers.PollResult, _ error) {
				inv := res.Observations[0].GetServerInventory()
				want := smc.Server()
				if inv.System.SerialNumber != "" || inv.System.Uuid != want.UUID {
					t.Fatalf("system serial %q uuid %q", inv.System.SerialNumber, inv.System.Uuid)
				}
				// MACAddress is gone; PermanentMACAddress stands in.
				if inv.Nics[0].MacAddress != want.NICs[0].MACAddress || inv.Manager.MacAddress != want.Manager.MACAddress {
					t.Fatalf("MACs %q %q, want %q %q", inv.Nics[0].MacAddress, inv.Manager.MacAddress, want.NICs[0].MACAddress, want.Manager.MACAddress)
				}
			},
		},
		{
			name:   "expand refused despite advertised",
			bmc:    gen,
			faults: redfishsim.Faults{RefuseExpand: true},
			check: func(t *testing.T, res providers.PollResult, _ error) {
				reqs := gen.RecentRequests()
				// Only the first expanded request is tried; the rest go plain.
				var expanded int
				for _, r := range reqs[len(reqs)-res.Requests:] {
					if strings.Contains(r, "$expand") {
						expanded++
					}
				}
				if expanded != 1 {
					t.Fatalf("%d expanded requests, want 1: %q", expanded, reqs[len(reqs)-res.Requests:])
				}
			},
		},
		{
			name:   "session limit",
			bmc:    smc,
			faults: redfishsim.Faults{MaxSessions: 1},
			cfg:    func(*Config) { smc.ExpireSessions(); smc.OpenSession() },
			want:   outcome{kind: providers.KindHTTP, op: "POST /redfish/v1/SessionService/Sessions"},
		},
		{
			name:   "no session service",
			bmc:    smc,
			faults: redfishsim.Faults{NoSessionService: true},
			cfg:    func(*Config) { smc.ExpireSessions() },
			check: func(t *testing.T, _ providers.PollResult, _ error) {
				if st := smc.Stats(); st.ActiveSessions != 0 {
					t.Fatalf("sessions open with basic authentication: %+v", st)
				}
			},
		},
		{
			name:   "certificate changed",
			bmc:    gen,
			faults: redfishsim.Faults{ForeignCertificate: true},
			want:   outcome{kind: providers.KindTLS, op: "GET /redfish/v1/Systems?$expand=."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.bmc.SetFaults(redfishsim.Faults{})
			defer tc.bmc.SetFaults(redfishsim.Faults{})
			c := e.config(tc.bmc.URL)
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			p := newProvider(t, tc.bmc.Name, c)
			// Certificate and session faults hit an established provider.
			if tc.name == "certificate changed" {
				if _, err := p.Poll(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			tc.bmc.SetFaults(tc.faults)
			res, err := p.Poll(context.Background())
			if tc.want.kind != "" {
				te := targetError(t, err)
				if te.Kind != tc.want.kind || te.Operation != tc.want.op {
					t.Fatalf("got %q %q, want %q %q (%v)", te.Kind, te.Operation, tc.want.kind, tc.want.op, err)
				}
			} else {
				if err != nil {
					t.Fatalf("Poll: %v", err)
				}
				inv, health := res.Observations[0], res.Observations[1]
				if !slices.Equal(inv.Incomplete, tc.want.incomplete) || inv.Complete != (len(tc.want.incomplete) == 0) {
					t.Fatalf("inventory complete=%v incomplete %q, want %q", inv.Complete, inv.Incomplete, tc.want.incomplete)
				}
				if !slices.Equal(health.Incomplete, tc.want.health) || health.Complete != (len(tc.want.health) == 0) {
					t.Fatalf("health complete=%v incomplete %q, want %q", health.Complete, health.Incomplete, tc.want.health)
				}
			}
			if tc.check != nil {
				tc.check(t, res, err)
			}
		})
	}
}

// TestCloseWithoutPoll: Close before any poll sends nothing.
func TestCloseWithoutPoll(t *testing.T) {
	e := startEnv(t, "127.0.3.91", []redfishsim.Server{redfishsim.GenerateServer("lab", "r07", 0, redfishsim.ProfileGeneric)})
	b := e.sim.BMCs()[0]
	p, err := New(b.Name, e.config(b.URL), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if st := b.Stats(); st.Requests != 0 {
		t.Fatalf("%d requests, want none", st.Requests)
	}
}

// TestPollCancelled: a poll whose context ends mid-way returns promptly
// with a timeout-kind error and leaves the provider usable.
func TestPollCancelled(t *testing.T) {
	e := startEnv(t, "127.0.3.95", []redfishsim.Server{redfishsim.GenerateServer("lab", "r07", 1, redfishsim.ProfileGeneric)})
	b := e.sim.BMCs()[0]
	p := newProvider(t, b.Name, e.config(b.URL))
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.SetFaults(redfishsim.Faults{Path: "/redfish/v1/Systems", Latency: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the slow request (the 15th: the first poll made 14)
		// is being served, or after 10 s in any case.
		deadline := time.Now().Add(10 * time.Second)
		for b.Stats().Requests < 15 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := p.Poll(ctx)
	if te := targetError(t, err); te.Kind != providers.KindTimeout || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled poll: %v", err)
	}
	b.SetFaults(redfishsim.Faults{})
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatalf("poll after a cancelled one: %v", err)
	}
}

// TestCloseDuringPoll: Close waits for a running poll only as long as its
// context allows; once the poll ends, Close logs out.
func TestCloseDuringPoll(t *testing.T) {
	e := startEnv(t, "127.0.3.97", []redfishsim.Server{redfishsim.GenerateServer("lab", "r07", 2, redfishsim.ProfileGeneric)})
	b := e.sim.BMCs()[0]
	p, err := New(b.Name, e.config(b.URL), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.SetFaults(redfishsim.Faults{Path: "/redfish/v1/Systems", Latency: time.Minute})
	pollCtx, cancelPoll := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Poll(pollCtx)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Requests < 15 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelClose()
	if te := targetError(t, p.Close(closeCtx)); te.Kind != providers.KindTimeout || te.Operation != "close" {
		t.Fatalf("Close during a poll: %v", te)
	}
	cancelPoll()
	<-done
	b.SetFaults(redfishsim.Faults{})
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("Close after the poll: %v", err)
	}
	if st := b.Stats(); st.ActiveSessions != 0 {
		t.Fatalf("session left open: %+v", st)
	}
}

// TestConcurrentRelogin: the session expires while two requests are in
// flight; both are rejected, one login follows, and the poll completes.
func TestConcurrentRelogin(t *testing.T) {
	e := startEnv(t, "127.0.3.98", []redfishsim.Server{redfishsim.GenerateServer("lab", "r07", 3, redfishsim.ProfileGeneric)})
	b := e.sim.BMCs()[0]
	p := newProvider(t, b.Name, e.config(b.URL))
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The first poll made 14 requests; the second starts with the system
	// (15th), then two parts at once (16th, 17th), each held 200 ms.
	b.SetFaults(redfishsim.Faults{Path: "/redfish/v1/Systems/1/", Latency: 200 * time.Millisecond})
	done := make(chan error, 1)
	var res providers.PollResult
	go func() {
		var err error
		res, err = p.Poll(context.Background())
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Requests < 17 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.ExpireSessions()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !res.Observations[0].Complete {
		t.Fatalf("incomplete: %q", res.Observations[0].Incomplete)
	}
	if st := b.Stats(); st.SessionsCreated != 2 || st.ActiveSessions != 1 {
		t.Fatalf("stats %+v: want exactly one new login", st)
	}
	var logins int
	for _, r := range b.RecentRequests() {
		if r == "POST /redfish/v1/SessionService/Sessions" {
			logins++
		}
	}
	if logins != 2 {
		t.Fatalf("%d logins, want 2", logins)
	}
}
