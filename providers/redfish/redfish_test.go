package redfish

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/internal/secret"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a running simulator with the files a Config points at.
type env struct {
	sim    *redfishsim.Sim
	caFile string
	pwFile string
}

func startEnv(t testing.TB, first string, servers []redfishsim.Server) *env {
	t.Helper()
	sim, err := redfishsim.Start(context.Background(), redfishsim.Options{Servers: servers, FirstIP: netip.MustParseAddr(first)})
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	dir := t.TempDir()
	e := &env{sim: sim, caFile: filepath.Join(dir, "ca.pem"), pwFile: filepath.Join(dir, "password")}
	if err := sim.WriteCAFile(e.caFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.pwFile, []byte(redfishsim.DefaultPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) config(url string) Config {
	c := DefaultConfig()
	c.URL = url
	c.Username = redfishsim.DefaultUsername
	c.Password = secret.Ref{File: e.pwFile}
	c.CAFile = e.caFile
	c.RequestsPerSecond = 1000
	return c
}

func newProvider(t testing.TB, target string, cfg Config) *Provider {
	t.Helper()
	p, err := New(target, cfg, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// expectedInventory is what a correct provider reads from a simulated
// server: the mapping from the simulator's model to the observation.
func expectedInventory(s redfishsim.Server, bmcIP string) *racktrackv1.ServerInventory {
	ids := map[redfishsim.Profile][3]string{
		redfishsim.ProfileGeneric: {"1", "1", "1"}, redfishsim.ProfileDell: {"System.Embedded.1", "iDRAC.Embedded.1", "System.Embedded.1"},
		redfishsim.ProfileHPE: {"1", "1", "1"}, redfishsim.ProfileSupermicro: {"1", "1", "1"}, redfishsim.ProfileLenovo: {"1", "1", "1"},
		redfishsim.ProfileOpenBMC: {"system", "bmc", "chassis"},
	}[s.Profile]
	inv := &racktrackv1.ServerInventory{
		System: &racktrackv1.SystemInfo{
			Id: ids[0], Manufacturer: s.Manufacturer, Model: s.Model, Sku: s.SKU, SerialNumber: s.SerialNumber,
			Uuid: s.UUID, AssetTag: s.AssetTag, BiosVersion: s.BIOSVersion, Hostname: s.Name, PowerState: s.PowerState,
			Health: s.Health, PartNumber: s.PartNumber, SystemType: "Physical",
		},
		Chassis: []*racktrackv1.Chassis{{
			Id: ids[2], ChassisType: "RackMount", Manufacturer: s.Manufacturer, Model: s.Model, SerialNumber: s.SerialNumber,
			PartNumber: s.PartNumber, Sku: s.SKU, AssetTag: s.AssetTag, Rack: s.Rack, RackUnit: strconv.Itoa(s.RackUnit), Health: s.Health,
		}},
		Manager: &racktrackv1.Manager{
			Id: ids[1], Manufacturer: s.Manufacturer, Model: s.Manager.Model, FirmwareVersion: s.Manager.FirmwareVersion,
			MacAddress: s.Manager.MACAddress, IpAddress: bmcIP, Uuid: s.Manager.UUID, Health: "OK",
		},
	}
	for _, p := range s.Processors {
		inv.Processors = append(inv.Processors, &racktrackv1.Processor{
			Id: p.ID, Socket: p.Socket, Manufacturer: p.Manufacturer, Model: p.Model, Cores: uint32(p.Cores),
			Threads: uint32(p.Threads), MaxSpeedMhz: uint32(p.MaxSpeedMHz), Health: p.Health,
		})
	}
	for _, d := range s.DIMMs {
		inv.Memory = append(inv.Memory, &racktrackv1.MemoryModule{
			Id: d.ID, Slot: d.Slot, CapacityMib: uint64(d.CapacityMiB), MemoryType: d.MemoryType, SpeedMhz: uint32(d.SpeedMHz),
			Manufacturer: d.Manufacturer, PartNumber: d.PartNumber, SerialNumber: d.SerialNumber, Health: d.Health,
		})
	}
	for _, c := range s.Storage {
		inv.StorageControllers = append(inv.StorageControllers, &racktrackv1.StorageController{
			Id: c.ID, Name: c.Name, Manufacturer: c.Manufacturer, Model: c.Model, FirmwareVersion: c.FirmwareVersion,
			SerialNumber: c.SerialNumber, Health: c.Health,
		})
		for _, d := range c.Drives {
			inv.Drives = append(inv.Drives, &racktrackv1.Drive{
				Id: d.ID, ControllerId: c.ID, Manufacturer: d.Manufacturer, Model: d.Model, SerialNumber: d.SerialNumber,
				CapacityBytes: uint64(d.CapacityBytes), MediaType: d.MediaType, Protocol: d.Protocol,
				FirmwareVersion: d.FirmwareVersion, Health: d.Health,
			})
		}
	}
	for _, n := range s.NICs {
		inv.Nics = append(inv.Nics, &racktrackv1.NetworkPort{
			Id: n.ID, AdapterId: n.AdapterID, Name: "System Ethernet Interface " + n.ID, MacAddress: n.MACAddress,
			LinkStatus: n.LinkStatus, SpeedMbps: uint32(n.SpeedMbps), Health: "OK",
		})
	}
	for _, p := range s.PSUs {
		inv.PowerSupplies = append(inv.PowerSupplies, &racktrackv1.PowerSupply{
			Id: p.ID, Manufacturer: p.Manufacturer, Model: p.Model, SerialNumber: p.SerialNumber, PartNumber: p.PartNumber,
			FirmwareVersion: p.FirmwareVersion, CapacityWatts: p.CapacityWatts, Health: p.Health,
		})
	}
	for _, f := range s.Firmware {
		inv.Firmware = append(inv.Firmware, &racktrackv1.FirmwareItem{Id: f.ID, Name: f.Name, Version: f.Version, Updateable: f.Updateable})
	}
	sortInventory(inv)
	return inv
}

func diffProto(t *testing.T, got, want proto.Message) {
	t.Helper()
	if proto.Equal(got, want) {
		return
	}
	o := protojson.MarshalOptions{Multiline: true}
	g, w := strings.Split(o.Format(got), "\n"), strings.Split(o.Format(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("first difference at line %d:\n got: %s\nwant: %s\n\ngot:\n%s", i+1, gl, wl, o.Format(got))
		}
	}
}

func allProfiles() []redfishsim.Server {
	var servers []redfishsim.Server
	for i, p := range redfishsim.Profiles() {
		servers = append(servers, redfishsim.GenerateServer("lab", "r01", i, p))
	}
	return servers
}

// TestPollInventory reads one server of every profile and compares every
// field with the server the simulator was given.
func TestPollInventory(t *testing.T) {
	e := startEnv(t, "127.0.3.1", allProfiles())
	for _, b := range e.sim.BMCs() {
		srv := b.Server()
		t.Run(string(srv.Profile), func(t *testing.T) {
			p := newProvider(t, b.Name, e.config(b.URL))
			res, err := p.Poll(context.Background())
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if len(res.Observations) != 2 {
				t.Fatalf("got %d observations, want 2", len(res.Observations))
			}
			obs := res.Observations[0]
			if !obs.Complete || len(obs.Incomplete) != 0 {
				t.Fatalf("inventory incomplete: %q", obs.Incomplete)
			}
			if obs.Source != racktrackv1.Source_SOURCE_REDFISH || obs.Target != b.Name {
				t.Fatalf("envelope: source %v target %q", obs.Source, obs.Target)
			}
			inv := obs.GetServerInventory()
			want := expectedInventory(srv, b.IP.String())
			got := proto.CloneOf(inv)
			got.ContentHash = ""
			diffProto(t, got, want)
			if inv.ContentHash != contentHash(want) || len(inv.ContentHash) != 64 {
				t.Fatalf("content hash %q, want %q", inv.ContentHash, contentHash(want))
			}
			h := res.Observations[1]
			if !h.Complete || h.GetServerHealth().GetPowerState() != "On" || h.GetServerHealth().GetHealth() != "OK" {
				t.Fatalf("health observation: %v", h)
			}
		})
	}
}

// TestPollDetectsChange swaps a DIMM and upgrades the BIOS between polls.
func TestPollDetectsChange(t *testing.T) {
	e := startEnv(t, "127.0.3.21", []redfishsim.Server{redfishsim.GenerateServer("lab", "r02", 0, redfishsim.ProfileDell)})
	b := e.sim.BMCs()[0]
	p := newProvider(t, b.Name, e.config(b.URL))
	first, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := first.Observations[0].GetServerInventory().ContentHash, again.Observations[0].GetServerInventory().ContentHash
	if h1 != h2 {
		t.Fatalf("hash changed without a change: %s != %s", h1, h2)
	}
	b.Update(func(s *redfishsim.Server) {
		s.DIMMs[2].SerialNumber = "NEWDIMM01"
		s.BIOSVersion = "1.11.0"
	})
	after, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	inv := after.Observations[0].GetServerInventory()
	if inv.ContentHash == h1 {
		t.Fatal("hash unchanged after a DIMM swap")
	}
	if got := inv.Memory[2].SerialNumber; got != "NEWDIMM01" {
		t.Fatalf("DIMM serial = %q, want NEWDIMM01", got)
	}
	if got := inv.System.BiosVersion; got != "1.11.0" {
		t.Fatalf("BIOS = %q, want 1.11.0", got)
	}
}

func targetError(t *testing.T, err error) *providers.TargetError {
	t.Helper()
	var te *providers.TargetError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *providers.TargetError", err, err)
	}
	return te
}

func TestPollErrors(t *testing.T) {
	e := startEnv(t, "127.0.3.31", []redfishsim.Server{redfishsim.GenerateServer("lab", "r03", 0, redfishsim.ProfileGeneric)})
	b := e.sim.BMCs()[0]
	badPw := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(badPw, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		target string
		cfg    func(Config) Config
		kind   providers.ErrorKind
		op     string
	}{
		{"no CA", b.Addr, func(c Config) Config { c.CAFile = ""; return c }, providers.KindTLS, "GET /redfish/v1/"},
		{"wrong password", b.Addr, func(c Config) Config { c.Password = secret.Ref{File: badPw}; return c }, providers.KindAuth, "POST /redfish/v1/SessionService/Sessions"},
		{"wrong password basic", b.Addr, func(c Config) Config { c.Password = secret.Ref{File: badPw}; c.Auth = AuthBasic; return c }, providers.KindAuth, "GET /redfish/v1/Systems?$expand=."},
		{"refused", "127.0.3.39:9", func(c Config) Config { c.URL = "https://127.0.3.39:9"; return c }, providers.KindRefused, "GET /redfish/v1/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, tc.target, tc.cfg(e.config(b.URL)))
			res, err := p.Poll(context.Background())
			te := targetError(t, err)
			if te.Kind != tc.kind || te.Operation != tc.op || te.Target != tc.target || te.Provider != "redfish" {
				t.Fatalf("got kind %q op %q target %q, want %q %q %q (%v)", te.Kind, te.Operation, te.Target, tc.kind, tc.op, tc.target, err)
			}
			if want := fmt.Sprintf("redfish %s: %s: ", tc.target, tc.op); !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("message %q does not start with %q", err, want)
			}
			if len(res.Observations) != 0 || res.Requests < 1 {
				t.Fatalf("result on error: %d observations, %d requests", len(res.Observations), res.Requests)
			}
		})
	}

	t.Run("insecure", func(t *testing.T) {
		c := e.config(b.URL)
		c.CAFile, c.InsecureSkipVerify = "", true
		p := newProvider(t, b.Addr, c)
		if _, err := p.Poll(context.Background()); err != nil {
			t.Fatalf("Poll with insecure_skip_verify: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		b.SetFaults(redfishsim.Faults{Latency: time.Minute})
		defer b.SetFaults(redfishsim.Faults{})
		c := e.config(b.URL)
		c.Timeout = 200 * time.Millisecond
		c.Retries = 0
		p := newProvider(t, b.Addr, c)
		_, err := p.Poll(context.Background())
		if te := targetError(t, err); te.Kind != providers.KindTimeout || te.Operation != "GET /redfish/v1/" {
			t.Fatalf("got %q %q, want timeout on the service root (%v)", te.Kind, te.Operation, err)
		}
	})
}

// TestSessionLifecycle: one session across polls, a new one after the BMC
// drops it, logout at Close.
func TestSessionLifecycle(t *testing.T) {
	e := startEnv(t, "127.0.3.41", []redfishsim.Server{redfishsim.GenerateServer("lab", "r04", 0, redfishsim.ProfileHPE)})
	b := e.sim.BMCs()[0]
	reg := prometheus.NewPedanticRegistry()
	p, err := New(b.Name, e.config(b.URL), Options{Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.Stats(); st.SessionsCreated != 1 || st.ActiveSessions != 1 {
		t.Fatalf("after two polls: %+v, want one session created and open", st)
	}
	b.ExpireSessions()
	res, err := p.Poll(context.Background())
	if err != nil {
		t.Fatalf("poll after session expiry: %v", err)
	}
	if !res.Observations[0].Complete {
		t.Fatalf("incomplete after re-login: %q", res.Observations[0].Incomplete)
	}
	if st := b.Stats(); st.SessionsCreated != 2 || st.ActiveSessions != 1 {
		t.Fatalf("after expiry: %+v, want a second session", st)
	}
	// Close with an already cancelled context still logs out.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := b.Stats(); st.ActiveSessions != 0 || st.SessionsDeleted != 1 {
		t.Fatalf("after Close: %+v, want the session deleted", st)
	}
	if _, err := p.Poll(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll after Close: %v, want ErrClosed", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				got[mf.GetName()] += c.GetValue()
			}
		}
	}
	want := map[string]float64{
		"racktrack_redfish_sessions_created_total": 2,
		"racktrack_redfish_relogins_total":         1,
		"racktrack_redfish_logouts_total":          1,
		"racktrack_redfish_polls_total":            3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestPollMockup reads the hand-written DMTF mockup the simulator ships:
// no $expand, MACs in upper case with colons and with dashes, no
// processors, memory, storage, power or firmware resources.
func TestPollMockup(t *testing.T) {
	sim, err := redfishsim.Start(context.Background(), redfishsim.Options{
		Mockups: []string{filepath.Join("redfishsim", "testdata", "mockup-minimal")},
		FirstIP: netip.MustParseAddr("127.0.3.99"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	dir := t.TempDir()
	e := &env{sim: sim, caFile: filepath.Join(dir, "ca.pem"), pwFile: filepath.Join(dir, "pw")}
	if err := sim.WriteCAFile(e.caFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.pwFile, []byte(redfishsim.DefaultPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	b := sim.BMCs()[0]
	p := newProvider(t, "web483-bmc", e.config(b.URL))
	res, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	obs := res.Observations[0]
	if !obs.Complete {
		t.Fatalf("incomplete: %q", obs.Incomplete)
	}
	want := &racktrackv1.ServerInventory{
		System: &racktrackv1.SystemInfo{
			Id: "437XR1138R2", Manufacturer: "Contoso", Model: "3500RX", Sku: "8675309", SerialNumber: "437XR1138R2",
			Uuid: "38947555-7742-3448-3784-823347823834", AssetTag: "Chicago-45Z-2381", BiosVersion: "P79 v1.33 (02/28/2015)",
			Hostname: "web483", PowerState: "On", Health: "OK", PartNumber: "224071-J23", SystemType: "Physical",
		},
		Chassis: []*racktrackv1.Chassis{{
			Id: "1U", ChassisType: "RackMount", Manufacturer: "Contoso", Model: "3500RX", SerialNumber: "437XR1138R2",
			PartNumber: "224071-J23", Sku: "8675309", AssetTag: "Chicago-45Z-2381", Rack: "WEB43", RackUnit: "12", Health: "OK",
		}},
		Manager: &racktrackv1.Manager{
			Id: "BMC", Model: "Joo Janta 200", FirmwareVersion: "4.4.6521", MacAddress: "12:44:6a:3b:04:ff",
			IpAddress: "192.0.2.10", Uuid: "58893887-8974-2487-2389-841168418919", Health: "OK",
		},
		Nics: []*racktrackv1.NetworkPort{
			{Id: "12446A3B0411", Name: "Ethernet Interface", MacAddress: "12:44:6a:3b:04:11", LinkStatus: "LinkUp", SpeedMbps: 1000, Health: "OK"},
			{Id: "12446A3B8890", Name: "Ethernet Interface", MacAddress: "12:44:6a:3b:88:90", LinkStatus: "LinkDown", SpeedMbps: 1000, Health: "OK"},
		},
	}
	got := proto.CloneOf(obs.GetServerInventory())
	got.ContentHash = ""
	diffProto(t, got, want)
	// No $expand advertised: none sent.
	for _, r := range b.RecentRequests() {
		if strings.Contains(r, "$expand") {
			t.Fatalf("sent %q to a BMC without $expand", r)
		}
	}
}
