package snmp_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/snmp"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
)

// neighborLines renders neighbours one per line for exact comparison.
func neighborLines(ns []*racktrackv1.IPNeighbor) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "%d|%s|%s|%s|%s\n", n.IfIndex, n.PortName, n.IpAddress, n.MacAddress, n.State)
	}
	return b.String()
}

// withRecording returns recs plus the records of an .snmprec file in
// testdata.
func withRecording(t *testing.T, recs []switchsim.Record, file string) []switchsim.Record {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	more, err := switchsim.ParseSnmprec(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]switchsim.Record{}, recs...), more...)
}

// The neighbours testdata/ip-neighbors.snmprec holds, in index order
// (ifIndex, address type, address); ports named by the generated ifName.
const (
	wantPhysicalNeighbors = `10001|Ethernet1/1|192.0.2.10|02:00:5e:10:01:01|dynamic
10001|Ethernet1/1|2001:db8::10|02:00:5e:10:01:01|dynamic
10001|Ethernet1/1|fe80::5eff:fe10:101%10001|02:00:5e:10:01:01|dynamic
10002|Ethernet1/2|192.0.2.11|02:00:5e:10:02:01|static
10003|Ethernet1/3|10.1.0.1%7|02:00:5e:10:03:01|other
10004|Ethernet1/4|192.0.2.99||invalid
10048|Ethernet1/48|192.0.2.254|02:5e:00:00:00:30|local
20100||203.0.113.9|0a:0b:0c:0d:0e:0f|dynamic
`
	wantMediaNeighbors = `10001|Ethernet1/1|192.0.2.10|02:00:5e:10:01:01|dynamic
10005|Ethernet1/5|198.51.100.1|02:00:5e:10:05:01|static
`
)

// TestPollIPNeighbors polls our responder serving a generated switch with
// both IP-MIB neighbour tables, with only the deprecated one, and with
// neither, and checks the IPNeighborTable observation entry by entry.
func TestPollIPNeighbors(t *testing.T) {
	site := demoSite(t, 8, 100) // FDB longer than one GETBULK

	sw := site.Switches[0]
	both := withRecording(t, sw.Records, "ip-neighbors.snmprec")
	cases := []struct {
		name   string
		recs   []switchsim.Record
		delete string // prefix removed before polling
		want   string // "" for no observation
	}{
		{"ipNetToPhysicalTable preferred over ipNetToMediaTable", both, "", wantPhysicalNeighbors},
		{"only the deprecated ipNetToMediaTable", both, "1.3.6.1.2.1.4.35", wantMediaNeighbors},
		{"neither table", sw.Records, "", ""},
	}
	requests := map[string]int{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, cfg := range []struct {
				name string
				cfg  func(a *switchsim.Agent) snmp.Config
			}{
				{"v2c", func(a *switchsim.Agent) snmp.Config { return v2c(t, a.Addr().String(), "public") }},
				{"v3 authPriv", func(a *switchsim.Agent) snmp.Config {
					return v3(t, a.Addr().String(), "shaaes", "SHA", "authpass123", "AES", "privpass123")
				}},
			} {
				a := startAgent(t, tc.recs, switchsim.Config{Community: "public", Users: simUsers})
				if tc.delete != "" {
					if n, err := a.Data().Delete(tc.delete); err != nil || n == 0 {
						t.Fatalf("delete %s: %d, %v", tc.delete, n, err)
					}
				}
				got := pollOK(t, newProvider(t, cfg.cfg(a), snmp.Options{}))
				for _, o := range got.res.Observations {
					if !o.Complete || len(o.Incomplete) > 0 {
						t.Errorf("%s: %T incomplete: %v", cfg.name, o.Payload, o.Incomplete)
					}
				}
				if st := got.status.GetTargetStatus(); st.Error != "" || st.ErrorKind != "" {
					t.Errorf("%s: status = %+v", cfg.name, st)
				}
				if tc.want == "" {
					if got.ipn != nil || len(got.res.Observations) != 5 {
						t.Errorf("%s: %d observations, IP neighbours %v; want none for an agent without the table", cfg.name, len(got.res.Observations), got.ipn)
					}
				} else {
					if got.ipn == nil || len(got.res.Observations) != 6 {
						t.Fatalf("%s: %d observations, no IP neighbour table", cfg.name, len(got.res.Observations))
					}
					if s := neighborLines(got.ipNeighbors()); s != tc.want {
						t.Errorf("%s: neighbours:\n%s\nwant:\n%s", cfg.name, s, tc.want)
					}
				}
				// The other tables are untouched by the neighbour tables.
				if len(got.interfaces()) != 48 || len(got.entries()) != 108 || len(got.neighbors()) != 8 {
					t.Errorf("%s: %d interfaces, %d FDB entries, %d LLDP neighbours", cfg.name, len(got.interfaces()), len(got.entries()), len(got.neighbors()))
				}
				if cfg.name == "v2c" {
					requests[tc.name] = got.res.Requests
				}
			}
		})
	}
	// The fallback table joins the running walk: while the FDB is still
	// being read, reading the deprecated table, or finding no table at
	// all, costs no extra round trip.
	if r := requests["only the deprecated ipNetToMediaTable"]; r == 0 || r != requests["neither table"] || r != requests["ipNetToPhysicalTable preferred over ipNetToMediaTable"] {
		t.Errorf("round trips per case = %v, want all equal", requests)
	}
}

