package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open opens a spool in dir and closes it when the test ends.
func open(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rec is a deterministic record for seq: the key and value are derived from
// seq so a returned record can be checked byte for byte.
func rec(seq uint64, c Class) Record {
	return Record{
		Seq:   seq,
		Class: c,
		Key:   fmt.Appendf(nil, "site-a/bmc-%d", seq%7),
		Value: fmt.Appendf(nil, "observation %d %s", seq, bytes.Repeat([]byte{byte(seq)}, int(seq%13))),
	}
}

// fixed is a record whose frame is exactly fixedFrame bytes.
func fixed(seq uint64, c Class) Record {
	v := make([]byte, 100)
	for i := range v {
		v[i] = byte(seq) + byte(i)
	}
	return Record{Seq: seq, Class: c, Key: []byte("k"), Value: v}
}

const fixedFrame = recordOverhead + 1 + 100

func appendAll(t testing.TB, s *Spool, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if err := s.Append(r); err != nil {
			t.Fatalf("Append(seq %d): %v", r.Seq, err)
		}
	}
}

// ready returns every record Next has ready now, without waiting: Next with
// a cancelled context still returns what is ready and only reports the
// cancellation when there is nothing.
func ready(t testing.TB, s *Spool) []Record {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []Record
	for {
		recs, err := s.Next(ctx, 7)
		if errors.Is(err, context.Canceled) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, recs...)
	}
}

func seqsOf(recs []Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func equalRecord(a, b Record) bool {
	return a.Seq == b.Seq && a.Class == b.Class && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value)
}

// checkRecords fails unless got holds exactly want, in order, byte for byte.
func checkRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records %v, want %d %v", len(got), seqsOf(got), len(want), seqsOf(want))
	}
	for i := range want {
		if !equalRecord(got[i], want[i]) {
			t.Fatalf("record %d: got seq %d class %v key %q value %q, want seq %d class %v key %q value %q",
				i, got[i].Seq, got[i].Class, got[i].Key, got[i].Value, want[i].Seq, want[i].Class, want[i].Key, want[i].Value)
		}
	}
}

// segmentFiles lists the segment file names in dir, sorted.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if _, ok := parseSegmentName(de.Name()); ok {
			out = append(out, de.Name())
		}
	}
	sort.Strings(out)
	return out
}

// copyDir copies the regular files of src to a new directory, the done log
// first (see TestCrashCopy), without coordinating with a running spool.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case a == doneFileName:
			return -1
		case b == doneFileName:
			return 1
		}
		return 0
	})
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(src, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted meanwhile: its records were all acknowledged
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// onlySegment returns the path of the single segment file in dir.
func onlySegment(t testing.TB, dir string) string {
	t.Helper()
	segs := segmentFiles(t, dir)
	if len(segs) != 1 {
		t.Fatalf("want 1 segment file in %s, have %v", dir, segs)
	}
	return filepath.Join(dir, segs[0])
}
