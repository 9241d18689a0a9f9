package snmp_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/racktrack/racktrack/internal/snmptest"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers/snmp"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
	"google.golang.org/protobuf/proto"
)

const ciscoRecording = "/usr/share/doc/snmpsim/examples/data/cisco_16_switch.snmprec.gz"

func readCisco(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open(ciscoRecording)
	if err != nil {
		t.Fatalf("%v: install the snmpsim package with `make setup`", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// recordedInterfaces reads ifTable/ifXTable straight from the recording
// text, independently of the provider and of switchsim.
func recordedInterfaces(t *testing.T, data []byte) map[int32]*racktrackv1.Interface {
	t.Helper()
	rows := map[int32]*racktrackv1.Interface{}
	hs := map[int32]uint64{}
	speed := map[int32]uint64{}
	status := map[string]string{"1": "up", "2": "down", "3": "testing", "4": "unknown", "5": "dormant", "6": "notPresent", "7": "lowerLayerDown"}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 {
			continue
		}
		oid, typ, val := parts[0], parts[1], parts[2]
		if typ == "4x" {
			b, err := hex.DecodeString(val)
			if err != nil {
				t.Fatal(err)
			}
			val = string(b)
		}
		var table string
		switch {
		case strings.HasPrefix(oid, "1.3.6.1.2.1.2.2.1."):
			table, oid = "if", strings.TrimPrefix(oid, "1.3.6.1.2.1.2.2.1.")
		case strings.HasPrefix(oid, "1.3.6.1.2.1.31.1.1.1."):
			table, oid = "ifx", strings.TrimPrefix(oid, "1.3.6.1.2.1.31.1.1.1.")
		default:
			continue
		}
		col, idxText, _ := strings.Cut(oid, ".")
		idx64, err := strconv.ParseInt(idxText, 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		i := int32(idx64)
		r := rows[i]
		if r == nil {
			r = &racktrackv1.Interface{IfIndex: i}
			rows[i] = r
		}
		num := func() uint64 { n, _ := strconv.ParseUint(val, 10, 64); return n }
		switch table + col {
		case "if2":
			r.Descr = val
		case "if3":
			r.IfType = int32(num())
		case "if4":
			r.Mtu = int32(num())
		case "if5":
			speed[i] = num()
		case "if6":
			var parts []string
			for _, c := range []byte(val) {
				parts = append(parts, fmt.Sprintf("%02x", c))
			}
			r.MacAddress = strings.Join(parts, ":")
		case "if7":
			r.AdminStatus = status[val]
		case "if8":
			r.OperStatus = status[val]
		case "ifx1":
			r.Name = val
		case "ifx15":
			hs[i] = num()
		case "ifx18":
			r.Alias = val
		}
	}
	for i, r := range rows {
		if h, ok := hs[i]; ok {
			r.SpeedMbps = h
		} else {
			r.SpeedMbps = speed[i] / 1_000_000
		}
	}
	return rows
}

func checkCisco(t *testing.T, want map[int32]*racktrackv1.Interface, got polled) {
	t.Helper()
	inv := got.inv.GetSwitchInventory()
	if inv.SysName != "Profiler3750" || inv.SysLocation != "Bangalore" || inv.SysObjectId != "1.3.6.1.4.1.9.1.516" ||
		!strings.HasPrefix(inv.SysDescr, "Cisco IOS Software, C3750 Software (C3750-IPSERVICESK9-M), Version 12.2(55)SE10") ||
		inv.SysUptimeCentiseconds != 697202257 {
		t.Errorf("system = %q %q %q %d %.60q", inv.SysName, inv.SysLocation, inv.SysObjectId, inv.SysUptimeCentiseconds, inv.SysDescr)
	}
	if len(inv.Entities) != 58 || inv.Entities[0].Class != "stack" {
		t.Errorf("entities = %d, first %+v", len(inv.Entities), inv.Entities[0])
	}
	ifs := got.interfaces()
	if len(ifs) != len(want) || len(ifs) != 59 {
		t.Fatalf("interfaces = %d, recording has %d", len(ifs), len(want))
	}
	ports := 0
	for _, i := range ifs {
		w := want[i.IfIndex]
		if w == nil {
			t.Errorf("interface %d not in the recording", i.IfIndex)
			continue
		}
		if i.Name != w.Name || i.Descr != w.Descr || i.SpeedMbps != w.SpeedMbps || i.AdminStatus != w.AdminStatus ||
			i.OperStatus != w.OperStatus || i.Alias != w.Alias || i.MacAddress != w.MacAddress || i.Mtu != w.Mtu || i.IfType != w.IfType {
			t.Errorf("interface %d:\n got %v\nwant %v", i.IfIndex, i, w)
		}
		if i.IfType == 6 {
			ports++
		}
	}
	if ports != 52 {
		t.Errorf("Ethernet ports = %d, want 52 (48 Fa + 4 Gi)", ports)
	}
	fa43 := want[11043]
	if fa43.Name != "Fa3/0/43" || fa43.SpeedMbps != 100 || fa43.OperStatus != "up" || fa43.Alias != "connected to ruckus wlc " {
		t.Errorf("independent parse of the recording is off: %v", fa43)
	}
	if e := got.entries(); len(e) != 1 || e[0].MacAddress != "68:99:cd:a5:9f:88" || e[0].BridgePort != 160 ||
		e[0].IfIndex != 11048 || e[0].PortName != "Fa3/0/48" || e[0].Status != "learned" || e[0].Vlan != 0 {
		t.Errorf("FDB (BRIDGE-MIB fallback) = %v", e)
	}
	if len(got.neighbors()) != 0 {
		t.Errorf("neighbours = %v, the recording has no LLDP-MIB", got.neighbors())
	}
}

// TestCiscoRecording polls snmpsimd serving Debian's Cisco 3750 recording
// over v2c and v3, and our responder serving the same file, and checks
// every interface against the recording parsed independently.
func TestCiscoRecording(t *testing.T) {
	data := readCisco(t)
	want := recordedInterfaces(t, data)
	wantARP := recordedIPNeighbors(t, data)
	sim := snmptest.StartSnmpsimd(t, "cisco_16_switch", data)

	withCtx := func(c snmp.Config) snmp.Config { c.Context = sim.Context; c.Timeout = 5e9; return c }
	var fromSnmpsim polled
	for i, tc := range []struct {
		name string
		cfg  snmp.Config
	}{
		{"snmpsimd v2c", v2c(t, sim.Addr, sim.Context)},
		{"snmpsimd v3 SHA/AES", withCtx(v3(t, sim.Addr, snmptest.SimUser, "SHA", snmptest.SimAuthPass, "AES", snmptest.SimPrivPass))},
		{"snmpsimd v3 SHA256/AES256", withCtx(v3(t, sim.Addr, snmptest.SimUser256, "SHA256", snmptest.SimAuthPass, "AES256", snmptest.SimPrivPass))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pollOK(t, newProvider(t, tc.cfg, snmp.Options{}))
			checkCisco(t, want, got)
			checkCiscoIPNeighbors(t, wantARP, got)
			if i == 0 {
				fromSnmpsim = got
			}
		})
	}

	t.Run("switchsim serving the same recording", func(t *testing.T) {
		recs, err := switchsim.ParseSnmprec(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		a := startAgent(t, recs, switchsim.Config{Community: "public"})
		got := pollOK(t, newProvider(t, v2c(t, a.Addr().String(), "public"), snmp.Options{}))
		checkCisco(t, want, got)
		checkCiscoIPNeighbors(t, wantARP, got)
		if fromSnmpsim.ifs == nil {
			t.Fatal("the snmpsimd v2c poll failed, nothing to compare with")
		}
		for _, pair := range [][2]*racktrackv1.Observation{{got.inv, fromSnmpsim.inv}, {got.ifs, fromSnmpsim.ifs}, {got.fdb, fromSnmpsim.fdb}, {got.ipn, fromSnmpsim.ipn}} {
			if !proto.Equal(pair[0], pair[1]) {
				t.Errorf("switchsim and snmpsimd differ:\n%v\n%v", pair[0], pair[1])
			}
		}
	})
}