// TestIPNeighborFaults: a fault in a neighbour table marks only its
// observation incomplete, names the problem, and keeps the rows read.
func TestIPNeighborFaults(t *testing.T) {
	site := demoSite(t, 8, 0)
	sw := site.Switches[0]
	both := withRecording(t, sw.Records, "ip-neighbors.snmprec")
	bigTable := append([]switchsim.Record{}, sw.Records...)
	for i := range 300 {
		idx := fmt.Sprintf("%d.1.4.10.0.%d.%d", 10001+i%48, i/250, 1+i%250)
		mac := []byte{0x02, 0x42, 0, 0, byte(i >> 8), byte(i)}
		o1, _ := switchsim.ParseOID("1.3.6.1.2.1.4.35.1.4." + idx)
		o2, _ := switchsim.ParseOID("1.3.6.1.2.1.4.35.1.6." + idx)
		bigTable = append(bigTable, switchsim.Record{OID: o1, Value: switchsim.Octets(mac)}, switchsim.Record{OID: o2, Value: switchsim.Integer(3)})
	}
	badIndex := append([]switchsim.Record{}, both...)
	short, _ := switchsim.ParseOID("1.3.6.1.2.1.4.35.1.6.10006.1.4.192.0.2")
	badIndex = append(badIndex, switchsim.Record{OID: short, Value: switchsim.Integer(3)})

	cases := []struct {
		name    string
		recs    []switchsim.Record
		faults  switchsim.Faults
		mutate  func(t *testing.T, d *switchsim.Dataset)
		kind    providers.ErrorKind
		message string
		check   func(t *testing.T, ns []*racktrackv1.IPNeighbor)
	}{
		{name: "genErr on ipNetToPhysicalType keeps the addresses", recs: both,
			faults: switchsim.Faults{GenErr: "1.3.6.1.2.1.4.35.1.6"}, kind: providers.KindProtocol,
			message: "walk 1.3.6.1.2.1.4.35.1.6: error-status genErr at .1.3.6.1.2.1.4.35.1.6",
			check: func(t *testing.T, ns []*racktrackv1.IPNeighbor) {
				if len(ns) != 8 || ns[0].IpAddress != "192.0.2.10" || ns[0].MacAddress != "02:00:5e:10:01:01" || ns[0].State != "" {
					t.Errorf("neighbours = %s", neighborLines(ns))
				}
			}},
		{name: "genErr on ipNetToPhysicalPhysAddress does not fall back", recs: both,
			faults: switchsim.Faults{GenErr: "1.3.6.1.2.1.4.35.1.4"}, kind: providers.KindProtocol,
			message: "walk 1.3.6.1.2.1.4.35.1.4: error-status genErr at .1.3.6.1.2.1.4.35.1.4",
			check: func(t *testing.T, ns []*racktrackv1.IPNeighbor) {
				if len(ns) != 8 || ns[1].IpAddress != "2001:db8::10" || ns[1].MacAddress != "" || ns[1].State != "dynamic" {
					t.Errorf("neighbours = %s", neighborLines(ns))
				}
			}},
		{name: "wrong type for a physical address", recs: both,
			mutate: func(t *testing.T, d *switchsim.Dataset) {
				if err := d.Set("1.3.6.1.2.1.4.35.1.4.10002.1.4.192.0.2.11", switchsim.Integer(7)); err != nil {
					t.Fatal(err)
				}
			}, kind: providers.KindDecode,
			message: ".1.3.6.1.2.1.4.35.1.4.10002.1.4.192.0.2.11: wrong type Integer, want OctetString",
			check: func(t *testing.T, ns []*racktrackv1.IPNeighbor) {
				if s := neighborLines(ns); s != strings.Replace(wantPhysicalNeighbors, "192.0.2.11|02:00:5e:10:02:01|", "192.0.2.11||", 1) {
					t.Errorf("neighbours:\n%s", s)
				}
			}},
		{name: "malformed index", recs: badIndex, kind: providers.KindDecode,
			message: ".1.3.6.1.2.1.4.35.1.6.10006.1.4.192.0.2: ipNetToPhysicalTable index .10006.1.4.192.0.2: address length 4, have 3 octets",
			check: func(t *testing.T, ns []*racktrackv1.IPNeighbor) {
				if s := neighborLines(ns); s != wantPhysicalNeighbors {
					t.Errorf("neighbours:\n%s", s)
				}
			}},
		{name: "non-increasing OIDs in the deprecated table", recs: both,
			mutate: func(t *testing.T, d *switchsim.Dataset) {
				if _, err := d.Delete("1.3.6.1.2.1.4.35"); err != nil {
					t.Fatal(err)
				}
			},
			faults: switchsim.Faults{NonIncreasing: "1.3.6.1.2.1.4.22.1.4"}, kind: providers.KindProtocol,
			message: "OID not increasing",
			check: func(t *testing.T, ns []*racktrackv1.IPNeighbor) {
				if s := neighborLines(ns); s != "10001|Ethernet1/1|192.0.2.10|02:00:5e:10:01:01|dynamic\n10005|Ethernet1/5|198.51.100.1|02:00:5e:10:05:01|\n" {
					t.Errorf("neighbours:\n%s", s)
				}
			}},
		{name: "agent goes quiet in the middle of the table", recs: bigTable,
			faults: switchsim.Faults{AnswerFirst: 3}, kind: providers.KindTimeout,
			message: "walk ip-neighbors: ",
			check: func(t *testing.T, ns []*racktrackv1.IPNeighbor) {
				if len(ns) == 0 || len(ns) >= 300 || ns[0].IpAddress != "10.0.0.1" || ns[0].PortName != "Ethernet1/1" || ns[0].MacAddress != "02:42:00:00:00:00" {
					t.Errorf("%d of 300 neighbours, first %v", len(ns), ns[0])
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startAgent(t, tc.recs, switchsim.Config{Community: "public"})
			a.SetFaults(tc.faults)
			if tc.mutate != nil {
				tc.mutate(t, a.Data())
			}
			got := pollOK(t, newProvider(t, fastV2c(t, a), snmp.Options{}))
			if got.ipn == nil {
				t.Fatal("no IP neighbour observation")
			}
			if got.ipn.Complete || !strings.Contains(strings.Join(got.ipn.Incomplete, "\n"), tc.message) {
				t.Errorf("neighbours: complete %v, incomplete %q; want %q", got.ipn.Complete, got.ipn.Incomplete, tc.message)
			}
			st := got.status.GetTargetStatus()
			if got.status.Complete || !st.Reachable || st.ErrorKind != string(tc.kind) {
				t.Errorf("status = %+v, want kind %s", st, tc.kind)
			}
			if tc.kind != providers.KindTimeout {
				if _, cause, _ := strings.Cut(tc.message, ": "); !strings.Contains(st.Error, cause) {
					t.Errorf("status error %q, want %q", st.Error, tc.message)
				}
				for name, o := range map[string]*racktrackv1.Observation{"inventory": got.inv, "interfaces": got.ifs, "lldp": got.lldp, "fdb": got.fdb} {
					if !o.Complete {
						t.Errorf("%s incomplete although unaffected: %v", name, o.Incomplete)
					}
				}
			}
			tc.check(t, got.ipNeighbors())
		})
	}
}

// recordedIPNeighbors reads ipNetToMediaTable straight from a recording's
// text, independently of the provider and of switchsim, naming ports by
// the recorded ifName.
func recordedIPNeighbors(t *testing.T, data []byte) string {
	t.Helper()
	const media, ifName = "1.3.6.1.2.1.4.22.1.", "1.3.6.1.2.1.31.1.1.1.1."
	names := map[string]string{}
	type row struct{ ifIndex, ip, mac, state string }
	var order []string
	rows := map[string]*row{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 {
			continue
		}
		oid, val := parts[0], parts[2]
		if rest, ok := strings.CutPrefix(oid, ifName); ok {
			names[rest] = val
			continue
		}
		rest, ok := strings.CutPrefix(oid, media)
		if !ok {
			continue
		}
		col, idx, _ := strings.Cut(rest, ".")
		ifIndex, ip, _ := strings.Cut(idx, ".")
		r := rows[idx]
		if r == nil {
			r = &row{ifIndex: ifIndex, ip: ip}
			rows[idx] = r
			order = append(order, idx)
		}
		switch col {
		case "2": // 4x|001f12304700
			var octets []string
			for i := 0; i+2 <= len(val); i += 2 {
				octets = append(octets, val[i:i+2])
			}
			r.mac = strings.Join(octets, ":")
		case "4":
			r.state = map[string]string{"1": "other", "2": "invalid", "3": "dynamic", "4": "static"}[val]
		}
	}
	var b strings.Builder
	for _, idx := range order {
		r := rows[idx]
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s\n", r.ifIndex, names[r.ifIndex], r.ip, r.mac, r.state)
	}
	return b.String()
}

// checkCiscoIPNeighbors checks the neighbour table of the Cisco recording,
// which has only the deprecated ipNetToMediaTable (85 entries on Vlan60).
func checkCiscoIPNeighbors(t *testing.T, want string, got polled) {
	t.Helper()
	if got.ipn == nil || !got.ipn.Complete {
		t.Fatalf("IP neighbours = %v", got.ipn)
	}
	s := neighborLines(got.ipNeighbors())
	if s != want {
		t.Errorf("neighbours:\n%s\nrecording:\n%s", s, want)
	}
	if n := strings.Count(s, "\n"); n != 85 || !strings.HasPrefix(s, "60|Vl60|10.204.88.1|00:1f:12:30:47:00|dynamic\n") ||
		strings.Count(s, "|static\n") != 1 {
		t.Errorf("independent parse of the recording is off: %d rows, first %.60q", n, s)
	}
}

// neighborRecords is a neighbour table of n entries spread over the
// ports of a generated switch: in ipNetToPhysicalTable (half IPv4, half
// IPv6) or, with media, in the deprecated ipNetToMediaTable (IPv4).
func neighborRecords(t testing.TB, n int, media bool) []switchsim.Record {
	t.Helper()
	var recs []switchsim.Record
	add := func(oid string, v switchsim.Value) {
		o, err := switchsim.ParseOID(oid)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, switchsim.Record{OID: o, Value: v})
	}
	for i := range n {
		ifIndex := 10001 + i%48
		mac := []byte{0x02, 0x43, 0, 0, byte(i >> 8), byte(i)}
		v4 := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff)
		switch {
		case media:
			add(fmt.Sprintf("1.3.6.1.2.1.4.22.1.2.%d.%s", ifIndex, v4), switchsim.Octets(mac))
			add(fmt.Sprintf("1.3.6.1.2.1.4.22.1.4.%d.%s", ifIndex, v4), switchsim.Integer(3))
		case i%2 == 0:
			add(fmt.Sprintf("1.3.6.1.2.1.4.35.1.4.%d.1.4.%s", ifIndex, v4), switchsim.Octets(mac))
			add(fmt.Sprintf("1.3.6.1.2.1.4.35.1.6.%d.1.4.%s", ifIndex, v4), switchsim.Integer(3))
		default:
			idx := fmt.Sprintf("%d.2.16.32.1.13.184.0.0.0.0.0.0.0.0.0.0.%d.%d", ifIndex, i>>8, i&0xff)
			add("1.3.6.1.2.1.4.35.1.4."+idx, switchsim.Octets(mac))
			add("1.3.6.1.2.1.4.35.1.6."+idx, switchsim.Integer(3))
		}
	}
	return recs
}

