package spool

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Segment files are named after the sequence of the first record written to
// them, zero-padded so that name order is sequence order.
const (
	segmentSuffix = ".seg"
	tmpSuffix     = ".tmp"
)

// Record states in memory.
const (
	statePending  uint8 = iota // waiting to be delivered (again)
	stateInFlight              // returned by Next, not yet acked or nacked
	stateDone                  // acked, evicted or unreadable; never returned again
)

// entry is the in-memory index of one record; the bytes stay on disk.
type entry struct {
	seq   uint64
	off   int64
	size  uint32 // framed size
	class Class
	state uint8
}

// segment is one open segment file.
type segment struct {
	path string
	f    *os.File
	size int64 // bytes in the file
	// entries are the readable records in the file, in sequence order;
	// never empty while the segment is in Spool.segs.
	entries   []entry
	live      int   // entries not done
	liveBytes int64 // their framed size
}

func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
}

// parseSegmentName returns the first sequence encoded in a segment file
// name.
func parseSegmentName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(base) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(base, 10, 64)
	return n, err == nil
}

// listSegments returns the segment file names in dir in sequence order and
// removes leftover temporary files from interrupted rewrites.
func listSegments(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type named struct {
		name  string
		first uint64
	}
	var segs []named
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		if first, ok := parseSegmentName(name); ok && de.Type().IsRegular() {
			segs = append(segs, named{name, first})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	names := make([]string, len(segs))
	for i, s := range segs {
		names[i] = s.name
	}
	return names, nil
}

// deadBytes is the space taken by records that left the spool.
func (g *segment) deadBytes() int64 { return g.size - g.liveBytes }

// readAll reads the whole segment file.
func (g *segment) readAll() ([]byte, error) {
	buf := make([]byte, g.size)
	if _, err := g.f.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", g.path, err)
	}
	return buf, nil
}

// rewrite replaces the segment file with one holding only its live records,
// copied from data (the current file contents, or nil to read them):
// temporary file, fsync, rename, directory fsync. The caller must not call it
// for a segment without live records; delete those instead.
func (g *segment) rewrite(data []byte) error {
	if data == nil {
		var err error
		if data, err = g.readAll(); err != nil {
			return err
		}
	}
	tmp := g.path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", g.path, err)
	}
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("rewrite %s: %w", g.path, err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	kept := make([]entry, 0, g.live)
	var off int64
	for _, e := range g.entries {
		if e.state == stateDone {
			continue
		}
		if _, err := w.Write(data[e.off : e.off+int64(e.size)]); err != nil {
			return fail(err)
		}
		e.off = off
		off += int64(e.size)
		kept = append(kept, e)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, g.path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(g.path)); err != nil {
		_ = f.Close()
		return fmt.Errorf("rewrite %s: %w", g.path, err)
	}
	if g.f != nil {
		_ = g.f.Close()
	}
	g.f = f
	g.entries = kept
	g.size = off
	return nil
}

// remove closes and deletes the segment file.
func (g *segment) remove() error {
	_ = g.f.Close()
	if err := os.Remove(g.path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove %s: %w", g.path, err)
	}
	return nil
}
