package spool

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzOpen writes arbitrary bytes as a segment file and as the done log.
// Open must not panic or fail, must return only records that are CRC-valid
// frames of the input in increasing sequence order, must accept appends,
// and after its repair a second Open must find nothing corrupt and return
// the same records.
func FuzzOpen(f *testing.F) {
	var seg []byte
	for seq := uint64(1); seq <= 4; seq++ {
		seg = appendRecordFrame(seg, rec(seq, Class(1+seq%3)))
	}
	var done []byte
	done, _ = appendRangeFrames(done, nil, []uint64{2})
	done = appendHighFrame(done, 9)
	f.Add(seg, done)
	f.Add(seg[:len(seg)-3], []byte{})
	flipped := bytes.Clone(seg)
	flipped[40] ^= 0x10
	f.Add(flipped, done[:len(done)-1])
	f.Add(append(bytes.Clone(seg), seg...), []byte{}) // repeated sequences
	f.Add([]byte{}, done)
	f.Add(bytes.Repeat([]byte{0xff}, 64), bytes.Repeat([]byte{0x01}, 30))

	f.Fuzz(func(t *testing.T, seg, done []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, doneFileName), done, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := Options{SyncInterval: time.Hour}
		s, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		got := ready(t, s)
		var prev uint64
		for _, r := range got {
			if r.Seq <= prev {
				t.Fatalf("seq %d after %d", r.Seq, prev)
			}
			prev = r.Seq
			if !r.Class.valid() {
				t.Fatalf("seq %d: invalid class %d", r.Seq, r.Class)
			}
			if !bytes.Contains(seg, appendRecordFrame(nil, r)) {
				t.Fatalf("seq %d: returned record is not a frame of the input", r.Seq)
			}
		}
		if st := s.Stats(); st.Records != int64(len(got)) {
			t.Fatalf("Stats.Records %d, returned %d", st.Records, len(got))
		}
		last := s.LastSeq()
		if last < prev {
			t.Fatalf("LastSeq %d below returned seq %d", last, prev)
		}
		want := got
		if last < math.MaxUint64 {
			r := Record{Seq: last + 1, Class: ClassInventory, Key: []byte("k"), Value: []byte("after")}
			if err := s.Append(r); err != nil {
				t.Fatalf("Append after open: %v", err)
			}
			want = append(want, r)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s, err = Open(dir, opts)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer s.Close()
		if st := s.Stats(); st.Corrupt != 0 {
			t.Fatalf("second Open found %d corrupt regions after repair", st.Corrupt)
		}
		checkRecords(t, ready(t, s), want)
	})
}
