package redfishsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startSim starts a simulator on a test-specific address block.
func startSim(t *testing.T, first string, servers []Server, mockups ...string) *Sim {
	t.Helper()
	sim, err := Start(context.Background(), Options{Servers: servers, Mockups: mockups, FirstIP: netip.MustParseAddr(first)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sim
}

func client(t *testing.T, sim *Sim) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(sim.CAPEM()) {
		t.Fatal("CA PEM does not parse")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

type reply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    []byte
}

func do(t *testing.T, c *http.Client, method, url, token string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case token == "basic":
		req.SetBasicAuth(DefaultUsername, DefaultPassword)
	case token != "":
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

func TestGenerateServersDeterministic(t *testing.T) {
	a := GenerateServers("fra1", "r07", 6)
	b := GenerateServers("fra1", "r07", 6)
	c := GenerateServers("fra1", "r08", 6)
	seen := map[string]bool{}
	for i := range a {
		if a[i].SerialNumber != b[i].SerialNumber || a[i].UUID != b[i].UUID || a[i].NICs[0].MACAddress != b[i].NICs[0].MACAddress {
			t.Fatalf("server %d differs between runs", i)
		}
		if a[i].SerialNumber == c[i].SerialNumber || a[i].NICs[0].MACAddress == c[i].NICs[0].MACAddress {
			t.Fatalf("server %d identical across racks", i)
		}
		for _, v := range []string{a[i].SerialNumber, a[i].UUID, a[i].Manager.MACAddress} {
			if seen[v] {
				t.Fatalf("duplicate %q", v)
			}
			seen[v] = true
		}
		for _, n := range a[i].NICs {
			if seen[n.MACAddress] {
				t.Fatalf("duplicate MAC %q", n.MACAddress)
			}
			seen[n.MACAddress] = true
			if n.MACAddress != strings.ToLower(n.MACAddress) || n.MACAddress[1] != '2' {
				t.Fatalf("MAC %q is not lower-case locally administered", n.MACAddress)
			}
		}
	}
	if got, want := a[0].Profile, ProfileDell; got != want {
		t.Errorf("profile[0] = %q, want %q", got, want)
	}
	if got, want := a[4].Profile, ProfileOpenBMC; got != want {
		t.Errorf("profile[4] = %q, want %q", got, want)
	}
	if got, want := a[1].NICs[2].MACAddress, a[1].NICs[2].MACAddress[:9]+"00:01:02"; got != want {
		t.Errorf("MAC layout = %q, want %q", got, want)
	}
}

func TestTLSAndAuth(t *testing.T) {
	sim := startSim(t, "127.0.2.1", GenerateServers("t", "r1", 2))
	bmcs := sim.BMCs()
	if got, want := bmcs[1].IP.String(), "127.0.2.2"; got != want {
		t.Fatalf("second BMC IP = %s, want %s", got, want)
	}
	c := client(t, sim)

	// Untrusted client: verification fails.
	_, err := http.Get(bmcs[0].URL + "/redfish/v1/")
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("GET without CA: err = %v, want x509.UnknownAuthorityError", err)
	}

	// Service root is public; systems need credentials.
	if r := do(t, c, "GET", bmcs[0].URL+"/redfish/v1/", "", nil); r.code != 200 || r.body["Vendor"] != "Dell" {
		t.Fatalf("service root: %d %v", r.code, r.body["Vendor"])
	}
	if r := do(t, c, "GET", bmcs[0].URL+"/redfish/v1/Systems", "", nil); r.code != 401 {
		t.Fatalf("systems without auth: %d, want 401", r.code)
	}
	if r := do(t, c, "GET", bmcs[0].URL+"/redfish/v1/Systems", "basic", nil); r.code != 200 {
		t.Fatalf("systems with basic auth: %d", r.code)
	}
	bad := do(t, c, "POST", bmcs[0].URL+"/redfish/v1/SessionService/Sessions", "", map[string]string{"UserName": DefaultUsername, "Password": "nope"})
	if bad.code != 401 {
		t.Fatalf("login with wrong password: %d, want 401", bad.code)
	}
	login := do(t, c, "POST", bmcs[0].URL+"/redfish/v1/SessionService/Sessions", "", map[string]string{"UserName": DefaultUsername, "Password": DefaultPassword})
	tok := login.header.Get("X-Auth-Token")
	if login.code != 201 || tok == "" || login.header.Get("Location") != "/redfish/v1/SessionService/Sessions/1" {
		t.Fatalf("login: %d token %q location %q", login.code, tok, login.header.Get("Location"))
	}
	sys := do(t, c, "GET", bmcs[0].URL+"/redfish/v1/Systems/System.Embedded.1", tok, nil)
	want := sim.BMCs()[0].Server()
	if sys.code != 200 || sys.body["SerialNumber"] != want.SerialNumber || sys.body["UUID"] != want.UUID {
		t.Fatalf("system: %d serial %v uuid %v", sys.code, sys.body["SerialNumber"], sys.body["UUID"])
	}
	if st := bmcs[0].Stats(); st.SessionsCreated != 1 || st.ActiveSessions != 1 {
		t.Fatalf("stats after login: %+v", st)
	}
	if r := do(t, c, "DELETE", bmcs[0].URL+"/redfish/v1/SessionService/Sessions/1", tok, nil); r.code != 204 {
		t.Fatalf("logout: %d", r.code)
	}
	if r := do(t, c, "GET", bmcs[0].URL+"/redfish/v1/Systems", tok, nil); r.code != 401 {
		t.Fatalf("after logout: %d, want 401", r.code)
	}
	if st := bmcs[0].Stats(); st.SessionsDeleted != 1 || st.ActiveSessions != 0 {
		t.Fatalf("stats after logout: %+v", st)
	}

	// HPE-like profile answers with an absolute Location.
	login = do(t, c, "POST", bmcs[1].URL+"/redfish/v1/SessionService/Sessions", "", map[string]string{"UserName": DefaultUsername, "Password": DefaultPassword})
	if got, want := login.header.Get("Location"), bmcs[1].URL+"/redfish/v1/SessionService/Sessions/1"; got != want {
		t.Fatalf("HPE Location = %q, want %q", got, want)
	}
}

func TestExpand(t *testing.T) {
	servers := []Server{
		GenerateServer("t", "r1", 0, ProfileGeneric),
		GenerateServer("t", "r1", 1, ProfileSupermicro),
		GenerateServer("t", "r1", 2, ProfileHPE),
	}
	sim := startSim(t, "127.0.2.11", servers)
	c := client(t, sim)
	gen, smc, hpe := sim.BMCs()[0].URL, sim.BMCs()[1].URL, sim.BMCs()[2].URL

	r := do(t, c, "GET", gen+"/redfish/v1/Systems/1/Memory?$expand=.", "basic", nil)
	members, _ := r.body["Members"].([]any)
	if r.code != 200 || len(members) != 8 {
		t.Fatalf("expanded memory: %d, %d members", r.code, len(members))
	}
	first, _ := members[0].(map[string]any)
	if first["SerialNumber"] != servers[0].DIMMs[0].SerialNumber {
		t.Fatalf("member 0 not expanded: %v", first)
	}
	// Level 2 expands the drives inside each storage member.
	r = do(t, c, "GET", gen+"/redfish/v1/Systems/1/Storage?$expand=.($levels=2)", "basic", nil)
	members, _ = r.body["Members"].([]any)
	st0, _ := members[0].(map[string]any)
	drives, _ := st0["Drives"].([]any)
	d0, _ := drives[0].(map[string]any)
	if d0["SerialNumber"] != servers[0].Storage[0].Drives[0].SerialNumber {
		t.Fatalf("drive not expanded at level 2: %v", d0)
	}
	// Links are left alone by ".", expanded by "~".
	r = do(t, c, "GET", gen+"/redfish/v1/Systems/1?$expand=.", "basic", nil)
	links, _ := r.body["Links"].(map[string]any)
	chs, _ := links["Chassis"].([]any)
	if ch, _ := chs[0].(map[string]any); len(ch) != 1 {
		t.Fatalf("'.' expanded Links: %v", ch)
	}
	r = do(t, c, "GET", gen+"/redfish/v1/Systems/1?$expand=~", "basic", nil)
	links, _ = r.body["Links"].(map[string]any)
	chs, _ = links["Chassis"].([]any)
	if ch, _ := chs[0].(map[string]any); ch["SerialNumber"] != servers[0].SerialNumber {
		t.Fatalf("'~' did not expand Links: %v", ch)
	}

	tests := []struct {
		url  string
		code int
	}{
		{smc + "/redfish/v1/Systems?$expand=.", 500},            // advertised, broken
		{hpe + "/redfish/v1/Systems?$expand=*", 501},            // only "." advertised
		{hpe + "/redfish/v1/Systems?$expand=.($levels=3)", 400}, // above MaxLevels
		{hpe + "/redfish/v1/Systems?$expand=.($levels=2)", 200},
		{gen + "/redfish/v1/Systems?$filter=x", 501},
		{gen + "/redfish/v1/Nope", 404},
	}
	for _, tc := range tests {
		if r := do(t, c, "GET", tc.url, "basic", nil); r.code != tc.code {
			t.Errorf("GET %s = %d, want %d", tc.url, r.code, tc.code)
		}
	}
}

func TestUpdateAndChanges(t *testing.T) {
	sim := startSim(t, "127.0.2.21", []Server{GenerateServer("t", "r1", 0, ProfileGeneric)})
	b := sim.BMCs()[0]
	c := client(t, sim)
	b.Update(func(s *Server) { s.DIMMs[3].SerialNumber = "SWAPPED"; s.BIOSVersion = "2.0.0" })
	if r := do(t, c, "GET", b.URL+"/redfish/v1/Systems/1/Memory/DIMMA4", "basic", nil); r.body["SerialNumber"] != "SWAPPED" {
		t.Fatalf("DIMM after Update: %v", r.body["SerialNumber"])
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		code   int
		check  func(Server) bool
	}{
		{"asset tag", "PATCH", "/redfish/v1/Systems/1", map[string]any{"AssetTag": "NEW-TAG"}, 204, func(s Server) bool { return s.AssetTag == "NEW-TAG" }},
		{"led", "PATCH", "/redfish/v1/Chassis/1", map[string]any{"IndicatorLED": "Blinking"}, 204, func(s Server) bool { return s.IndicatorLED == "Blinking" }},
		{"led bad", "PATCH", "/redfish/v1/Chassis/1", map[string]any{"IndicatorLED": "Green"}, 400, func(s Server) bool { return s.IndicatorLED == "Blinking" }},
		{"boot", "PATCH", "/redfish/v1/Systems/1", map[string]any{"Boot": map[string]any{"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}, 204, func(s Server) bool { return s.Boot == BootOverride{"Pxe", "Once"} }},
		{"unknown property", "PATCH", "/redfish/v1/Systems/1", map[string]any{"Color": "red"}, 400, func(Server) bool { return true }},
		{"bios pending", "PATCH", "/redfish/v1/Systems/1/Bios/Settings", map[string]any{"Attributes": map[string]any{"ProcTurboMode": "Disabled"}}, 204, func(s Server) bool {
			return s.BIOSPending["ProcTurboMode"] == "Disabled" && s.BIOSAttributes["ProcTurboMode"] == "Enabled"
		}},
		{"power off", "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", map[string]any{"ResetType": "ForceOff"}, 204, func(s Server) bool { return s.PowerState == "Off" }},
		{"bad reset", "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", map[string]any{"ResetType": "Explode"}, 400, func(s Server) bool { return s.PowerState == "Off" }},
		{"power on applies bios", "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", map[string]any{"ResetType": "On"}, 204, func(s Server) bool {
			return s.PowerState == "On" && s.BIOSAttributes["ProcTurboMode"] == "Disabled" && len(s.BIOSPending) == 0
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, tc.method, b.URL+tc.path, "basic", tc.body)
			if r.code != tc.code {
				t.Fatalf("%s %s = %d (%s), want %d", tc.method, tc.path, r.code, r.raw, tc.code)
			}
			if !tc.check(b.Server()) {
				t.Fatalf("state after %s not as expected: %+v", tc.name, b.Server())
			}
		})
	}
}

func TestFaults(t *testing.T) {
	sim := startSim(t, "127.0.2.31", []Server{GenerateServer("t", "r1", 0, ProfileGeneric)})
	b := sim.BMCs()[0]
	c := client(t, sim)

	b.SetFaults(Faults{Path: "/redfish/v1/Systems/1/Memory", Status: 503, StatusTimes: 1})
	if r := do(t, c, "GET", b.URL+"/redfish/v1/Systems/1/Memory", "basic", nil); r.code != 503 {
		t.Fatalf("first: %d, want 503", r.code)
	}
	if r := do(t, c, "GET", b.URL+"/redfish/v1/Systems/1/Memory", "basic", nil); r.code != 200 {
		t.Fatalf("second: %d, want 200 (fault used up)", r.code)
	}
	b.SetFaults(Faults{Path: "/redfish/v1/Systems", MalformedJSON: true})
	if r := do(t, c, "GET", b.URL+"/redfish/v1/Systems/1", "basic", nil); json.Valid(r.raw) {
		t.Fatalf("body is valid JSON despite the fault: %s", r.raw)
	}
	b.SetFaults(Faults{DropFields: []string{"SerialNumber"}})
	if r := do(t, c, "GET", b.URL+"/redfish/v1/Systems/1", "basic", nil); r.body["SerialNumber"] != nil || r.body["Model"] == nil {
		t.Fatalf("DropFields: serial %v model %v", r.body["SerialNumber"], r.body["Model"])
	}
	b.SetFaults(Faults{MaxSessions: 1})
	b.OpenSession()
	if r := do(t, c, "POST", b.URL+"/redfish/v1/SessionService/Sessions", "", map[string]string{"UserName": DefaultUsername, "Password": DefaultPassword}); r.code != 503 {
		t.Fatalf("login over the limit: %d, want 503", r.code)
	}
	b.ExpireSessions()
	b.SetFaults(Faults{ForeignCertificate: true})
	req, _ := http.NewRequest("GET", b.URL+"/redfish/v1/", nil)
	_, err := c.Do(req)
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("foreign certificate: err = %v, want x509.UnknownAuthorityError", err)
	}
	b.SetFaults(Faults{})
	if r := do(t, c, "GET", b.URL+"/redfish/v1/", "", nil); r.code != 200 {
		t.Fatalf("after clearing faults: %d", r.code)
	}
}

func TestMockupRoundTrip(t *testing.T) {
	src := startSim(t, "127.0.2.41", []Server{GenerateServer("t", "r1", 0, ProfileOpenBMC)})
	dir := t.TempDir()
	if err := src.BMCs()[0].WriteMockup(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "redfish", "v1", "Systems", "system", "index.json")); err != nil {
		t.Fatalf("mockup layout: %v", err)
	}
	sim := startSim(t, "127.0.2.45", nil, dir, filepath.Join("testdata", "mockup-minimal"))
	c := client(t, sim)
	want := src.BMCs()[0].Server()
	m := sim.BMCs()[0]
	if got := m.Server(); got.SerialNumber != want.SerialNumber || got.Manufacturer != want.Manufacturer {
		t.Fatalf("mockup server summary = %+v", got)
	}
	r := do(t, c, "GET", m.URL+"/redfish/v1/Systems?$expand=.", "basic", nil)
	members, _ := r.body["Members"].([]any)
	sys, _ := members[0].(map[string]any)
	if sys["UUID"] != want.UUID {
		t.Fatalf("expanded system from mockup: %v", sys["UUID"])
	}
	if r := do(t, c, "PATCH", m.URL+"/redfish/v1/Systems/system", "basic", map[string]any{"AssetTag": "MOCK"}); r.code != 204 {
		t.Fatalf("PATCH mockup: %d", r.code)
	}
	if r := do(t, c, "GET", m.URL+"/redfish/v1/Systems/system", "basic", nil); r.body["AssetTag"] != "MOCK" {
		t.Fatalf("AssetTag after PATCH: %v", r.body["AssetTag"])
	}
	hand := sim.BMCs()[1]
	r = do(t, c, "GET", hand.URL+"/redfish/v1/Systems/437XR1138R2", "basic", nil)
	if r.code != 200 || r.body["SerialNumber"] != "437XR1138R2" {
		t.Fatalf("hand-written mockup: %d %v", r.code, r.body["SerialNumber"])
	}
}
