package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// The done log records which sequences left the spool (acknowledged,
// evicted, or found corrupt on read). It uses the segment framing; each
// payload starts with a kind byte:
//
//	kind 1: ranges, n × (first sequence uint64, count uint32)
//	kind 2: high water, the highest sequence the spool has seen (uint64)
//
// It is appended to on Ack and eviction, fsynced with the same batching as
// segments, and rewritten (temporary file, fsync, rename, directory fsync)
// when it outgrows what the live segments need.
const (
	doneFileName  = "done.log"
	doneKindRange = 1
	doneKindHigh  = 2
	doneRangeLen  = 12
	// maxDonePayload bounds one done-log frame.
	maxDonePayload = 1 + doneRangeLen*(1<<16)
	// doneCompactMin is the size below which the done log is never
	// rewritten.
	doneCompactMin = 1 << 20
)

// seqRange is the half-open range [first, end).
type seqRange struct {
	first, end uint64
}

// doneLog is the open done log.
type doneLog struct {
	path  string
	f     *os.File
	size  int64
	dirty bool
	// lost is set when a write failed and was cut off cleanly: some
	// retirements are only in memory until the log is rewritten.
	lost bool
	// broken is set when a failed write could not be cut off.
	broken bool
	// base is the size right after the last rewrite; the log is rewritten
	// again once it is both over doneCompactMin and twice base.
	base int64
	buf  []byte
}

// doneState is what the done log says on open.
type doneState struct {
	ranges  []seqRange // sorted, merged
	high    uint64
	damages []damage
	size    int64
}

// has reports whether seq is inside one of the ranges.
func (d *doneState) has(seq uint64) bool {
	i := sort.Search(len(d.ranges), func(i int) bool { return d.ranges[i].end > seq })
	return i < len(d.ranges) && d.ranges[i].first <= seq
}

func checkDonePayload(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch p[0] {
	case doneKindRange:
		return len(p) > 1 && (len(p)-1)%doneRangeLen == 0
	case doneKindHigh:
		return len(p) == 9
	}
	return false
}

// parseDoneLog decodes the done log held in buf.
func parseDoneLog(buf []byte) doneState {
	var st doneState
	st.size = int64(len(buf))
	var rs []seqRange
	st.damages = scanFrames(buf, maxDonePayload, checkDonePayload, func(_ int, p []byte) {
		if p[0] == doneKindHigh {
			st.high = max(st.high, binary.LittleEndian.Uint64(p[1:]))
			return
		}
		for b := p[1:]; len(b) >= doneRangeLen; b = b[doneRangeLen:] {
			first := binary.LittleEndian.Uint64(b)
			count := uint64(binary.LittleEndian.Uint32(b[8:]))
			if count == 0 {
				continue
			}
			end := first + count
			if end < first { // overflow: clamp
				end = math.MaxUint64
			}
			rs = append(rs, seqRange{first, end})
			st.high = max(st.high, end-1)
		}
	})
	sort.Slice(rs, func(i, j int) bool { return rs[i].first < rs[j].first })
	for _, r := range rs {
		if n := len(st.ranges); n > 0 && r.first <= st.ranges[n-1].end {
			st.ranges[n-1].end = max(st.ranges[n-1].end, r.end)
			continue
		}
		st.ranges = append(st.ranges, r)
	}
	return st
}

// readDoneLog reads and decodes the done log in dir; a missing file is an
// empty log.
func readDoneLog(dir string) (doneState, error) {
	buf, err := os.ReadFile(filepath.Join(dir, doneFileName))
	if os.IsNotExist(err) {
		return doneState{}, nil
	}
	if err != nil {
		return doneState{}, fmt.Errorf("read done log: %w", err)
	}
	return parseDoneLog(buf), nil
}

// appendRangeFrames appends kind-1 frames for the sorted seqs to dst.
func appendRangeFrames(dst, scratch []byte, seqs []uint64) ([]byte, []byte) {
	p := append(scratch[:0], doneKindRange)
	flush := func() {
		if len(p) > 1 {
			dst = appendFrame(dst, p)
		}
		p = append(p[:0], doneKindRange)
	}
	for i := 0; i < len(seqs); {
		j := i + 1
		for j < len(seqs) && seqs[j] == seqs[j-1]+1 && j-i < math.MaxUint32 {
			j++
		}
		if len(p)+doneRangeLen > maxDonePayload {
			flush()
		}
		p = binary.LittleEndian.AppendUint64(p, seqs[i])
		p = binary.LittleEndian.AppendUint32(p, uint32(j-i))
		i = j
	}
	flush()
	return dst, p
}

// appendHighFrame appends a kind-2 frame for high to dst.
func appendHighFrame(dst []byte, high uint64) []byte {
	var p [9]byte
	p[0] = doneKindHigh
	binary.LittleEndian.PutUint64(p[1:], high)
	return appendFrame(dst, p[:])
}

// openDoneLog opens the done log for appending at size.
func openDoneLog(dir string, size int64) (*doneLog, error) {
	path := filepath.Join(dir, doneFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open done log: %w", err)
	}
	return &doneLog{path: path, f: f, size: size, base: size}, nil
}

// markDone appends the sorted seqs as done. The caller fsyncs later. On a
// failed write the partial frame is cut off and lost is set (broken if
// that fails too).
func (d *doneLog) markDone(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	var frames []byte
	frames, d.buf = appendRangeFrames(nil, d.buf, seqs)
	if _, err := d.f.WriteAt(frames, d.size); err != nil {
		werr := fmt.Errorf("write %s: %w", d.path, err)
		if terr := d.f.Truncate(d.size); terr != nil {
			d.broken = true
			return errors.Join(werr, terr)
		}
		d.lost = true
		return werr
	}
	d.size += int64(len(frames))
	d.dirty = true
	return nil
}

// sync fsyncs the done log if it changed.
func (d *doneLog) sync() error {
	if !d.dirty {
		return nil
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", d.path, err)
	}
	d.dirty = false
	return nil
}

// wantsRewrite reports whether the log has grown enough to be rewritten.
func (d *doneLog) wantsRewrite() bool {
	return d.size > doneCompactMin && d.size > 2*d.base
}

// rewrite replaces the log with one holding only high and the given sorted
// done seqs: temporary file, fsync, rename, directory fsync.
func (d *doneLog) rewrite(high uint64, seqs []uint64) error {
	tmp := d.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("rewrite done log: %w", err)
	}
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("rewrite done log: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	var frames []byte
	frames = appendHighFrame(frames, high)
	frames, d.buf = appendRangeFrames(frames, d.buf, seqs)
	if _, err := w.Write(frames); err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, d.path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(d.path)); err != nil {
		_ = f.Close()
		return fmt.Errorf("rewrite done log: %w", err)
	}
	_ = d.f.Close()
	d.f = f
	d.size = int64(len(frames))
	d.base = d.size
	d.dirty = false
	d.lost = false
	return nil
}

func (d *doneLog) close() error {
	return d.f.Close()
}

// syncDir fsyncs a directory so renames, creations and removals in it are
// durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
