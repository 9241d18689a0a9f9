package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestAppendNextExact(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB
	tests := []struct {
		name string
		recs []Record
	}{
		{"one", []Record{{Seq: 1, Class: ClassInventory, Key: []byte("s/t"), Value: []byte("v")}}},
		{"empty key and value", []Record{{Seq: 7, Class: ClassTelemetry}}},
		{"binary", []Record{{Seq: 3, Class: ClassStatus, Key: []byte{0, 0xff, 0}, Value: []byte{0xff, 0, 0xfe, 0x0a, 0x0d}}}},
		{"large value", []Record{{Seq: 10, Class: ClassInventory, Key: []byte("site/big"), Value: big}}},
		{"sequence gaps and mixed classes", []Record{
			rec(1, ClassInventory), rec(2, ClassTelemetry), rec(5, ClassStatus), rec(6, ClassTelemetry), rec(100, ClassInventory),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir(), Options{SyncInterval: time.Hour})
			appendAll(t, s, tt.recs...)
			var want int64
			for _, r := range tt.recs {
				want += recordFrameSize(len(r.Key), len(r.Value))
			}
			st := s.Stats()
			if st.Records != int64(len(tt.recs)) || st.Bytes != want || st.Segments != 1 || st.DiskBytes != want {
				t.Fatalf("Stats = %+v, want Records %d Bytes %d DiskBytes %d Segments 1", st, len(tt.recs), want, want)
			}
			got, err := s.Next(t.Context(), 100)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, got, tt.recs)
			// In flight: not returned again.
			if more := ready(t, s); len(more) != 0 {
				t.Fatalf("records in flight returned again: %v", seqsOf(more))
			}
			if got, want := s.LastSeq(), tt.recs[len(tt.recs)-1].Seq; got != want {
				t.Fatalf("LastSeq = %d, want %d", got, want)
			}
		})
	}
}

func TestNextBatchesAndBlocks(t *testing.T) {
	s := open(t, t.TempDir(), Options{SyncInterval: time.Hour})
	var all []Record
	for seq := uint64(1); seq <= 10; seq++ {
		all = append(all, rec(seq, ClassTelemetry))
	}
	appendAll(t, s, all...)
	got, err := s.Next(t.Context(), 4)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, all[:4])
	checkRecords(t, ready(t, s), all[4:])

	// Nothing ready: Next waits until an append.
	type result struct {
		recs []Record
		err  error
	}
	done := make(chan result, 1)
	go func() {
		recs, err := s.Next(t.Context(), 10)
		done <- result{recs, err}
	}()
	waitWaiters(t, s, 1, done)
	appendAll(t, s, rec(11, ClassInventory))
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkRecords(t, r.recs, []Record{rec(11, ClassInventory)})

	// A cancelled wait returns the context's error.
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		recs, err := s.Next(ctx, 10)
		done <- result{recs, err}
	}()
	waitWaiters(t, s, 1, done)
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) || r.recs != nil {
		t.Fatalf("Next after cancel = %v, %v; want context.Canceled", seqsOf(r.recs), r.err)
	}

	// Close wakes a waiting Next with ErrClosed.
	go func() {
		recs, err := s.Next(t.Context(), 10)
		done <- result{recs, err}
	}()
	waitWaiters(t, s, 1, done)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; !errors.Is(r.err, ErrClosed) {
		t.Fatalf("Next after Close = %v; want ErrClosed", r.err)
	}
	if _, err := s.Next(t.Context(), 0); err == nil {
		t.Fatal("Next(max 0) succeeded")
	}
}

// waitWaiters polls until n goroutines wait in Next; a result on done
// first means Next returned instead of waiting.
func waitWaiters[R any](t *testing.T, s *Spool, n int, done <-chan R) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		w := s.waiters
		s.mu.Unlock()
		if w == n {
			return
		}
		select {
		case r := <-done:
			t.Fatalf("Next returned %+v instead of waiting", r)
		case <-tick.C:
		}
	}
}

