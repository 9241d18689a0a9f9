package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
)

func TestProbeSNMP(t *testing.T) {
	site, err := switchsim.Generate(switchsim.SiteSpec{Name: "probe", Hosts: switchsim.DemoHosts("srv", 5)})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := switchsim.NewDataset(site.Switches[0].Records)
	if err != nil {
		t.Fatal(err)
	}
	a, err := switchsim.Start(switchsim.Config{Addr: fmt.Sprintf("127.%d.%d.3:0", 100+rand.IntN(100), rand.IntN(250)), Data: ds,
		Community: "lab", Users: []switchsim.User{{Name: "ops", AuthProtocol: "SHA256", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	addr := a.Addr().String()
	t.Setenv("PROBE_AUTH", "authpass123")
	t.Setenv("PROBE_PRIV", "privpass123")
	t.Setenv("PROBE_BAD", "wrongpass123")

	tests := []struct {
		name   string
		args   []string
		faults switchsim.Faults
		code   int
		stderr string
		lines  int
	}{
		{"v2c", []string{"--community", "lab", addr}, switchsim.Faults{}, 0, "snmp " + addr + ": complete: 5 observations, ", 5},
		{"v3 authPriv", []string{addr, "--v3-user", "ops", "--auth-proto", "SHA256", "--auth-pass-env", "PROBE_AUTH", "--priv-proto", "AES", "--priv-pass-env", "PROBE_PRIV"},
			switchsim.Faults{}, 0, "snmp " + addr + ": complete: 5 observations, ", 5},
		{"partial", []string{"--community", "lab", addr}, switchsim.Faults{NonIncreasing: "1.3.6.1.2.1.17.7.1.2.2.1.2"}, 1,
			"snmp " + addr + ": partial: 5 observations, ", 5},
		{"wrong auth password", []string{addr, "--v3-user", "ops", "--auth-proto", "SHA256", "--auth-pass-env", "PROBE_BAD", "--priv-pass-env", "PROBE_PRIV", "--timeout", "300ms", "--retries", "0"},
			switchsim.Faults{}, 2, "snmp " + addr + ": unreadable after ", 0},
		{"wrong community", []string{"--community", "nope", "--timeout", "200ms", "--retries", "0", addr}, switchsim.Faults{}, 2,
			"snmp " + addr + ": unreadable after 1 round trips (", 0},
		{"no target", []string{"--community", "lab"}, switchsim.Faults{}, 2, "racktrack-agent probe snmp: want exactly one HOST[:PORT]", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.SetFaults(tc.faults)
			defer a.SetFaults(switchsim.Faults{})
			var stdout, stderr bytes.Buffer
			code := runProbe(context.Background(), append([]string{"snmp"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), tc.stderr) {
				t.Errorf("stderr = %q, want prefix %q", stderr.String(), tc.stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if tc.lines == 0 {
				if stdout.Len() != 0 {
					t.Errorf("stdout = %q", stdout.String())
				}
				return
			}
			if len(lines) != tc.lines {
				t.Fatalf("%d lines, want %d", len(lines), tc.lines)
			}
			var sysName string
			var ports int
			for _, l := range lines {
				var o racktrackv1.Observation
				if err := protojson.Unmarshal([]byte(l), &o); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				if o.Source != racktrackv1.Source_SOURCE_SNMP || o.Target != addr || o.ObservedAt == nil {
					t.Errorf("envelope = %v %q %v", o.Source, o.Target, o.ObservedAt)
				}
				if inv := o.GetSwitchInventory(); inv != nil {
					sysName = inv.SysName
				}
				if ifs := o.GetInterfaces(); ifs != nil {
					ports = len(ifs.Interfaces)
				}
			}
			if sysName != "probe-sw1" || ports != 48 {
				t.Errorf("sysName %q, %d ports", sysName, ports)
			}
		})
	}
	if !strings.Contains(func() string {
		var e bytes.Buffer
		runProbe(context.Background(), []string{"snmp", "--v3-user", "ops", "--auth-pass-env", "PROBE_BAD", "--priv-pass-env", "PROBE_PRIV", "--timeout", "300ms", "--retries", "0", addr}, &bytes.Buffer{}, &e)
		return e.String()
	}(), ": GET: wrong digest: authentication password or protocol mismatch") {
		t.Error("wrong password is not reported as a wrong digest")
	}
}
