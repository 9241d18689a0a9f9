package snmp

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

func TestDecodeLLDPIDs(t *testing.T) {
	mac := []byte{0x00, 0x1B, 0x21, 0xAB, 0xCD, 0xEF}
	cases := []struct {
		name        string
		chassis     bool
		subtype     int64
		id          []byte
		wantSubtype string
		wantID      string
	}{
		{"chassis MAC", true, 4, mac, "mac_address", "00:1b:21:ab:cd:ef"},
		{"chassis IPv4", true, 5, []byte{1, 192, 0, 2, 7}, "network_address", "192.0.2.7"},
		{"chassis IPv6", true, 5, append([]byte{2}, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), "network_address", "2001:db8::1"},
		{"chassis name", true, 6, []byte("Ethernet1"), "interface_name", "Ethernet1"},
		{"chassis local text", true, 7, []byte("FOC1234X0AB"), "local", "FOC1234X0AB"},
		{"chassis local binary", true, 7, []byte{0x00, 0xff, 0x10}, "local", "00:ff:10"},
		{"chassis component", true, 1, []byte("chassis-1"), "chassis_component", "chassis-1"},
		{"chassis alias", true, 2, []byte("uplink"), "interface_alias", "uplink"},
		{"chassis port component", true, 3, []byte("slot1"), "port_component", "slot1"},
		{"chassis reserved subtype", true, 9, []byte("x"), "subtype_9", "x"},
		{"port MAC", false, 3, mac, "mac_address", "00:1b:21:ab:cd:ef"},
		{"port ifName", false, 5, []byte("swp7"), "interface_name", "swp7"},
		{"port alias", false, 1, []byte("to core"), "interface_alias", "to core"},
		{"port component", false, 2, []byte("Gi1/0/1"), "port_component", "Gi1/0/1"},
		{"port network address MAC family", false, 4, append([]byte{6}, mac...), "network_address", "00:1b:21:ab:cd:ef"},
		{"port network address DNS", false, 4, append([]byte{16}, "sw1.example.net"...), "network_address", "sw1.example.net"},
		{"port network address unknown family", false, 4, []byte{99, 1, 2}, "network_address", "family99:01:02"},
		{"port network address truncated IPv4", false, 4, []byte{1, 10, 0}, "network_address", "family1:0a:00"},
		{"port circuit id", false, 6, []byte{0x01, 0x02, 0x03}, "agent_circuit_id", "01:02:03"},
		{"port local with NUL", false, 7, []byte("port-7\x00"), "local", "port-7"},
		{"port empty", false, 7, nil, "local", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sub, id string
			if tc.chassis {
				sub, id = decodeChassisID(tc.subtype, tc.id)
			} else {
				sub, id = decodePortID(tc.subtype, tc.id)
			}
			if sub != tc.wantSubtype || id != tc.wantID {
				t.Errorf("= %q %q, want %q %q", sub, id, tc.wantSubtype, tc.wantID)
			}
		})
	}
}