func TestRestartReplaysUnackedInOrder(t *testing.T) {
	dir := t.TempDir()
	// Small segments so the records span several files.
	opts := Options{SegmentBytes: 256, SyncInterval: 10 * time.Millisecond}
	s := open(t, dir, opts)
	var all []Record
	for seq := uint64(1); seq <= 30; seq++ {
		all = append(all, rec(seq, Class(1+seq%3)))
	}
	appendAll(t, s, all...)
	if n := len(segmentFiles(t, dir)); n < 3 {
		t.Fatalf("want records over several segments, have %d", n)
	}
	got, err := s.Next(t.Context(), 20) // 1..20 in flight
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, all[:20])
	acked := []uint64{1, 2, 3, 7, 8, 15, 20}
	if err := s.Ack(acked...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	want := func(gone []uint64) []Record {
		var out []Record
		for _, r := range all {
			if !slices.Contains(gone, r.Seq) {
				out = append(out, r)
			}
		}
		return out
	}

	// In flight and never delivered records come back, acked ones do not.
	s = open(t, dir, opts)
	if got := s.LastSeq(); got != 30 {
		t.Fatalf("LastSeq after restart = %d, want 30", got)
	}
	if st := s.Stats(); st.Records != 23 || st.Corrupt != 0 {
		t.Fatalf("Stats after restart = %+v, want 23 records, 0 corrupt", st)
	}
	checkRecords(t, ready(t, s), want(acked))
	acked = append(acked, 4, 5, 6, 9, 30)
	if err := s.Ack(4, 5, 6, 9, 30); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// And again: acknowledgements from both runs hold.
	s = open(t, dir, opts)
	checkRecords(t, ready(t, s), want(acked))
	if err := s.Append(rec(30, ClassInventory)); !errors.Is(err, ErrSeqNotIncreasing) {
		t.Fatalf("Append(seq 30) after restart = %v, want ErrSeqNotIncreasing", err)
	}
	appendAll(t, s, rec(31, ClassInventory))
	checkRecords(t, ready(t, s), []Record{rec(31, ClassInventory)})
}

func TestNackRequeueOrder(t *testing.T) {
	s := open(t, t.TempDir(), Options{SyncInterval: time.Hour})
	var all []Record
	for seq := uint64(1); seq <= 12; seq++ {
		all = append(all, rec(seq, ClassTelemetry))
	}
	appendAll(t, s, all...)
	r := func(seqs ...uint64) []Record {
		var out []Record
		for _, q := range seqs {
			out = append(out, all[q-1])
		}
		return out
	}
	next := func(max int) []Record {
		t.Helper()
		recs, err := s.Next(t.Context(), max)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	checkRecords(t, next(3), r(1, 2, 3))
	checkRecords(t, next(3), r(4, 5, 6))
	// Handed back out of order: returned first, in sequence order.
	if err := s.Nack(5, 2); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, next(3), r(2, 5, 7))
	if err := s.Ack(1, 3, 4, 6); err != nil {
		t.Fatal(err)
	}
	// Nack of records not in flight (acked, pending, unknown) is ignored.
	if err := s.Nack(1, 9, 99); err != nil {
		t.Fatal(err)
	}
	if err := s.Nack(7, 2); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, next(1), r(2))
	checkRecords(t, next(10), r(7, 8, 9, 10, 11, 12))
	// A handed-back record acked before it is delivered again is gone.
	if err := s.Nack(8, 9); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(8); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, ready(t, s), r(9))
}

