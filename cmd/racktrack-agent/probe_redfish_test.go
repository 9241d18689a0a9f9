package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

func TestProbeRedfish(t *testing.T) {
	servers := []redfishsim.Server{redfishsim.GenerateServer("lab", "r09", 0, redfishsim.ProfileLenovo)}
	sim, err := redfishsim.Start(context.Background(), redfishsim.Options{Servers: servers, FirstIP: netip.MustParseAddr("127.0.5.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	b := sim.BMCs()[0]
	dir := t.TempDir()
	ca, pw, bad := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "pw"), filepath.Join(dir, "bad")
	if err := sim.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(pw, []byte(redfishsim.DefaultPassword), 0o600)
	_ = os.WriteFile(bad, []byte("wrong"), 0o600)
	common := []string{"--username", redfishsim.DefaultUsername, "--ca-file", ca}

	tests := []struct {
		name      string
		args      []string
		faults    redfishsim.Faults
		code      int
		stderr    string // prefix of the summary line
		wantLines int
	}{
		{"complete", append(append([]string{b.URL}, common...), "--password-file", pw), redfishsim.Faults{}, 0,
			"redfish " + b.Addr + ": complete: 2 observations, ", 2},
		{"partial", append(append([]string{}, common...), "--password-file", pw, b.URL), redfishsim.Faults{Path: "/redfish/v1/Systems/1/Memory", Status: 500}, 1,
			"redfish " + b.Addr + ": partial: 2 observations, ", 2},
		{"wrong password", append(append([]string{b.URL}, common...), "--password-file", bad), redfishsim.Faults{}, 2,
			"redfish " + b.Addr + ": unreadable after 2 requests in ", 0},
		{"no url", append([]string{}, common...), redfishsim.Faults{}, 2, "racktrack-agent probe redfish: want exactly one URL", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.SetFaults(tc.faults)
			defer b.SetFaults(redfishsim.Faults{})
			var stdout, stderr bytes.Buffer
			code := runProbe(context.Background(), append([]string{"redfish"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), tc.stderr) {
				t.Fatalf("stderr %q does not start with %q", stderr.String(), tc.stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if tc.wantLines == 0 {
				if stdout.Len() != 0 {
					t.Fatalf("stdout not empty: %s", stdout.String())
				}
				return
			}
			if len(lines) != tc.wantLines {
				t.Fatalf("%d lines, want %d", len(lines), tc.wantLines)
			}
			var inv racktrackv1.Observation
			if err := protojson.Unmarshal([]byte(lines[0]), &inv); err != nil {
				t.Fatalf("line 1: %v", err)
			}
			sys := inv.GetServerInventory().GetSystem()
			if sys.GetSerialNumber() != servers[0].SerialNumber || inv.GetTarget() != b.Addr || inv.GetObservedAt() == nil {
				t.Fatalf("inventory line: serial %q target %q", sys.GetSerialNumber(), inv.GetTarget())
			}
			if got := inv.GetServerInventory().GetNics()[0].GetMacAddress(); got != servers[0].NICs[0].MACAddress {
				t.Fatalf("MAC %q, want %q (Lenovo-like profile spells MACs with dashes)", got, servers[0].NICs[0].MACAddress)
			}
			if tc.code == 1 && (inv.Complete || len(inv.Incomplete) != 1 || !strings.HasPrefix(inv.Incomplete[0], "memory: GET /redfish/v1/Systems/1/Memory?$expand=.: 500 Internal Server Error")) {
				t.Fatalf("partial inventory: complete %v incomplete %q", inv.Complete, inv.Incomplete)
			}
		})
	}
	if st := b.Stats(); st.ActiveSessions != 0 {
		t.Fatalf("probe left %d sessions open", st.ActiveSessions)
	}
}
