package snmp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/snmp"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
)

func fastV2c(t *testing.T, a *switchsim.Agent) snmp.Config {
	c := v2c(t, a.Addr().String(), "public")
	c.Timeout, c.Retries = 300*time.Millisecond, 0
	return c
}

// TestUnreadableAgents: nothing readable gives a TargetError whose kind
// says why.
func TestUnreadableAgents(t *testing.T) {
	site := demoSite(t, 4, 0)
	cases := []struct {
		name   string
		faults switchsim.Faults
		v3     []string // user, auth, auth password, priv, priv password
		kind   providers.ErrorKind
		want   error
	}{
		{"silent agent", switchsim.Faults{Silent: true}, nil, providers.KindTimeout, snmp.ErrNoResponse},
		{"garbage replies", switchsim.Faults{Garbage: true}, nil, providers.KindDecode, snmp.ErrMalformed},
		{"unknown user", switchsim.Faults{}, []string{"ghost", "SHA", "authpass123", "AES", "privpass123"}, providers.KindAuth, snmp.ErrUnknownUser},
		{"wrong auth password", switchsim.Faults{}, []string{"shaaes", "SHA", "authpassXXX", "AES", "privpass123"}, providers.KindAuth, snmp.ErrWrongDigest},
		{"wrong priv password", switchsim.Faults{}, []string{"shaaes", "SHA", "authpass123", "AES", "privpassXXX"}, providers.KindAuth, snmp.ErrDecryption},
		{"priv for a user without", switchsim.Faults{}, []string{"shaonly", "SHA", "authpass123", "AES", "privpass123"}, providers.KindAuth, snmp.ErrUnsupportedSecLevel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startAgent(t, site.Switches[0].Records, switchsim.Config{Community: "public", Users: simUsers})
			a.SetFaults(tc.faults)
			reg := prometheus.NewRegistry()
			cfg := fastV2c(t, a)
			if tc.v3 != nil {
				cfg = v3(t, a.Addr().String(), tc.v3[0], tc.v3[1], tc.v3[2], tc.v3[3], tc.v3[4])
				cfg.Timeout, cfg.Retries = 300*time.Millisecond, 0
			}
			p := newProvider(t, cfg, snmp.Options{Metrics: snmp.NewMetrics(reg)})
			res, err := p.Poll(context.Background())
			var te *providers.TargetError
			if !errors.As(err, &te) || te.Kind != tc.kind || !errors.Is(err, tc.want) || te.Provider != "snmp" || te.Target != "sw-under-test" {
				t.Fatalf("Poll = %d observations, %v; want %s wrapping %v", len(res.Observations), err, tc.kind, tc.want)
			}
			if res.Requests < 1 {
				t.Errorf("requests = %d", res.Requests)
			}
			if n := metricValue(t, reg, "racktrack_snmp_polls_total", "result", "failed"); n != 1 {
				t.Errorf("failed polls metric = %v", n)
			}
		})
	}
}