func TestEvictionOrderByClass(t *testing.T) {
	const (
		I = ClassInventory
		T = ClassTelemetry
		S = ClassStatus
	)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	opts := Options{MaxBytes: 10 * fixedFrame, SegmentBytes: 4 * fixedFrame, SyncInterval: time.Hour, Registerer: reg}
	s := open(t, dir, opts)
	classes := []Class{I, T, S, T, I, S, T, I, T, S} // seqs 1..10: full
	byseq := map[uint64]Record{}
	add := func(seq uint64, c Class) {
		t.Helper()
		r := fixed(seq, c)
		byseq[seq] = r
		appendAll(t, s, r)
	}
	for i, c := range classes {
		add(uint64(i+1), c)
	}
	if st := s.Stats(); st.Bytes != 10*fixedFrame || st.Evicted[T] != 0 {
		t.Fatalf("full spool Stats = %+v", st)
	}
	steps := []struct {
		seq     uint64
		class   Class
		evicted map[Class]uint64
		left    []uint64
	}{
		// Inventory pushes out telemetry, oldest first.
		{11, I, map[Class]uint64{T: 1}, []uint64{1, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{12, I, map[Class]uint64{T: 2}, []uint64{1, 3, 5, 6, 7, 8, 9, 10, 11, 12}},
		{13, I, map[Class]uint64{T: 3}, []uint64{1, 3, 5, 6, 8, 9, 10, 11, 12, 13}},
		{14, I, map[Class]uint64{T: 4}, []uint64{1, 3, 5, 6, 8, 10, 11, 12, 13, 14}},
		// No telemetry left: status goes next.
		{15, I, map[Class]uint64{T: 4, S: 1}, []uint64{1, 5, 6, 8, 10, 11, 12, 13, 14, 15}},
		// New telemetry with only status and inventory held: it is the one
		// dropped.
		{16, T, map[Class]uint64{T: 5, S: 1}, []uint64{1, 5, 6, 8, 10, 11, 12, 13, 14, 15}},
		// New status evicts the oldest status.
		{17, S, map[Class]uint64{T: 5, S: 2}, []uint64{1, 5, 8, 10, 11, 12, 13, 14, 15, 17}},
		{18, I, map[Class]uint64{T: 5, S: 3}, []uint64{1, 5, 8, 11, 12, 13, 14, 15, 17, 18}},
		{19, I, map[Class]uint64{T: 5, S: 4}, []uint64{1, 5, 8, 11, 12, 13, 14, 15, 18, 19}},
		// Only inventory: the oldest inventory goes.
		{20, I, map[Class]uint64{T: 5, S: 4, I: 1}, []uint64{5, 8, 11, 12, 13, 14, 15, 18, 19, 20}},
	}
	for _, st := range steps {
		add(st.seq, st.class)
		got := s.Stats()
		for _, c := range evictionOrder {
			if got.Evicted[c] != st.evicted[c] {
				t.Fatalf("after seq %d: Evicted = %v, want %v", st.seq, got.Evicted, st.evicted)
			}
		}
		if got.Records != 10 || got.Bytes != 10*fixedFrame {
			t.Fatalf("after seq %d: Records %d Bytes %d, want 10 and %d", st.seq, got.Records, got.Bytes, 10*fixedFrame)
		}
		if got.DiskBytes > 2*opts.MaxBytes+opts.SegmentBytes {
			t.Fatalf("after seq %d: DiskBytes %d above bound", st.seq, got.DiskBytes)
		}
	}
	left := steps[len(steps)-1].left
	var want []Record
	for _, q := range left {
		want = append(want, byseq[q])
	}
	checkRecords(t, ready(t, s), want)
	if got := s.LastSeq(); got != 20 {
		t.Fatalf("LastSeq = %d, want 20", got)
	}
	for _, c := range []struct {
		class string
		want  float64
	}{{"telemetry", 5}, {"status", 4}, {"inventory", 1}} {
		if got := metricValue(t, reg, "racktrack_agent_spool_evictions_total", "class", c.class); got != c.want {
			t.Fatalf("evictions_total{class=%q} = %v, want %v", c.class, got, c.want)
		}
	}
	if got := metricValue(t, reg, "racktrack_agent_spool_records"); got != 10 {
		t.Fatalf("spool_records = %v, want 10", got)
	}
	if got := metricValue(t, reg, "racktrack_agent_spool_bytes"); got != 10*fixedFrame {
		t.Fatalf("spool_bytes = %v, want %d", got, 10*fixedFrame)
	}
	if got := histogramCount(t, reg, "racktrack_agent_spool_append_seconds"); got != 20 {
		t.Fatalf("append_seconds count = %v, want 20", got)
	}

	// Evictions are durable: a crash right after a sync (copy of the
	// directory without Close) and a clean restart both keep them.
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	crashed := copyDir(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{crashed, dir} {
		s := open(t, d, Options{MaxBytes: opts.MaxBytes, SegmentBytes: opts.SegmentBytes, SyncInterval: time.Hour})
		if st := s.Stats(); st.Records != 10 || st.Corrupt != 0 {
			t.Fatalf("%s: Stats after restart = %+v", d, st)
		}
		checkRecords(t, ready(t, s), want)
		if got := s.LastSeq(); got != 20 {
			t.Fatalf("%s: LastSeq = %d, want 20", d, got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEvictionSkipsInFlight(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 4 * fixedFrame, SyncInterval: time.Hour})
	appendAll(t, s, fixed(1, ClassTelemetry), fixed(2, ClassTelemetry), fixed(3, ClassInventory), fixed(4, ClassTelemetry))
	got, err := s.Next(t.Context(), 2) // 1 and 2 in flight
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []Record{fixed(1, ClassTelemetry), fixed(2, ClassTelemetry)})
	// Telemetry 4 is the only telemetry not in flight.
	appendAll(t, s, fixed(5, ClassInventory))
	if st := s.Stats(); st.Evicted[ClassTelemetry] != 1 || st.Records != 4 {
		t.Fatalf("Stats = %+v, want 1 telemetry evicted, 4 records", st)
	}
	// Now the new inventory record can only replace older inventory.
	appendAll(t, s, fixed(6, ClassInventory))
	if st := s.Stats(); st.Evicted[ClassInventory] != 1 || st.Evicted[ClassTelemetry] != 1 {
		t.Fatalf("Stats = %+v, want 1 inventory and 1 telemetry evicted", st)
	}
	// The publisher fails the batch: both come back first.
	if err := s.Nack(1, 2); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, ready(t, s), []Record{fixed(1, ClassTelemetry), fixed(2, ClassTelemetry), fixed(5, ClassInventory), fixed(6, ClassInventory)})
	// Everything in flight and the spool full: a new record cannot fit
	// and is dropped, counted.
	appendAll(t, s, fixed(7, ClassInventory))
	if st := s.Stats(); st.Evicted[ClassInventory] != 2 || st.Records != 4 {
		t.Fatalf("Stats = %+v, want 2 inventory evicted, 4 records", st)
	}
	if got := s.LastSeq(); got != 7 {
		t.Fatalf("LastSeq = %d, want 7", got)
	}
}

func TestDiskBoundedUnderEviction(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 64 << 10, SegmentBytes: 8 << 10, SyncInterval: time.Hour}
	s := open(t, dir, opts)
	var inventory []Record
	for seq := uint64(1); seq <= 5000; seq++ {
		c := ClassTelemetry
		if seq%10 == 0 {
			c = ClassInventory
		}
		r := fixed(seq, c)
		if c == ClassInventory {
			inventory = append(inventory, r)
		}
		appendAll(t, s, r)
		if st := s.Stats(); st.Bytes > opts.MaxBytes || st.DiskBytes > 2*opts.MaxBytes+opts.SegmentBytes {
			t.Fatalf("after seq %d: Bytes %d DiskBytes %d over bound", seq, st.Bytes, st.DiskBytes)
		}
	}
	st := s.Stats()
	// 500 inventory records (63000 bytes) fit: none evicted.
	if st.Evicted[ClassInventory] != 0 || st.Records != int64(opts.MaxBytes/fixedFrame) {
		t.Fatalf("Stats = %+v", st)
	}
	if want := uint64(5000 - opts.MaxBytes/fixedFrame); st.Evicted[ClassTelemetry] != want {
		t.Fatalf("telemetry evicted %d, want %d", st.Evicted[ClassTelemetry], want)
	}
	got := ready(t, s)
	var gotInv []Record
	for _, r := range got {
		if r.Class == ClassInventory {
			gotInv = append(gotInv, r)
		}
	}
	checkRecords(t, gotInv, inventory)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, opts)
	checkRecords(t, ready(t, s), got)
}

func TestTornTail(t *testing.T) {
	tests := []struct {
		name string
		cut  int64 // bytes cut from the end of the file
	}{
		{"mid value", 5},
		{"mid header", int64(fixed(10, ClassInventory).frameSize()) - 3},
		{"one byte", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SyncInterval: time.Hour}
			s := open(t, dir, opts)
			var all []Record
			for seq := uint64(1); seq <= 10; seq++ {
				all = append(all, fixed(seq, ClassInventory))
			}
			appendAll(t, s, all...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := onlySegment(t, dir)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()-tt.cut); err != nil {
				t.Fatal(err)
			}

			s = open(t, dir, opts)
			if st := s.Stats(); st.Corrupt != 1 || st.Records != 9 {
				t.Fatalf("Stats = %+v, want Corrupt 1, 9 records", st)
			}
			if got := s.LastSeq(); got != 9 {
				t.Fatalf("LastSeq = %d, want 9", got)
			}
			checkRecords(t, ready(t, s), all[:9])
			// Appends continue after the repaired tail.
			appendAll(t, s, fixed(10, ClassInventory), fixed(11, ClassTelemetry))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, opts)
			if st := s.Stats(); st.Corrupt != 0 || st.Records != 11 {
				t.Fatalf("Stats after repair = %+v, want Corrupt 0, 11 records", st)
			}
			checkRecords(t, ready(t, s), append(all, fixed(11, ClassTelemetry)))
		})
	}
}