// BenchmarkWalkIPNeighbors measures a full poll of the 48-port switch with
// 2,000 FDB MACs of BenchmarkWalk48Ports2000MACs plus 2,000 IP neighbours,
// in ipNetToPhysicalTable or only in the deprecated ipNetToMediaTable:
// round trips and bytes on the wire per walk (max_repetitions 64, v2c).
func BenchmarkWalkIPNeighbors(b *testing.B) {
	for _, media := range []bool{false, true} {
		name := "ipNetToPhysicalTable"
		if media {
			name = "ipNetToMediaTable"
		}
		b.Run(name, func(b *testing.B) {
			a := startAgent(b, append(bigSwitch(b).Records, neighborRecords(b, 2000, media)...), switchsim.Config{Community: "public"})
			cfg := v2c(b, a.Addr().String(), "public")
			cfg.MaxRepetitions = 64
			reg := prometheus.NewRegistry()
			p := newProvider(b, cfg, snmp.Options{Metrics: snmp.NewMetrics(reg)})
			res, err := p.Poll(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if got := split(b, res); len(got.ipNeighbors()) != 2000 || !got.ipn.Complete {
				b.Fatalf("%d neighbours, incomplete %v", len(got.ipNeighbors()), got.ipn.GetIncomplete())
			}
			base := gather(b, reg)
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Poll(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			m := gather(b, reg)
			n := float64(b.N)
			b.ReportMetric((m["rt"]-base["rt"])/n, "roundtrips/op")
			b.ReportMetric((m["sent"]-base["sent"])/n, "bytes_sent/op")
			b.ReportMetric((m["received"]-base["received"])/n, "bytes_recv/op")
			b.ReportMetric(cpu.Seconds()/n*1000, "cpu-s/1000walks")
		})
	}
}
