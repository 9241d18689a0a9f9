// Package ber reads and writes the subset of ASN.1 BER that SNMP messages
// use: single-byte tags, definite lengths, INTEGER, OCTET STRING, OBJECT
// IDENTIFIER and the SNMP application types. It never panics on malformed
// input; every reader returns ErrMalformed (wrapped) instead.
package ber

import (
	"errors"
	"fmt"
	"math"
)

// ErrMalformed is returned when input is not valid BER for the requested
// element: truncated, over-long or with an unexpected tag.
var ErrMalformed = errors.New("malformed BER")

// Tags used by SNMP.
const (
	TagInteger     byte = 0x02
	TagOctetString byte = 0x04
	TagNull        byte = 0x05
	TagOID         byte = 0x06
	TagSequence    byte = 0x30
	TagIPAddress   byte = 0x40
	TagCounter32   byte = 0x41
	TagGauge32     byte = 0x42
	TagTimeTicks   byte = 0x43
	TagOpaque      byte = 0x44
	TagCounter64   byte = 0x46
	TagNoSuchObj   byte = 0x80
	TagNoSuchInst  byte = 0x81
	TagEndOfMib    byte = 0x82
)

// ReadTLV splits one element off b: its tag, its contents and what follows.
func ReadTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, fmt.Errorf("%w: need tag and length, have %d bytes", ErrMalformed, len(b))
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, fmt.Errorf("%w: multi-byte tag 0x%02x", ErrMalformed, tag)
	}
	l := int(b[1])
	off := 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 {
			return 0, nil, nil, fmt.Errorf("%w: length of %d octets", ErrMalformed, n)
		}
		if len(b) < 2+n {
			return 0, nil, nil, fmt.Errorf("%w: truncated length", ErrMalformed)
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		off = 2 + n
	}
	if l < 0 || l > len(b)-off {
		return 0, nil, nil, fmt.Errorf("%w: element of %d bytes, %d left", ErrMalformed, l, len(b)-off)
	}
	return tag, b[off : off+l], b[off+l:], nil
}

// Expect reads one element and checks its tag.
func Expect(b []byte, want byte) (content, rest []byte, err error) {
	tag, c, r, err := ReadTLV(b)
	if err != nil {
		return nil, nil, err
	}
	if tag != want {
		return nil, nil, fmt.Errorf("%w: tag 0x%02x, want 0x%02x", ErrMalformed, tag, want)
	}
	return c, r, nil
}

// ParseInt decodes a two's-complement INTEGER of up to 8 octets.
func ParseInt(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, fmt.Errorf("%w: integer of %d octets", ErrMalformed, len(c))
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// ParseUint decodes an unsigned value (Counter32, Gauge32, TimeTicks,
// Counter64) of up to 9 octets, the first of which may be a zero pad.
func ParseUint(c []byte) (uint64, error) {
	if len(c) == 0 || len(c) > 9 || (len(c) == 9 && c[0] != 0) {
		return 0, fmt.Errorf("%w: unsigned of %d octets", ErrMalformed, len(c))
	}
	var v uint64
	for _, x := range c {
		v = v<<8 | uint64(x)
	}
	return v, nil
}

// ParseOID decodes OBJECT IDENTIFIER contents into sub-identifiers.
func ParseOID(c []byte) ([]uint32, error) {
	if len(c) == 0 {
		return nil, fmt.Errorf("%w: empty OID", ErrMalformed)
	}
	out := make([]uint32, 0, len(c)+1)
	var v uint64
	first := true
	for i, x := range c {
		if v == 0 && x == 0x80 {
			return nil, fmt.Errorf("%w: OID sub-identifier with leading 0x80", ErrMalformed)
		}
		v = v<<7 | uint64(x&0x7f)
		if v > math.MaxUint32 && !(first && v < math.MaxUint32+80) {
			return nil, fmt.Errorf("%w: OID sub-identifier too large", ErrMalformed)
		}
		if x&0x80 != 0 {
			if i == len(c)-1 {
				return nil, fmt.Errorf("%w: OID ends inside a sub-identifier", ErrMalformed)
			}
			continue
		}
		if first {
			switch {
			case v < 40:
				out = append(out, 0, uint32(v))
			case v < 80:
				out = append(out, 1, uint32(v-40))
			default:
				out = append(out, 2, uint32(v-80))
			}
			first = false
		} else {
			out = append(out, uint32(v))
		}
		v = 0
	}
	return out, nil
}

// AppendLength appends a definite length.
func AppendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n < 0x100:
		return append(dst, 0x81, byte(n))
	case n < 0x10000:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendTLV appends tag, length and contents.
func AppendTLV(dst []byte, tag byte, content []byte) []byte {
	dst = append(dst, tag)
	dst = AppendLength(dst, len(content))
	return append(dst, content...)
}

// IntContent returns the minimal two's-complement contents of v.
func IntContent(v int64) []byte {
	var b [8]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (56 - 8*i))
	}
	i := 0
	for i < 7 && ((b[i] == 0 && b[i+1]&0x80 == 0) || (b[i] == 0xff && b[i+1]&0x80 != 0)) {
		i++
	}
	return b[i:]
}

// UintContent returns the minimal unsigned contents of v (with a leading
// zero octet when the top bit would otherwise be set).
func UintContent(v uint64) []byte {
	var b [9]byte
	for i := 1; i < 9; i++ {
		b[i] = byte(v >> (64 - 8*i))
	}
	i := 0
	for i < 8 && b[i] == 0 && b[i+1]&0x80 == 0 {
		i++
	}
	return b[i:]
}

// OIDContent encodes sub-identifiers as OBJECT IDENTIFIER contents. An
// OID needs at least two sub-identifiers, the first 0..2.
func OIDContent(oid []uint32) ([]byte, error) {
	if len(oid) < 2 || oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) {
		return nil, fmt.Errorf("%w: cannot encode OID %v", ErrMalformed, oid)
	}
	out := appendBase128(nil, uint64(oid[0])*40+uint64(oid[1]))
	for _, s := range oid[2:] {
		out = appendBase128(out, uint64(s))
	}
	return out, nil
}

func appendBase128(dst []byte, v uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(dst, tmp[i:]...)
}