func (r Record) frameSize() int64 { return recordFrameSize(len(r.Key), len(r.Value)) }

func TestFlippedBits(t *testing.T) {
	// Record 5 of 10 starts at 4 frames into the file.
	const at = 4 * fixedFrame
	tests := []struct {
		name string
		off  []int64 // bytes to flip, from the start of record 5
	}{
		{"value", []int64{frameHeaderLen + recordHeaderLen + 40}},
		{"length", []int64{1}},
		{"crc", []int64{5}},
		{"sequence", []int64{frameHeaderLen}},
		{"class", []int64{frameHeaderLen + 8}},
		{"key length", []int64{frameHeaderLen + 10}},
		{"run of bytes", []int64{frameHeaderLen + 30, frameHeaderLen + 31, frameHeaderLen + 32, frameHeaderLen + 33}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			reg := prometheus.NewRegistry()
			opts := Options{SyncInterval: time.Hour, Registerer: reg}
			s := open(t, dir, opts)
			var all []Record
			for seq := uint64(1); seq <= 10; seq++ {
				all = append(all, fixed(seq, ClassInventory))
			}
			appendAll(t, s, all...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := onlySegment(t, dir)
			flip(t, path, at, tt.off...)

			s = open(t, dir, opts)
			if st := s.Stats(); st.Corrupt != 1 || st.Records != 9 {
				t.Fatalf("Stats = %+v, want Corrupt 1, 9 records", st)
			}
			if got := metricValue(t, reg, "racktrack_agent_spool_corrupt_records_total"); got != 1 {
				t.Fatalf("corrupt_records_total = %v, want 1", got)
			}
			want := slices.Concat(all[:4], all[5:])
			checkRecords(t, ready(t, s), want)
			appendAll(t, s, fixed(11, ClassInventory))
			want = append(want, fixed(11, ClassInventory))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// Repaired: nothing corrupt on the next open.
			s = open(t, dir, opts)
			if st := s.Stats(); st.Corrupt != 0 || st.Records != 10 {
				t.Fatalf("Stats after repair = %+v, want Corrupt 0, 10 records", st)
			}
			checkRecords(t, ready(t, s), want)
		})
	}
}