// metricValue reads one counter sample (label "" matches any) from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestPartialPolls: a fault in one table leaves the others complete and
// is named in the table's incomplete list and in the target status.
func TestPartialPolls(t *testing.T) {
	site := demoSite(t, 8, 0)
	sw := site.Switches[0]
	cases := []struct {
		name    string
		faults  switchsim.Faults
		mutate  func(t *testing.T, d *switchsim.Dataset)
		broken  string // which payload is incomplete
		kind    providers.ErrorKind
		want    error
		message string
	}{
		{name: "non-increasing OIDs in the FDB", faults: switchsim.Faults{NonIncreasing: "1.3.6.1.2.1.17.7.1.2.2.1.3"},
			broken: "fdb", kind: providers.KindProtocol, want: snmp.ErrNonIncreasing, message: "OID not increasing"},
		{name: "endless LLDP column", faults: switchsim.Faults{Endless: "1.0.8802.1.1.2.1.4.1.1.9"},
			broken: "lldp", kind: providers.KindProtocol, want: snmp.ErrEndlessWalk, message: "walk does not end"},
		{name: "agent wraps to the start at the end of the MIB", faults: switchsim.Faults{WrapAtEnd: true},
			broken: "inventory", kind: providers.KindProtocol, want: snmp.ErrNonIncreasing, message: "got .1.0.8802"},
		{name: "genErr on entPhysicalSerialNum", faults: switchsim.Faults{GenErr: "1.3.6.1.2.1.47.1.1.1.1.11"},
			broken: "inventory", kind: providers.KindProtocol, message: "error-status genErr at .1.3.6.1.2.1.47.1.1.1.1.11"},
		{name: "wrong type for ifSpeed", mutate: func(t *testing.T, d *switchsim.Dataset) {
			if err := d.Set("1.3.6.1.2.1.31.1.1.1.15.10003", switchsim.OctetString("fast")); err != nil {
				t.Fatal(err)
			}
		}, broken: "interfaces", kind: providers.KindDecode, want: snmp.ErrWrongType,
			message: ".1.3.6.1.2.1.31.1.1.1.15.10003: wrong type OctetString, want an unsigned number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startAgent(t, sw.Records, switchsim.Config{Community: "public"})
			a.SetFaults(tc.faults)
			if tc.mutate != nil {
				tc.mutate(t, a.Data())
			}
			p := newProvider(t, fastV2c(t, a), snmp.Options{MaxRows: 500})
			got := pollOK(t, p)
			byName := map[string]*racktrackv1.Observation{"inventory": got.inv, "interfaces": got.ifs, "lldp": got.lldp, "fdb": got.fdb}
			for name, o := range byName {
				if name == tc.broken {
					if o.Complete || len(o.Incomplete) == 0 || !strings.Contains(strings.Join(o.Incomplete, "\n"), tc.message) {
						t.Errorf("%s: complete %v, incomplete %q; want %q", name, o.Complete, o.Incomplete, tc.message)
					}
				} else if !o.Complete {
					t.Errorf("%s incomplete although unaffected: %v", name, o.Incomplete)
				}
			}
			st := got.status.GetTargetStatus()
			if got.status.Complete || !st.Reachable || st.ErrorKind != string(tc.kind) || !strings.Contains(st.Error, tc.message) {
				t.Errorf("status = %+v", st)
			}
			// The rest of the data is still there.
			if len(got.interfaces()) != 48 || got.inv.GetSwitchInventory().SysName != sw.Name {
				t.Errorf("lost data: %d interfaces, sysName %q", len(got.interfaces()), got.inv.GetSwitchInventory().SysName)
			}
			if tc.broken != "fdb" && len(got.entries()) != 8 {
				t.Errorf("FDB entries = %d, want 8", len(got.entries()))
			}
			if tc.broken != "lldp" && len(got.neighbors()) != 8 {
				t.Errorf("neighbours = %d, want 8", len(got.neighbors()))
			}
		})
	}
}

// TestAgentStopsMidWalk: the agent answers the system group and the first
// GETBULK, then nothing; the rows read so far are kept.
func TestAgentStopsMidWalk(t *testing.T) {
	site := demoSite(t, 8, 300)
	a := startAgent(t, site.Switches[0].Records, switchsim.Config{Community: "public"})
	a.SetFaults(switchsim.Faults{AnswerFirst: 3})
	got := pollOK(t, newProvider(t, fastV2c(t, a), snmp.Options{}))
	st := got.status.GetTargetStatus()
	if got.status.Complete || st.ErrorKind != "timeout" || !strings.Contains(st.Error, "no response") || st.Operation != "GETBULK" {
		t.Errorf("status = %+v", st)
	}
	if n := len(got.interfaces()); n != 48 || !got.ifs.Complete {
		t.Errorf("interfaces read before the agent went quiet = %d (complete %v, %v), want all 48", n, got.ifs.Complete, got.ifs.Incomplete)
	}
	if got.fdb.Complete || len(got.entries()) == 0 || len(got.entries()) >= 308 {
		t.Errorf("FDB complete=%v with %d of 308 entries", got.fdb.Complete, len(got.entries()))
	}
}

// TestTooBigShrinksRequests: an agent answering tooBig above 1,400 bytes
// still yields the full tables, in more round trips.
func TestTooBigShrinksRequests(t *testing.T) {
	site := demoSite(t, 8, 0)
	a := startAgent(t, site.Switches[0].Records, switchsim.Config{Community: "public"})
	normal := pollOK(t, newProvider(t, fastV2c(t, a), snmp.Options{}))
	a.SetFaults(switchsim.Faults{TooBigAbove: 1400})
	small := pollOK(t, newProvider(t, fastV2c(t, a), snmp.Options{}))
	checkGeneratedSwitch(t, site, site.Switches[0], small)
	if small.res.Requests <= normal.res.Requests {
		t.Errorf("requests with tooBig = %d, without = %d", small.res.Requests, normal.res.Requests)
	}
}

