package ber

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestIntegers(t *testing.T) {
	for _, n := range []int64{0, 1, 127, 128, 255, 256, -1, -128, -129, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64} {
		got, err := ParseInt(IntContent(n))
		if err != nil || got != n {
			t.Errorf("int %d -> %x -> %d %v", n, IntContent(n), got, err)
		}
	}
	for _, n := range []uint64{0, 127, 128, 4294967295, math.MaxUint64} {
		got, err := ParseUint(UintContent(n))
		if err != nil || got != n {
			t.Errorf("uint %d -> %x -> %d %v", n, UintContent(n), got, err)
		}
	}
	if c := UintContent(4294967295); !bytes.Equal(c, []byte{0, 0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("Gauge32 max = %x", c)
	}
}

func TestOIDs(t *testing.T) {
	oid := []uint32{1, 3, 6, 1, 4, 1, 2636, 4294967295}
	c, err := OIDContent(oid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseOID(c)
	if err != nil || len(got) != len(oid) || got[6] != 2636 || got[7] != 4294967295 {
		t.Errorf("OID round trip = %v %v", got, err)
	}
	for _, bad := range [][]byte{{}, {0x2b, 0x80}, {0x2b, 0x80, 0x01}, {0x2b, 0x90, 0x80, 0x80, 0x80, 0x80, 0x01}} {
		if _, err := ParseOID(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseOID(%x) = %v", bad, err)
		}
	}
}

func TestReadTLV(t *testing.T) {
	long := AppendTLV(nil, TagOctetString, make([]byte, 300))
	tag, c, rest, err := ReadTLV(append(long, 0x05, 0x00))
	if err != nil || tag != TagOctetString || len(c) != 300 || !bytes.Equal(rest, []byte{0x05, 0x00}) {
		t.Errorf("long form = %x %d %x %v", tag, len(c), rest, err)
	}
	for _, bad := range [][]byte{{0x04}, {0x04, 0x05, 1}, {0x04, 0x85, 1, 1, 1, 1, 1}, {0x1f, 0x01, 0x00}, {0x04, 0x82, 0x01}} {
		if _, _, _, err := ReadTLV(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadTLV(%x) = %v", bad, err)
		}
	}
}
