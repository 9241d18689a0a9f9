package spool

import (
	"encoding/binary"
	"hash/crc32"
)

// On-disk framing shared by segment files and the done log:
//
//	offset size
//	0      4    payload length n (little endian)
//	4      4    CRC32C (Castagnoli) over bytes [0,4) and the payload
//	8      n    payload
//
// A segment record's payload is
//
//	0      8    sequence (little endian)
//	8      1    class
//	9      4    key length k
//	13     4    value length v
//	17     k    key
//	17+k   v    value
//
// with n == 17+k+v.
const (
	frameHeaderLen  = 8
	recordHeaderLen = 17
	recordOverhead  = frameHeaderLen + recordHeaderLen

	// MaxRecordBytes bounds the key plus value of one record. Larger records
	// are refused by Append, and frames claiming more are garbage on open.
	MaxRecordBytes = 32 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameCRC is the checksum of a frame: its length field and its payload.
func frameCRC(lenField, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, lenField), castagnoli, payload)
}

// recordFrameSize is the framed size of a record with the given key and
// value lengths.
func recordFrameSize(keyLen, valueLen int) int64 {
	return int64(recordOverhead) + int64(keyLen) + int64(valueLen)
}

// appendRecordFrame appends the frame of r to dst.
func appendRecordFrame(dst []byte, r Record) []byte {
	n := recordHeaderLen + len(r.Key) + len(r.Value)
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, 0, 0, 0, 0) // CRC, filled below
	dst = binary.LittleEndian.AppendUint64(dst, r.Seq)
	dst = append(dst, byte(r.Class))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Key)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Value)))
	dst = append(dst, r.Key...)
	dst = append(dst, r.Value...)
	f := dst[start:]
	binary.LittleEndian.PutUint32(f[4:8], frameCRC(f[0:4], f[frameHeaderLen:]))
	return dst
}

// appendFrame appends a frame carrying payload to dst.
func appendFrame(dst, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, payload...)
	f := dst[start:]
	binary.LittleEndian.PutUint32(f[4:8], frameCRC(f[0:4], f[frameHeaderLen:]))
	return dst
}

// checkRecordPayload reports whether p is structurally a record payload:
// long enough, a known class, and lengths that add up.
func checkRecordPayload(p []byte) bool {
	if len(p) < recordHeaderLen {
		return false
	}
	if !Class(p[8]).valid() {
		return false
	}
	k := uint64(binary.LittleEndian.Uint32(p[9:13]))
	v := uint64(binary.LittleEndian.Uint32(p[13:17]))
	return recordHeaderLen+k+v == uint64(len(p))
}

// payloadSeq is the sequence of a record payload that passed
// checkRecordPayload.
func payloadSeq(p []byte) uint64 { return binary.LittleEndian.Uint64(p[0:8]) }

// decodeRecordPayload splits a payload that passed checkRecordPayload. Key
// and Value alias p.
func decodeRecordPayload(p []byte) Record {
	k := binary.LittleEndian.Uint32(p[9:13])
	return Record{
		Seq:   binary.LittleEndian.Uint64(p[0:8]),
		Class: Class(p[8]),
		Key:   p[recordHeaderLen : recordHeaderLen+k : recordHeaderLen+k],
		Value: p[recordHeaderLen+k:],
	}
}

// damage is a run of unreadable bytes in a file.
type damage struct {
	off, n int64
}

// frameAt returns the length of the valid frame starting at off, or false.
// valid sees the payload before the checksum is computed, so cheap structural
// checks keep scanning garbage fast.
func frameAt(buf []byte, off int, maxPayload uint32, valid func([]byte) bool) (int, bool) {
	if len(buf)-off < frameHeaderLen {
		return 0, false
	}
	n := binary.LittleEndian.Uint32(buf[off:])
	if n > maxPayload || uint64(n) > uint64(len(buf)-off-frameHeaderLen) {
		return 0, false
	}
	end := off + frameHeaderLen + int(n)
	p := buf[off+frameHeaderLen : end]
	if !valid(p) {
		return 0, false
	}
	if frameCRC(buf[off:off+4], p) != binary.LittleEndian.Uint32(buf[off+4:]) {
		return 0, false
	}
	return frameHeaderLen + int(n), true
}

// scanFrames walks buf and calls accept for every valid frame, in file
// order, with its offset and payload. Bytes that do not form a valid frame
// are reported as damaged regions: after a bad frame the scanner first tries
// the position its length field claims, then searches byte by byte for the
// next valid frame. It never panics, whatever buf holds.
func scanFrames(buf []byte, maxPayload uint32, valid func([]byte) bool, accept func(off int, payload []byte)) []damage {
	var dmg []damage
	bad := -1
	off := 0
	for off < len(buf) {
		if n, ok := frameAt(buf, off, maxPayload, valid); ok {
			if bad >= 0 {
				dmg = append(dmg, damage{off: int64(bad), n: int64(off - bad)})
				bad = -1
			}
			accept(off, buf[off+frameHeaderLen:off+n])
			off += n
			continue
		}
		if bad < 0 {
			bad = off
			// The payload may be damaged but the length intact: try the
			// frame right after it before searching.
			if len(buf)-off >= frameHeaderLen {
				claimed := uint64(binary.LittleEndian.Uint32(buf[off:]))
				next := uint64(off) + frameHeaderLen + claimed
				if claimed <= uint64(maxPayload) && next < uint64(len(buf)) {
					if _, ok := frameAt(buf, int(next), maxPayload, valid); ok {
						off = int(next)
						continue
					}
				}
			}
		}
		off++
	}
	if bad >= 0 {
		dmg = append(dmg, damage{off: int64(bad), n: int64(len(buf) - bad)})
	}
	return dmg
}