// flip inverts the bytes at base+off in the file.
func flip(t *testing.T, path string, base int64, offs ...int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offs {
		b[base+o] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptionWhileOpen(t *testing.T) {
	// Bits rot after Open checked the file: Next re-checks each CRC.
	dir := t.TempDir()
	s := open(t, dir, Options{SyncInterval: time.Hour})
	var all []Record
	for seq := uint64(1); seq <= 6; seq++ {
		all = append(all, fixed(seq, ClassTelemetry))
	}
	appendAll(t, s, all...)
	flip(t, onlySegment(t, dir), 2*fixedFrame, 60)
	checkRecords(t, ready(t, s), slices.Concat(all[:2], all[3:]))
	if st := s.Stats(); st.Corrupt != 1 || st.Records != 5 {
		t.Fatalf("Stats = %+v, want Corrupt 1, 5 records", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Retired as done: not counted or returned again.
	s = open(t, dir, Options{SyncInterval: time.Hour})
	if st := s.Stats(); st.Corrupt != 0 || st.Records != 5 {
		t.Fatalf("Stats after reopen = %+v, want Corrupt 0, 5 records", st)
	}
	checkRecords(t, ready(t, s), slices.Concat(all[:2], all[3:]))
}

func TestDoneLogTornTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncInterval: time.Hour}
	s := open(t, dir, opts)
	var all []Record
	for seq := uint64(1); seq <= 8; seq++ {
		all = append(all, rec(seq, ClassInventory))
	}
	appendAll(t, s, all...)
	ready(t, s)
	for seq := uint64(1); seq <= 5; seq++ {
		if err := s.Ack(seq); err != nil { // one frame each
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, doneFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	// The last acknowledgement is lost: record 5 is delivered again
	// (at least once), 1..4 are not.
	s = open(t, dir, opts)
	if st := s.Stats(); st.Corrupt != 1 || st.Records != 4 {
		t.Fatalf("Stats = %+v, want Corrupt 1, 4 records", st)
	}
	checkRecords(t, ready(t, s), all[4:])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, opts)
	if st := s.Stats(); st.Corrupt != 0 {
		t.Fatalf("Stats after repair = %+v, want Corrupt 0", st)
	}
	checkRecords(t, ready(t, s), all[4:])
}

func TestDoneLogRewrite(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SyncInterval: time.Hour}
	s := open(t, dir, opts)
	const n = 120000
	for seq := uint64(1); seq <= n; seq++ {
		if err := s.Append(Record{Seq: seq, Class: ClassTelemetry, Value: []byte{byte(seq)}}); err != nil {
			t.Fatal(err)
		}
	}
	ready(t, s)
	for seq := uint64(1); seq <= n; seq += 2 {
		if err := s.Ack(seq); err != nil {
			t.Fatal(err)
		}
	}
	before := s.done.size
	if before <= doneCompactMin {
		t.Fatalf("done log %d bytes, want above %d for the test", before, doneCompactMin)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, doneFileName))
	if err != nil {
		t.Fatal(err)
	}
	// 60000 single-sequence ranges plus the high water mark.
	if want := int64(frameHeaderLen + 9 + ((n/2)/(1<<16)+1)*frameHeaderLen + 1 + (n/2)*doneRangeLen); fi.Size() != want {
		t.Fatalf("done log after rewrite %d bytes (was %d), want %d", fi.Size(), before, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, opts)
	got := ready(t, s)
	if len(got) != n/2 {
		t.Fatalf("got %d records, want %d", len(got), n/2)
	}
	for i, r := range got {
		if want := uint64(2 * (i + 1)); r.Seq != want || r.Value[0] != byte(want) {
			t.Fatalf("record %d: seq %d value %v, want seq %d", i, r.Seq, r.Value, want)
		}
	}
}

func TestCrashCopy(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 4 << 10, SyncInterval: 2 * time.Millisecond})

	var mu sync.Mutex
	appended := map[uint64]Record{}
	stop := make(chan struct{})
	// If the appender fails, the publisher's Next must not wait forever.
	ctx, appenderGone := context.WithCancel(t.Context())
	defer appenderGone()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the providers
		defer wg.Done()
		defer appenderGone()
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			r := rec(seq, Class(1+seq%3))
			mu.Lock()
			appended[seq] = r
			mu.Unlock()
			if err := s.Append(r); err != nil {
				t.Errorf("Append(%d): %v", seq, err)
				return
			}
		}
	}()

	// The publisher acknowledges every other batch and hands back the rest.
	acked := map[uint64]bool{}
	publish := func(batches int) {
		for i := range batches {
			recs, err := s.Next(ctx, 50)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			seqs := seqsOf(recs)
			if i%2 == 0 {
				if err := s.Ack(seqs...); err != nil {
					t.Fatal(err)
				}
				for _, q := range seqs {
					acked[q] = true
				}
			} else if err := s.Nack(seqs...); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(40)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := s.LastSeq()
	syncedAcks := maps(acked)
	publish(40)
	crashed := copyDir(t, dir) // mid-stream, no Close
	ackedAtCopy := maps(acked)
	close(stop)
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	c := open(t, crashed, Options{SegmentBytes: 4 << 10, SyncInterval: time.Hour})
	st := c.Stats()
	if st.Corrupt > 1 { // at most one torn record at the tail
		t.Fatalf("Stats of the copy = %+v", st)
	}
	got := ready(t, c)
	present := map[uint64]bool{}
	var prev uint64
	for _, r := range got {
		if r.Seq <= prev {
			t.Fatalf("seq %d after %d", r.Seq, prev)
		}
		prev = r.Seq
		present[r.Seq] = true
		if !equalRecord(r, appended[r.Seq]) {
			t.Fatalf("record %d differs from what was appended", r.Seq)
		}
		if syncedAcks[r.Seq] {
			t.Fatalf("record %d acknowledged and synced before the crash was returned", r.Seq)
		}
	}
	for seq := uint64(1); seq <= synced; seq++ {
		if !ackedAtCopy[seq] && !present[seq] {
			t.Fatalf("record %d synced and never acknowledged was lost (synced up to %d)", seq, synced)
		}
	}
	if c.LastSeq() < synced {
		t.Fatalf("LastSeq of the copy %d below synced %d", c.LastSeq(), synced)
	}
	t.Logf("synced up to %d; copy returned %d records up to %d, corrupt %d", synced, len(got), prev, st.Corrupt)
}

func maps(m map[uint64]bool) map[uint64]bool {
	out := make(map[uint64]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestAppendRejects(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 1000, SyncInterval: time.Hour})
	appendAll(t, s, rec(5, ClassInventory))
	tests := []struct {
		name string
		r    Record
		want error
	}{
		{"same seq", rec(5, ClassInventory), ErrSeqNotIncreasing},
		{"lower seq", rec(3, ClassInventory), ErrSeqNotIncreasing},
		{"zero seq", Record{Seq: 0, Class: ClassTelemetry}, ErrSeqNotIncreasing},
		{"class zero", Record{Seq: 6}, ErrInvalidClass},
		{"unknown class", Record{Seq: 6, Class: 9}, ErrInvalidClass},
		{"above max bytes", Record{Seq: 6, Class: ClassInventory, Value: make([]byte, 1000)}, ErrRecordTooLarge},
		{"above max record", Record{Seq: 6, Class: ClassInventory, Value: make([]byte, MaxRecordBytes+1)}, ErrRecordTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Append(tt.r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Append = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), s.dir) {
				t.Fatalf("error %q does not name the spool directory", err)
			}
		})
	}
	if got := s.LastSeq(); got != 5 {
		t.Fatalf("LastSeq = %d after rejected appends, want 5", got)
	}
	appendAll(t, s, rec(6, ClassTelemetry))
	checkRecords(t, ready(t, s), []Record{rec(5, ClassInventory), rec(6, ClassTelemetry)})
}

