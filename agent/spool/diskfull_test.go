//go:build linux

package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestDiskFull runs the spool on a real 64 KiB tmpfs and fills it: a failed
// append is cut off cleanly (no corrupt record on reopen), a failed ack
// write does not make the spool unusable, and once space is freed the done
// log is rewritten from memory and appends continue.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestDiskFull mounts a tmpfs and must run as root (the test environment `make setup` prepares)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	spoolDir := filepath.Join(dir, "spool")
	opts := Options{SyncInterval: time.Hour, SegmentBytes: 8 << 10}
	s := open(t, spoolDir, opts)

	// 3000-byte frames: five fill 15000 bytes, leaving 1384 bytes of the
	// fourth page, so the sixth is a short write.
	big := func(seq uint64) Record {
		return Record{Seq: seq, Class: ClassInventory, Key: []byte("k"), Value: bytes.Repeat([]byte{byte(seq)}, 3000-recordOverhead-1)}
	}
	var all []Record
	for seq := uint64(1); seq <= 5; seq++ {
		all = append(all, big(seq))
	}
	appendAll(t, s, all...)
	fill(t, filepath.Join(dir, "filler"))

	err := s.Append(big(6))
	if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrFailed) {
		t.Fatalf("Append on a full disk = %v, want ENOSPC and not ErrFailed", err)
	}
	if got := s.LastSeq(); got != 5 {
		t.Fatalf("LastSeq after failed append = %d, want 5", got)
	}
	checkRecords(t, ready(t, s), all)
	// The done log has no page yet: the ack cannot be written.
	if err := s.Ack(1, 2); !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrFailed) {
		t.Fatalf("Ack on a full disk = %v, want ENOSPC and not ErrFailed", err)
	}
	if st := s.Stats(); st.Records != 3 {
		t.Fatalf("Stats after ack = %+v, want 3 records", st)
	}

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil { // rewrites the done log
		t.Fatalf("Sync after freeing space: %v", err)
	}
	appendAll(t, s, big(6))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, spoolDir, opts)
	if st := s.Stats(); st.Corrupt != 0 || st.Records != 4 {
		t.Fatalf("Stats after reopen = %+v, want Corrupt 0, 4 records", st)
	}
	checkRecords(t, ready(t, s), append(all[2:], big(6)))
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for {
		if _, err := f.Write(page); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}
