package lldp

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// FuzzDecode feeds arbitrary bytes to the frame-to-neighbour path. Seeds:
// the frames built in this file and, under testdata/fuzz/FuzzDecode, real
// frames lldpd sent in TestNeighborLifecycle (-lldp.update-corpus).
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=20s ./providers/lldp
func FuzzDecode(f *testing.F) {
	f.Add(mustHex(f, lldpdFrameHex))
	f.Add(basicFrame(testSrcMAC, "eth0", 120))
	f.Add(basicFrame(testSrcMAC, "eth0", 0))
	f.Add(basicFrame(testSrcMAC, "p1", 120,
		org(ouiIEEE8021, dot1PortVLANID, 0x00, 0x64),
		org(ouiIEEE8021, dot1LinkAggregation, 0x03, 0x00, 0x00, 0x01, 0xf5),
		org(ouiIEEE8023, dot3MACPHY, 0x03, 0x6c, 0x01, 0x00, 0x1e),
		org(ouiIEEE8023, dot3MaxFrameSize, 0x23, 0x28),
		tlv(tlvCapabilities, u16(0x0014), u16(0x0004)),
		tlv(tlvManagementAddr, bs(5, 1, 192, 0, 2, 1), bs(2), u32(3), bs(0)),
	))
	f.Add(lldpFrame(tlv(tlvChassisID, bs(5, 2), make([]byte, 16)), tlv(tlvPortID, bs(4, 1, 10, 0, 0, 1)), ttl(1), end()))
	sentinels := []error{ErrTruncated, ErrNotLLDP, ErrInvalidFrame, ErrInvalidTLV, ErrOversizedTLV}
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := bytes.Clone(frame)
		n, counts, err := DecodeCounted(frame)
		if !bytes.Equal(frame, orig) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			if n != nil {
				t.Fatalf("neighbour with error %v", err)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			matched := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					matched++
				}
			}
			if matched != 1 {
				t.Fatalf("error %v matches %d sentinels, want 1", err, matched)
			}
			return
		}
		if n.ChassisId == "" || n.PortId == "" || n.ChassisIdSubtype == "" || n.PortIdSubtype == "" {
			t.Fatalf("accepted frame without IDs: %v", n)
		}
		if counts.Discarded < 0 || counts.Unrecognized < 0 {
			t.Fatalf("counts %+v", counts)
		}
		// What the agent publishes must marshal (strings valid UTF-8).
		if _, err := proto.Marshal(&racktrackv1.LLDPNeighborTable{Neighbors: []*racktrackv1.LLDPNeighbor{n}}); err != nil {
			t.Fatalf("decoded neighbour does not marshal: %v", err)
		}
	})
}

// readCorpusFile reads one []byte value of a "go test fuzz v1" file.
func readCorpusFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() || sc.Text() != "go test fuzz v1" {
		t.Fatalf("%s: not a go fuzz corpus file", path)
	}
	if !sc.Scan() {
		t.Fatalf("%s: no value", path)
	}
	line := sc.Text()
	if !strings.HasPrefix(line, "[]byte(") || !strings.HasSuffix(line, ")") {
		t.Fatalf("%s: value %q is not []byte", path, line)
	}
	s, err := strconv.Unquote(line[len("[]byte(") : len(line)-1])
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// TestCorpusFrames decodes the committed lldpd frames to exact values.
func TestCorpusFrames(t *testing.T) {
	base := &racktrackv1.LLDPNeighbor{
		ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
		PortIdSubtype: "interface_name", PortId: "swp7", PortDescription: "swp7",
		SystemName: "sw-far", SystemDescription: "test switch", TtlSeconds: 3,
		Capabilities:        []string{"bridge", "wlan_access_point", "router", "station_only"},
		EnabledCapabilities: []string{"station_only"},
		ManagementAddresses: []string{"192.0.2.2"},
		MauType:             54,
	}
	renamed := proto.CloneOf(base)
	renamed.SystemName = "sw-renamed"
	tests := []struct {
		file       string
		want       *racktrackv1.LLDPNeighbor
		wantCounts TLVCounts
	}{
		{"lldpd-ifname", base, TLVCounts{}},
		{"lldpd-renamed", renamed, TLVCounts{}},
		{"lldpd-shutdown", &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
			PortIdSubtype: "mac_address", PortId: "02:00:00:00:0b:07"}, TLVCounts{}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			frame := readCorpusFile(t, filepath.Join("testdata", "fuzz", "FuzzDecode", tc.file))
			got, counts, err := DecodeCounted(frame)
			if err != nil {
				t.Fatal(err)
			}
			assertNeighbor(t, got, tc.want)
			if counts != tc.wantCounts {
				t.Errorf("counts %+v, want %+v", counts, tc.wantCounts)
			}
		})
	}
	t.Run("lldpd-med-macaddress", func(t *testing.T) {
		frame := readCorpusFile(t, filepath.Join("testdata", "fuzz", "FuzzDecode", "lldpd-med-macaddress"))
		got, counts, err := DecodeCounted(frame)
		if err != nil {
			t.Fatal(err)
		}
		// LLDP-MED inventory carries this machine's kernel and hardware;
		// check the fields the test set, and that MED TLVs were skipped.
		if got.SystemName != "sw-med" || got.PortIdSubtype != "mac_address" || got.PortId != "02:00:00:00:0b:07" || got.TtlSeconds != 30 {
			t.Errorf("decoded %v", got)
		}
		if counts.Unrecognized == 0 || counts.Discarded != 0 {
			t.Errorf("counts %+v, want LLDP-MED TLVs unrecognized", counts)
		}
	})
}

// BenchmarkDecode measures the frame-to-neighbour cost of a real lldpd
// frame.
//
//	go test -run='^$' -bench=Decode -benchmem ./providers/lldp
func BenchmarkDecode(b *testing.B) {
	frame := mustHex(b, lldpdFrameHex)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRejected measures the cost of dropping a malformed frame.
func BenchmarkDecodeRejected(b *testing.B) {
	frame := lldpFrame(portName("p1"), chassisMAC(testSrcMAC), ttl(1), end())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err == nil {
			b.Fatal("accepted")
		}
	}
}
