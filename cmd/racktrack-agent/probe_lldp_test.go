package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/internal/netnstest"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// TestProbeLLDP runs `probe lldp` against lldpd across a veth pair.
func TestProbeLLDP(t *testing.T) {
	t.Parallel()
	near, far := netnstest.NewNS(t, "rtlldp"), netnstest.NewNS(t, "rtlldp")
	netnstest.Veth(t,
		netnstest.End{NS: near, Name: "near0", MAC: net.HardwareAddr{2, 0, 0, 0, 0x0a, 1}},
		netnstest.End{NS: far, Name: "swp7", MAC: net.HardwareAddr{2, 0, 0, 0, 0x0b, 7}, Addr: "192.0.2.2/24"})
	netnstest.StartLLDPD(t, far, netnstest.LLDPDConfig{
		Interface: "swp7", Hostname: "sw-probe", TxInterval: 1, PortIDSubtype: "ifname",
		Extra: []string{"configure system ip management pattern 192.0.2.2"},
	})

	var stdout, stderr bytes.Buffer
	code := runProbe(context.Background(), []string{"lldp", "--interface", "near0", "--netns", near.Path, "--duration", "2500ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1 neighbour:\n%s", len(lines), stdout.String())
	}
	var n racktrackv1.LLDPNeighbor
	if err := protojson.Unmarshal([]byte(lines[0]), &n); err != nil {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	n.Capabilities, n.EnabledCapabilities, n.SystemDescription, n.MauType = nil, nil, "", 0 // machine-dependent
	n.LocalPortIndex = 0
	want := &racktrackv1.LLDPNeighbor{
		LocalPort: "near0", ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
		PortIdSubtype: "interface_name", PortId: "swp7", PortDescription: "swp7",
		SystemName: "sw-probe", ManagementAddresses: []string{"192.0.2.2"}, TtlSeconds: 4,
	}
	if !proto.Equal(&n, want) {
		t.Errorf("neighbour %v, want %v", &n, want)
	}
	if !strings.HasPrefix(stderr.String(), "lldp near0: 1 neighbours seen (1 lines) in ") {
		t.Errorf("summary %q", stderr.String())
	}
}

func TestProbeLLDPErrors(t *testing.T) {
	t.Parallel()
	ns := netnstest.NewNS(t, "rtlldp")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no interface", []string{"lldp", "--duration", "1s"}, 2, "usage: racktrack-agent probe lldp --interface IF"},
		{"stray argument", []string{"lldp", "--interface", "eth0", "extra"}, 2, "usage: racktrack-agent probe lldp --interface IF"},
		{"help", []string{"lldp", "--help"}, 0, "usage: racktrack-agent probe lldp --interface IF"},
		{"missing interface", []string{"lldp", "--interface", "ghost0", "--netns", ns.Path, "--duration", "1m"}, 2,
			"racktrack-agent probe lldp: lldp lldp: listen: ghost0: interface not found\n"},
		{"relative netns", []string{"lldp", "--interface", "eth0", "--netns", "run/netns/x"}, 2,
			"lldp config: netns \"run/netns/x\": must be an absolute path\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runProbe(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr %s", code, tc.wantCode, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q, want prefix %q", stderr.String(), tc.wantStderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