func TestSegmentsDeletedAfterAck(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1 << 10, SyncInterval: time.Hour}
	s := open(t, dir, opts)
	for seq := uint64(1); seq <= 100; seq++ {
		appendAll(t, s, fixed(seq, ClassInventory))
	}
	before := segmentFiles(t, dir)
	if len(before) != 13 || s.Stats().Segments != 13 { // 8 frames of 126 bytes per KiB
		t.Fatalf("segments %v (Stats %d), want 13", before, s.Stats().Segments)
	}
	ready(t, s)
	var first50 []uint64
	for seq := uint64(1); seq <= 50; seq++ {
		first50 = append(first50, seq)
	}
	if err := s.Ack(first50...); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	// Segments hold 8 records each: 1-8, ..., 41-48 are gone, 49-56 stays.
	if got, want := segmentFiles(t, dir), before[6:]; !slices.Equal(got, want) {
		t.Fatalf("segments after acking 1..50: %v, want %v", got, want)
	}
	if st := s.Stats(); st.Segments != 7 || st.Records != 50 || st.DiskBytes != 7*8*fixedFrame-4*fixedFrame {
		t.Fatalf("Stats = %+v", st)
	}
	var rest []uint64
	for seq := uint64(51); seq <= 100; seq++ {
		rest = append(rest, seq)
	}
	if err := s.Ack(rest...); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	// Only the active segment remains until Close.
	if got := segmentFiles(t, dir); !slices.Equal(got, before[12:]) {
		t.Fatalf("segments after acking all: %v, want %v", got, before[12:])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := segmentFiles(t, dir); len(got) != 0 {
		t.Fatalf("segments after Close: %v, want none", got)
	}
	s = open(t, dir, opts)
	if st := s.Stats(); st.Records != 0 || st.Segments != 0 || s.LastSeq() != 100 {
		t.Fatalf("after reopen: Stats %+v LastSeq %d, want empty and 100", st, s.LastSeq())
	}
	appendAll(t, s, fixed(101, ClassInventory))
	checkRecords(t, ready(t, s), []Record{fixed(101, ClassInventory)})
}

