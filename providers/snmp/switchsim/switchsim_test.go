package switchsim

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

func TestSnmprecRoundTrip(t *testing.T) {
	in := `# comment
1.3.6.1.2.1.1.1.0|4x|436973636f0d0a
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.516
1.3.6.1.2.1.1.3.0|67|697202257
1.3.6.1.2.1.1.5.0|4|Profiler3750
1.3.6.1.2.1.2.2.1.5.1|66|4294967295
1.3.6.1.2.1.2.2.1.10.1|65|123
1.3.6.1.2.1.4.20.1.1.10.0.0.1|64|10.0.0.1
1.3.6.1.2.1.4.22.1.3.1.10.0.0.2|64x|0a000002
1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615
1.3.6.1.2.1.2.2.1.8.1|2|-1
`
	recs, err := ParseSnmprec(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 10 {
		t.Fatalf("records = %d", len(recs))
	}
	if string(recs[0].Value.Content) != "Cisco\r\n" || recs[0].Value.Tag != 4 {
		t.Errorf("hex octet string = %q", recs[0].Value.Content)
	}
	var out bytes.Buffer
	if err := WriteSnmprec(&out, recs); err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(strings.TrimPrefix(in, "# comment\n"), "64x|0a000002", "64|10.0.0.2")
	if out.String() != want {
		t.Errorf("written:\n%s\nwant:\n%s", out.String(), want)
	}
	again, err := ParseSnmprec(&out)
	if err != nil || len(again) != len(recs) {
		t.Fatalf("re-read: %d, %v", len(again), err)
	}
}

func TestSnmprecErrors(t *testing.T) {
	cases := map[string]string{
		"1.3.6.1|4":              "line 1: snmprec syntax: want OID|TAG|VALUE",
		"1.3.x|4|a":              `line 1: snmprec syntax: bad OID "1.3.x"`,
		"1.3.6|2:numeric|1,2":    `line 1: snmprec syntax: variation module "2:numeric" not supported`,
		"1.3.6|2|ten":            `line 1: snmprec syntax: bad Integer "ten"`,
		"1.3.6|4x|zz":            "line 1: snmprec syntax: bad hex value",
		"1.3.6|65|-1":            `line 1: snmprec syntax: bad unsigned "-1"`,
		"1.3.6|99|x":             "line 1: snmprec syntax: unsupported tag 99",
		"\n\n1.3.6|64|300.1.1.1": "line 3: snmprec syntax: not an IPv4 address",
	}
	for in, want := range cases {
		_, err := ParseSnmprec(strings.NewReader(in))
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	spec := SiteSpec{Name: "x", Hosts: DemoHosts("h", 30), ExtraFDB: 10}
	a, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(spec)
	var wa, wb bytes.Buffer
	_ = WriteSnmprec(&wa, a.Switches[1].Records)
	_ = WriteSnmprec(&wb, b.Switches[1].Records)
	if wa.String() != wb.String() || len(a.Cables) != 60 {
		t.Errorf("generator not deterministic or cables = %d", len(a.Cables))
	}
	if _, err := NewDataset(a.Switches[0].Records); err != nil {
		t.Errorf("generated duplicate OIDs: %v", err)
	}
	if _, err := Generate(SiteSpec{Hosts: DemoHosts("h", 49), Switches: 1, Ports: 48}); err == nil ||
		!strings.Contains(err.Error(), "switch 1 has no free port for h-25 eno1") {
		t.Errorf("overfull switch: %v", err)
	}
}

// TestNetSNMPClients: net-snmp's own tools walk the responder over v2c
// and v3 authPriv, so the responder's USM is checked against an
// implementation other than gosnmp's.
func TestNetSNMPClients(t *testing.T) {
	if _, err := exec.LookPath("snmpwalk"); err != nil {
		t.Fatal("snmpwalk not found: run `make setup` (Debian package snmp)")
	}
	site, err := Generate(SiteSpec{Name: "cli", Hosts: DemoHosts("h", 3)})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := NewDataset(site.Switches[0].Records)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(Config{Addr: fmt.Sprintf("127.%d.%d.9:0", 100+rand.IntN(100), rand.IntN(250)), Data: ds, Community: "pub",
		WriteCommunity: "priv", Users: []User{
			{Name: "u1", AuthProtocol: "SHA", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"},
			{Name: "u2", AuthProtocol: "SHA256", AuthPassword: "authpass123", PrivProtocol: "AES256", PrivPassword: "privpass123"},
			{Name: "u3", AuthProtocol: "SHA512", AuthPassword: "authpass123"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr := a.Addr().String()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"v2c walk", []string{"snmpwalk", "-v2c", "-c", "pub", "-On", addr, "1.0.8802.1.1.2.1.4.1.1.9"},
			".1.0.8802.1.1.2.1.4.1.1.9.0.3.1 = STRING: \"h-03\""},
		{"v2c bulkwalk", []string{"snmpbulkwalk", "-v2c", "-c", "pub", "-Cr7", "-On", addr, "1.3.6.1.2.1.31.1.1.1.1"},
			".1.3.6.1.2.1.31.1.1.1.1.10048 = STRING: \"Ethernet1/48\""},
		{"v3 SHA/AES", []string{"snmpget", "-v3", "-l", "authPriv", "-u", "u1", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123", "-On", addr, "1.3.6.1.2.1.1.5.0"},
			".1.3.6.1.2.1.1.5.0 = STRING: \"cli-sw1\""},
		{"v3 SHA-256/AES-256", []string{"snmpget", "-v3", "-l", "authPriv", "-u", "u2", "-a", "SHA-256", "-A", "authpass123", "-x", "AES-256", "-X", "privpass123", "-On", addr, "1.3.6.1.2.1.1.6.0"},
			".1.3.6.1.2.1.1.6.0 = STRING: \"cli\""},
		{"v3 SHA-512 authNoPriv", []string{"snmpget", "-v3", "-l", "authNoPriv", "-u", "u3", "-a", "SHA-512", "-A", "authpass123", "-On", addr, "1.3.6.1.2.1.2.2.1.5.10001"},
			".1.3.6.1.2.1.2.2.1.5.10001 = Gauge32: 4294967295"},
		{"v2c set", []string{"snmpset", "-v2c", "-c", "priv", "-On", addr, "1.3.6.1.2.1.31.1.1.1.18.10002", "s", "set by net-snmp"},
			".1.3.6.1.2.1.31.1.1.1.18.10002 = STRING: \"set by net-snmp\""},
		{"v3 wrong auth password", []string{"snmpget", "-v3", "-l", "authPriv", "-u", "u1", "-a", "SHA", "-A", "wrongpass123", "-x", "AES", "-X", "privpass123", "-r", "0", addr, "1.3.6.1.2.1.1.5.0"},
			"Authentication failure (incorrect password, community or key)"},
		{"v3 unknown user", []string{"snmpget", "-v3", "-l", "authPriv", "-u", "nobody", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123", "-r", "0", addr, "1.3.6.1.2.1.1.5.0"},
			"Unknown user name"},
		{"v3 wrong priv password", []string{"snmpget", "-v3", "-l", "authPriv", "-u", "u1", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "wrongpriv123", "-r", "0", addr, "1.3.6.1.2.1.1.5.0"},
			"Decryption error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.args[0], tc.args[1:]...)
			cmd.Env = []string{"MIBS=:", "HOME=" + t.TempDir()}
			out, _ := cmd.CombinedOutput()
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("%s:\n%s\nwant %q", strings.Join(tc.args, " "), out, tc.want)
			}
		})
	}
}

// FuzzAgentHandle: no datagram may crash the responder.
func FuzzAgentHandle(f *testing.F) {
	site, err := Generate(SiteSpec{Name: "fz", Hosts: DemoHosts("h", 2)})
	if err != nil {
		f.Fatal(err)
	}
	ds, err := NewDataset(site.Switches[0].Records)
	if err != nil {
		f.Fatal(err)
	}
	a := &Agent{cfg: Config{Data: ds, Community: "public"}, engineID: []byte("\x80\x00\x7e\xd9\x04fuzz"), users: map[string]*usmUser{}}
	u, err := newUSMUser(User{Name: "u", AuthProtocol: "SHA", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"}, a.engineID)
	if err != nil {
		f.Fatal(err)
	}
	a.users["u"] = u
	// A v2c GETBULK and a v3 discovery request as seeds.
	f.Add([]byte{0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c', 0xa5, 0x19, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x0a,
		0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x05, 0x00, 0x05, 0x00})
	f.Add([]byte{0x30, 0x3a, 0x02, 0x01, 0x03, 0x30, 0x0f, 0x02, 0x02, 0x4a, 0x69, 0x02, 0x03, 0x00, 0xff, 0xe3, 0x04, 0x01, 0x04, 0x02, 0x01, 0x03,
		0x04, 0x10, 0x30, 0x0e, 0x04, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00, 0x04, 0x00,
		0x30, 0x12, 0x04, 0x00, 0x04, 0x00, 0xa0, 0x0c, 0x02, 0x02, 0x37, 0xf0, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x00})
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := a.handle(append([]byte(nil), msg...), Faults{})
		if len(out) > maxDatagram {
			t.Fatalf("reply of %d bytes", len(out))
		}
	})
}

// FuzzParseSnmprec: recordings are outside input too.
func FuzzParseSnmprec(f *testing.F) {
	f.Add("1.3.6.1.2.1.1.5.0|4|name\n1.3.6.1.2.1.1.3.0|67|5\n")
	f.Add("1.3.6|4x|00ff\n1.3.6.1|64|10.0.0.1\n1.3.6.2|6|1.3.6.1\n")
	f.Fuzz(func(t *testing.T, in string) {
		recs, err := ParseSnmprec(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteSnmprec(&out, recs); err != nil {
			t.Fatal(err)
		}
		again, err := ParseSnmprec(&out)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("round trip of %q: %d records, %v", in, len(again), err)
		}
	})
}