// TestTruncatedColumns: columns that stop early leave rows without those
// cells, not errors.
func TestTruncatedColumns(t *testing.T) {
	site := demoSite(t, 8, 0)
	a := startAgent(t, site.Switches[0].Records, switchsim.Config{Community: "public"})
	// Two ifName cells, one lldpRemSysName, sysContact (GET answers
	// noSuchInstance) and all of ENTITY-MIB go missing.
	for _, prefix := range []string{"1.3.6.1.2.1.31.1.1.1.1.10040", "1.3.6.1.2.1.31.1.1.1.1.10041", "1.0.8802.1.1.2.1.4.1.1.9.0.8",
		"1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.47"} {
		if _, err := a.Data().Delete(prefix); err != nil {
			t.Fatal(err)
		}
	}
	got := pollOK(t, newProvider(t, fastV2c(t, a), snmp.Options{}))
	for _, i := range got.interfaces() {
		switch i.IfIndex {
		case 10040, 10041:
			if i.Name != "" || i.Descr == "" {
				t.Errorf("interface %d = %q/%q", i.IfIndex, i.Name, i.Descr)
			}
		}
	}
	for _, n := range got.neighbors() {
		if n.LocalPortIndex == 8 && (n.SystemName != "" || n.PortId != "02:00:5e:10:08:01") {
			t.Errorf("neighbour on port 8 = %+v", n)
		}
	}
	if !got.ifs.Complete || !got.lldp.Complete || !got.inv.Complete {
		t.Errorf("missing cells marked incomplete: %v %v %v", got.ifs.Incomplete, got.lldp.Incomplete, got.inv.Incomplete)
	}
	inv := got.inv.GetSwitchInventory()
	if inv.SysContact != "" || inv.SysName != "demo-sw1" || len(inv.Entities) != 0 {
		t.Errorf("inventory = contact %q, name %q, %d entities", inv.SysContact, inv.SysName, len(inv.Entities))
	}
}

// TestCounterWrapsAndResets: 32-bit counters are extended across polls,
// a restart (sysUpTime going back) starts them again.
func TestCounterWrapsAndResets(t *testing.T) {
	site := demoSite(t, 2, 0)
	a := startAgent(t, site.Switches[0].Records, switchsim.Config{Community: "public"})
	d := a.Data()
	// No 64-bit counters: the provider must fall back to ifInOctets.
	if _, err := d.Delete("1.3.6.1.2.1.31.1.1.1.6"); err != nil {
		t.Fatal(err)
	}
	set := func(oid string, v switchsim.Value) {
		t.Helper()
		if err := d.Set(oid, v); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	p := newProvider(t, fastV2c(t, a), snmp.Options{Metrics: snmp.NewMetrics(reg)})
	inOctets := func() uint64 {
		for _, i := range pollOK(t, p).interfaces() {
			if i.IfIndex == 10001 {
				return i.InOctets
			}
		}
		t.Fatal("no ifIndex 10001")
		return 0
	}
	steps := []struct {
		uptime uint32
		raw    uint32
		want   uint64
	}{
		{1000, 4294967000, 4294967000},
		{2000, 100, 1<<32 + 100}, // wrapped once
		{3000, 4294967295, 1<<33 - 1},
		{4000, 5, 1<<33 + 5}, // wrapped twice
		{500, 7, 7},          // agent restarted: start again
		{600, 9, 9},
	}
	for i, s := range steps {
		set("1.3.6.1.2.1.1.3.0", switchsim.TimeTicks(s.uptime))
		set("1.3.6.1.2.1.2.2.1.10.10001", switchsim.Counter32(s.raw))
		if got := inOctets(); got != s.want {
			t.Errorf("step %d: in_octets = %d, want %d", i, got, s.want)
		}
	}
	if n := metricValue(t, reg, "racktrack_snmp_counter_wraps_total", "", ""); n != 2 {
		t.Errorf("wraps = %v, want 2", n)
	}
	if n := metricValue(t, reg, "racktrack_snmp_counter_resets_total", "", ""); n < 1 {
		t.Errorf("resets = %v, want at least 1", n)
	}
}
