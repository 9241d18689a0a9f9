package snmp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/snmptest"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/snmp"
)

// pollIn polls from inside network namespace ns.
func pollIn(t *testing.T, ns string, p *snmp.Provider) (providers.PollResult, error) {
	t.Helper()
	var res providers.PollResult
	var perr error
	err := snmptest.InNetns(ns, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, perr = p.Poll(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, perr
}

// TestRealSnmpdLLDP polls net-snmp snmpd with lldpd exporting LLDP-MIB
// through AgentX, in a namespace cabled to a second one running lldpd, and
// checks every table against what the namespaces really hold.
func TestRealSnmpdLLDP(t *testing.T) {
	sw := snmptest.StartSwitch(t)
	loIdx, err := snmptest.IfIndex(sw.NS, "lo")
	if err != nil {
		t.Fatal(err)
	}
	swpIdx, err := snmptest.IfIndex(sw.NS, "swp1")
	if err != nil {
		t.Fatal(err)
	}
	creds := []struct {
		name string
		cfg  snmp.Config
	}{
		{"v2c", v2c(t, sw.Addr, snmptest.Community)},
		{"v3 SHA/AES authPriv", v3(t, sw.Addr, snmptest.V3User, "SHA", snmptest.V3AuthPass, "AES", snmptest.V3PrivPass)},
		{"v3 SHA256/AES256 authPriv", v3(t, sw.Addr, snmptest.V3User256, "SHA256", snmptest.V3AuthPass, "AES256", snmptest.V3PrivPass)},
	}
	for _, c := range creds {
		t.Run(c.name, func(t *testing.T) {
			res, err := pollIn(t, sw.NS, newProvider(t, c.cfg, snmp.Options{}))
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			got := split(t, res)
			for _, o := range res.Observations {
				if !o.Complete {
					t.Errorf("%T incomplete: %v", o.Payload, o.Incomplete)
				}
			}
			inv := got.inv.GetSwitchInventory()
			if inv.SysName != snmptest.SysName || inv.SysLocation != snmptest.SysLocation || inv.SysContact != snmptest.SysContact ||
				!strings.HasPrefix(inv.SysDescr, "Linux ") || inv.SysObjectId != "1.3.6.1.4.1.8072.3.2.10" || inv.SysUptimeCentiseconds == 0 {
				t.Errorf("system group = %+v", inv)
			}
			ifs := got.interfaces()
			if len(ifs) != 2 {
				t.Fatalf("interfaces = %v, want lo and swp1", ifs)
			}
			lo, swp := ifs[0], ifs[1]
			if loIdx > swpIdx {
				lo, swp = swp, lo
			}
			if lo.IfIndex != int32(loIdx) || lo.Name != "lo" || lo.Descr != "lo" || lo.IfType != 24 || lo.Mtu != 65536 ||
				lo.MacAddress != "" || lo.AdminStatus != "up" || lo.OperStatus != "up" {
				t.Errorf("lo = %+v", lo)
			}
			if swp.IfIndex != int32(swpIdx) || swp.Name != "swp1" || swp.Descr != "swp1" || swp.IfType != 6 || swp.Mtu != 1500 ||
				swp.MacAddress != snmptest.LocalPortMAC || swp.AdminStatus != "up" || swp.OperStatus != "up" || swp.SpeedMbps != 10000 {
				t.Errorf("swp1 = %+v", swp)
			}
			if swp.OutOctets == 0 || swp.OutUnicastPackets == 0 {
				t.Errorf("swp1 sent LLDP frames but counters are %d octets / %d packets", swp.OutOctets, swp.OutUnicastPackets)
			}
			nbrs := got.neighbors()
			if len(nbrs) != 1 {
				t.Fatalf("neighbours = %v, want one", nbrs)
			}
			n := nbrs[0]
			if n.LocalPort != "swp1" || n.ChassisIdSubtype != "mac_address" || n.ChassisId != snmptest.PeerPortMAC ||
				n.PortIdSubtype != "interface_name" || n.PortId != "swp7" || n.SystemName != snmptest.PeerHostname ||
				n.PortDescription != "swp7" || len(n.ManagementAddresses) == 0 || n.ManagementAddresses[0] != snmptest.PeerAddress ||
				!strings.HasPrefix(n.SystemDescription, "Debian GNU/Linux") || n.LocalPortIndex != int32(swpIdx) ||
				strings.Join(n.Capabilities, ",") != "bridge,wlan_access_point,router,station_only" ||
				strings.Join(n.EnabledCapabilities, ",") != "station_only" {
				t.Errorf("neighbour = %+v", n)
			}
			// lldpd also advertises the EUI-64 link-local address once
			// IPv6 duplicate address detection has finished.
			for _, a := range n.ManagementAddresses[1:] {
				if a != "fe80::5eff:fe00:5307" {
					t.Errorf("management address %q", a)
				}
			}
			if len(got.entries()) != 0 {
				t.Errorf("FDB = %v, want none (Linux snmpd has no BRIDGE-MIB)", got.entries())
			}
		})
	}

	t.Run("wrong credentials are told apart", func(t *testing.T) {
		fast := func(c snmp.Config) snmp.Config { c.Timeout, c.Retries = 400*time.Millisecond, 0; return c }
		cases := []struct {
			name string
			cfg  snmp.Config
			kind providers.ErrorKind
			want error
		}{
			{"wrong community", fast(v2c(t, sw.Addr, "not-the-community")), providers.KindTimeout, snmp.ErrNoResponse},
			{"unknown user", fast(v3(t, sw.Addr, "nobody", "SHA", snmptest.V3AuthPass, "AES", snmptest.V3PrivPass)), providers.KindAuth, snmp.ErrUnknownUser},
			{"wrong auth password", fast(v3(t, sw.Addr, snmptest.V3User, "SHA", "wrong-auth-pass", "AES", snmptest.V3PrivPass)), providers.KindAuth, snmp.ErrWrongDigest},
			{"wrong auth protocol", fast(v3(t, sw.Addr, snmptest.V3User, "SHA256", snmptest.V3AuthPass, "AES", snmptest.V3PrivPass)), providers.KindAuth, snmp.ErrWrongDigest},
			{"wrong priv password", fast(v3(t, sw.Addr, snmptest.V3User, "SHA", snmptest.V3AuthPass, "AES", "wrong-priv-pass")), providers.KindAuth, snmp.ErrDecryption},
		}
		seen := map[string]string{}
		for _, tc := range cases {
			_, err := pollIn(t, sw.NS, newProvider(t, tc.cfg, snmp.Options{}))
			var te *providers.TargetError
			if !errors.As(err, &te) || te.Kind != tc.kind || !errors.Is(err, tc.want) || te.Target != "sw-under-test" || te.Operation != "GET" {
				t.Errorf("%s: err = %v (%#v), want kind %s wrapping %v", tc.name, err, te, tc.kind, tc.want)
				continue
			}
			if other, dup := seen[te.Err.Error()]; dup && !errors.Is(tc.want, snmp.ErrWrongDigest) {
				t.Errorf("%s and %s report the same text %q", tc.name, other, te.Err)
			}
			seen[te.Err.Error()] = tc.name
		}
	})

	t.Run("set ifAlias with read-back", func(t *testing.T) {
		p := newProvider(t, v3(t, sw.Addr, snmptest.V3User, "SHA", snmptest.V3AuthPass, "AES", snmptest.V3PrivPass), snmp.Options{})
		op := &racktrackv1.Operation{Kind: snmp.OpIfAlias, Field: "ifAlias." + itoa(swpIdx), To: "uplink to sw-b swp7"}
		var res *racktrackv1.OperationResult
		var aerr error
		if err := snmptest.InNetns(sw.NS, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, aerr = p.Apply(ctx, op)
		}); err != nil {
			t.Fatal(err)
		}
		if aerr != nil || !res.Applied || res.Observed != "uplink to sw-b swp7" || res.Error != "" {
			t.Fatalf("Apply = %+v, %v", res, aerr)
		}
		rp, err := pollIn(t, sw.NS, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range split(t, rp).interfaces() {
			if i.IfIndex == int32(swpIdx) && i.Alias != "uplink to sw-b swp7" {
				t.Errorf("swp1 alias after SET = %q", i.Alias)
			}
		}
	})
}