func TestSyncEveryAppend(t *testing.T) {
	// SyncInterval 0: every append and ack is on disk when the call
	// returns, so a copy taken right after holds it.
	dir := t.TempDir()
	s := open(t, dir, Options{})
	appendAll(t, s, rec(1, ClassInventory), rec(2, ClassStatus), rec(3, ClassTelemetry))
	ready(t, s)
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	c := open(t, copyDir(t, dir), Options{})
	checkRecords(t, ready(t, c), []Record{rec(1, ClassInventory), rec(3, ClassTelemetry)})
	if got := c.LastSeq(); got != 3 {
		t.Fatalf("LastSeq = %d, want 3", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SyncInterval: time.Hour, Registerer: prometheus.NewRegistry()})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	for _, o := range []Options{{MaxBytes: -1}, {SegmentBytes: -1}, {SyncInterval: -time.Second}} {
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Fatalf("Open(%+v) succeeded", o)
		}
	}
	reg := prometheus.NewRegistry()
	other := open(t, t.TempDir(), Options{Registerer: reg})
	var are prometheus.AlreadyRegisteredError
	if _, err := Open(t.TempDir(), Options{Registerer: reg}); !errors.As(err, &are) {
		t.Fatalf("Open with a used registerer = %v, want AlreadyRegisteredError", err)
	}
	// Close unregisters: the registerer can be used again.
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, t.TempDir(), Options{Registerer: reg})

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"Append": s.Append(rec(1, ClassInventory)),
		"Ack":    s.Ack(1),
		"Nack":   s.Nack(1),
		"Sync":   s.Sync(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{ClassTelemetry: "telemetry", ClassStatus: "status", ClassInventory: "inventory", 0: "class(0)", 200: "class(200)"} {
		if got := c.String(); got != want {
			t.Fatalf("Class(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

func TestLastSeqFromDoneLog(t *testing.T) {
	// All records acked, segment files gone: the done log still knows the
	// highest sequence, so the agent cannot reuse one.
	dir := t.TempDir()
	s := open(t, dir, Options{SyncInterval: time.Hour})
	appendAll(t, s, rec(41, ClassInventory), rec(42, ClassTelemetry))
	ready(t, s)
	if err := s.Ack(41, 42); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if segs := segmentFiles(t, dir); len(segs) != 0 {
		t.Fatalf("segments left: %v", segs)
	}
	s = open(t, dir, Options{SyncInterval: time.Hour})
	if got := s.LastSeq(); got != 42 {
		t.Fatalf("LastSeq = %d, want 42", got)
	}
	if err := s.Append(rec(42, ClassInventory)); !errors.Is(err, ErrSeqNotIncreasing) {
		t.Fatalf("Append(42) = %v, want ErrSeqNotIncreasing", err)
	}
}

// metricValue returns the value of the gauge or counter name (with the
// given label pair, if any) from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, label ...string) float64 {
	t.Helper()
	m := findMetric(t, reg, name, label...)
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	t.Fatalf("%s is neither gauge nor counter", name)
	return 0
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	return findMetric(t, reg, name).GetHistogram().GetSampleCount()
}

func findMetric(t *testing.T, reg *prometheus.Registry, name string, label ...string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(label) == 0 {
				return m
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label[0] && lp.GetValue() == label[1] {
					return m
				}
			}
		}
	}
	t.Fatalf("metric %s %v not found", name, label)
	return nil
}