func TestDecodeCapabilities(t *testing.T) {
	cases := map[string]struct {
		in   []byte
		want string
	}{
		"none":             {[]byte{0, 0}, ""},
		"bridge router":    {[]byte{0x28, 0x00}, "bridge,router"},
		"lldpd host":       {[]byte{0x39}, "bridge,wlan_access_point,router,station_only"},
		"c-vlan and bit12": {[]byte{0x00, 0x88}, "c_vlan,bit12"},
		"all legacy":       {[]byte{0xff}, "other,repeater,bridge,wlan_access_point,router,telephone,docsis_cable_device,station_only"},
	}
	for name, tc := range cases {
		if got := strings.Join(decodeCapabilities(tc.in), ","); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

func TestDecodeIndexes(t *testing.T) {
	fdb, mac, err := decodeFDBIndex([]uint32{100, 2, 0, 94, 16, 1, 255}, true)
	if err != nil || fdb != 100 || mac != "02:00:5e:10:01:ff" {
		t.Errorf("dot1q index = %d %q %v", fdb, mac, err)
	}
	if _, mac, err := decodeFDBIndex([]uint32{104, 153, 205, 165, 159, 136}, false); err != nil || mac != "68:99:cd:a5:9f:88" {
		t.Errorf("dot1d index = %q %v", mac, err)
	}
	for _, bad := range [][]uint32{{1, 2, 3}, {100, 2, 0, 94, 16, 1, 256}} {
		if _, _, err := decodeFDBIndex(bad, true); err == nil {
			t.Errorf("decodeFDBIndex(%v) accepted", bad)
		}
	}
	k, addr, err := decodeManAddrIndex([]uint32{100, 2, 1, 1, 4, 192, 0, 2, 7})
	if err != nil || k != (lldpRemKey{100, 2, 1}) || addr != "192.0.2.7" {
		t.Errorf("man addr = %v %q %v", k, addr, err)
	}
	k, addr, err = decodeManAddrIndex([]uint32{0, 7, 3, 2, 16, 254, 128, 0, 0, 0, 0, 0, 0, 0, 0, 94, 255, 254, 0, 83, 7})
	if err != nil || k != (lldpRemKey{0, 7, 3}) || addr != "fe80::5eff:fe00:5307" {
		t.Errorf("man addr v6 = %v %q %v", k, addr, err)
	}
	if _, _, err := decodeManAddrIndex([]uint32{0, 7, 3, 1, 4, 10, 0}); err == nil {
		t.Error("short address accepted")
	}
}

func TestValueDecoders(t *testing.T) {
	pdu := func(typ gosnmp.Asn1BER, v any) gosnmp.SnmpPDU {
		return gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.5.3", Type: typ, Value: v}
	}
	if n, err := asUint(pdu(gosnmp.Gauge32, uint(4294967295))); err != nil || n != 4294967295 {
		t.Errorf("Gauge32 = %d %v", n, err)
	}
	if n, err := asUint(pdu(gosnmp.Counter64, uint64(1<<63))); err != nil || n != 1<<63 {
		t.Errorf("Counter64 = %d %v", n, err)
	}
	if n, err := asUint(pdu(gosnmp.TimeTicks, uint32(697202257))); err != nil || n != 697202257 {
		t.Errorf("TimeTicks = %d %v", n, err)
	}
	_, err := asUint(pdu(gosnmp.OctetString, []byte("fast")))
	if !errors.Is(err, ErrWrongType) || err.Error() != ".1.3.6.1.2.1.2.2.1.5.3: wrong type OctetString, want an unsigned number" {
		t.Errorf("OctetString as unsigned: %v", err)
	}
	if _, err := asUint(pdu(gosnmp.Integer, -1)); !errors.Is(err, ErrWrongType) {
		t.Errorf("negative Integer as unsigned: %v", err)
	}
	if _, err := asInt(pdu(gosnmp.Counter32, uint(3))); !errors.Is(err, ErrWrongType) {
		t.Errorf("Counter32 as Integer: %v", err)
	}
	if _, err := asBytes(pdu(gosnmp.Integer, 3)); !errors.Is(err, ErrWrongType) {
		t.Errorf("Integer as OctetString: %v", err)
	}
	if s, err := asOID(pdu(gosnmp.ObjectIdentifier, ".1.3.6.1.4.1.9.1.516")); err != nil || s != "1.3.6.1.4.1.9.1.516" {
		t.Errorf("OID = %q %v", s, err)
	}
	if _, err := asOID(pdu(gosnmp.OctetString, []byte("1.3"))); !errors.Is(err, ErrWrongType) {
		t.Errorf("OctetString as OID: %v", err)
	}
}

func TestCompareOID(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{".1.3.6.1", ".1.3.6.1", 0},
		{".1.3.6.1", ".1.3.6.1.2", -1},
		{".1.3.6.10", ".1.3.6.9", 1},
		{".1.3.6.1.2.1.2.2.1.2.11001", ".1.3.6.1.2.1.2.2.1.2.5185", 1},
		{".1.0.8802", ".1.3", -1},
	}
	for _, tc := range cases {
		if got := compareOID(tc.a, tc.b); got != tc.want {
			t.Errorf("compareOID(%s, %s) = %d", tc.a, tc.b, got)
		}
	}
}

// FuzzValueDecoders feeds arbitrary agent-supplied octets and indexes to
// every decoder: none may panic, text output is valid UTF-8, and MACs
// keep their length.
func FuzzValueDecoders(f *testing.F) {
	f.Add(int64(4), []byte{0, 0x1b, 0x21, 1, 2, 3})
	f.Add(int64(5), []byte{1, 192, 0, 2, 7})
	f.Add(int64(5), []byte{2, 0xfe, 0x80})
	f.Add(int64(7), []byte("local\x00\xff"))
	f.Add(int64(-3), []byte{})
	f.Fuzz(func(t *testing.T, subtype int64, b []byte) {
		for _, s := range []string{displayString(b), decodeNetworkAddress(b), hexColon(b)} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q", s)
			}
		}
		for _, fn := range []func(int64, []byte) (string, string){decodeChassisID, decodePortID} {
			sub, id := fn(subtype, b)
			if sub == "" || !utf8.ValidString(id) {
				t.Fatalf("subtype %q id %q", sub, id)
			}
		}
		if len(b) > 0 && len(formatMAC(b)) != 3*len(b)-1 {
			t.Fatalf("formatMAC(%x) = %q", b, formatMAC(b))
		}
		caps := decodeCapabilities(b)
		if len(caps) > 8*len(b) {
			t.Fatalf("%d capabilities from %d octets", len(caps), len(b))
		}
		idx := make([]uint32, len(b))
		for i, c := range b {
			idx[i] = uint32(c)
			if i%3 == 0 {
				idx[i] = uint32(c) << 8
			}
		}
		_, _, _ = decodeManAddrIndex(idx)
		_, _, _ = decodeFDBIndex(idx, len(b)%2 == 0)
		for _, typ := range []gosnmp.Asn1BER{gosnmp.Integer, gosnmp.OctetString, gosnmp.Counter32, gosnmp.Counter64, gosnmp.ObjectIdentifier, gosnmp.Null, gosnmp.NoSuchInstance} {
			v := gosnmp.SnmpPDU{Name: ".1.3", Type: typ, Value: b}
			_, _ = asInt(v)
			_, _ = asUint(v)
			_, _ = asText(v)
			_, _ = asOID(v)
		}
		_ = sniffReport(b)
	})
}
