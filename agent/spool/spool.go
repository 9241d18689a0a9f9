// Package spool is the agent's durable queue between its providers and
// Kafka: observations are appended to CRC-framed segment files on local disk
// and leave only once the publisher acknowledges them, so broker outages and
// agent restarts lose nothing that was synced.
//
// Ownership and concurrency: Append may be called from many goroutines (the
// spool serialises them; the caller keeps sequence order); Next, Ack and Nack
// are meant for one publisher goroutine. With a positive SyncInterval the
// Spool owns one background goroutine that fsyncs; Close stops it.
//
// Order: Next returns records in sequence order, records handed back by Nack
// first. After a restart every record that was neither acknowledged nor
// evicted is returned again, in sequence order.
//
// Bound: the framed bytes of records held are bounded by MaxBytes. When an
// append would exceed it, records are evicted by class, least valuable
// first: ClassTelemetry, then ClassStatus, then ClassInventory, oldest first
// within a class, the record being appended counting as the newest of its
// class; records in flight are never evicted. Every eviction is counted per
// class (Stats, racktrack_agent_spool_evictions_total) and is durable like
// an ack. Segment files stay below about twice MaxBytes plus one segment:
// under pressure, sealed segments at least half evicted are rewritten.
//
// See README.md for the file format and the fsync policy.
package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Class says how valuable a record is when the spool is full.
type Class uint8

// Classes in eviction order: telemetry is evicted first, then status, and
// inventory last.
const (
	// ClassTelemetry is sensors and counters; the next poll replaces them.
	ClassTelemetry Class = 1
	// ClassStatus is target and agent status; newer status supersedes it,
	// but it explains gaps, so it outlives telemetry.
	ClassStatus Class = 2
	// ClassInventory is inventory, sent on change: losing it hides a
	// change until the next full snapshot, so it is evicted last.
	ClassInventory Class = 3
)

// evictionOrder lists the classes, evicted first to last.
var evictionOrder = [...]Class{ClassTelemetry, ClassStatus, ClassInventory}

const numClasses = int(ClassInventory) + 1

func (c Class) valid() bool { return c >= ClassTelemetry && c <= ClassInventory }

// String returns the class name used in metric labels and logs.
func (c Class) String() string {
	switch c {
	case ClassTelemetry:
		return "telemetry"
	case ClassStatus:
		return "status"
	case ClassInventory:
		return "inventory"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Record is one spooled message.
type Record struct {
	// Seq is the agent's sequence number: at least 1, and greater than that
	// of every record appended before (across restarts, see LastSeq).
	Seq uint64
	// Key and Value are the Kafka message key and value.
	Key, Value []byte
	// Class decides eviction order.
	Class Class
}

// Defaults for Options fields left zero, and values the agent's config uses.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultSegmentBytes = 16 << 20
	// DefaultSyncInterval is the fsync batching the agent configures by
	// default. Options.SyncInterval zero means fsync on every append.
	DefaultSyncInterval = 100 * time.Millisecond
)

// Options tune a Spool.
type Options struct {
	// MaxBytes bounds the framed bytes of records held (neither acked nor
	// evicted); default DefaultMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which a segment file is closed and a new
	// one started; default DefaultSegmentBytes.
	SegmentBytes int64
	// SyncInterval batches fsync: appends, acks and evictions become
	// durable within this interval. Zero fsyncs on every Append and Ack.
	SyncInterval time.Duration
	// Logger receives corruption and eviction reports; nil discards.
	Logger *slog.Logger
	// Registerer receives the spool's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Stats is a snapshot of the spool.
type Stats struct {
	// Records and Bytes count records neither acknowledged nor evicted
	// (including those in flight), Bytes in framed size.
	Records, Bytes int64
	// Evicted counts records evicted since Open, per class.
	Evicted map[Class]uint64
	// Corrupt counts damaged regions found since Open (a run of bytes
	// between two readable records; usually exactly one record).
	Corrupt uint64
	// Segments is the number of segment files.
	Segments int
	// DiskBytes is the size of the segment files, including acknowledged
	// and evicted records not yet reclaimed.
	DiskBytes int64
}

// Errors returned by the spool; they come wrapped with the spool directory
// and the operation.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("spool closed")
	// ErrSeqNotIncreasing is returned by Append for a sequence not greater
	// than the last one appended (or LastSeq after Open).
	ErrSeqNotIncreasing = errors.New("sequence not increasing")
	// ErrRecordTooLarge is returned by Append for a record whose framed size
	// exceeds MaxBytes or whose key plus value exceeds MaxRecordBytes.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrInvalidClass is returned by Append for a class other than the
	// Class constants.
	ErrInvalidClass = errors.New("invalid record class")
	// ErrLocked is returned by Open when another process holds the spool
	// directory.
	ErrLocked = errors.New("spool directory locked by another process")
	// ErrFailed is returned by Append, Ack and Sync after an fsync failed,
	// or a failed write could not be cut off, leaving the files' state
	// unknown; Close and reopen the spool to recover what is on disk. A
	// write that fails cleanly (a full disk) is returned as is and the
	// spool stays usable.
	ErrFailed = errors.New("spool unusable after an I/O error")
)

// Spool is an open spool directory.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger
	m    *metrics
	lock *os.File

	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	failed   error
	segs     []*segment // in sequence order; the last is active
	active   *segment   // segment appended to; nil until the first append
	done     *doneLog
	lastSeq  uint64
	records  int64 // live records
	bytes    int64 // their framed size
	disk     int64 // segment file bytes
	evicted  [numClasses]uint64
	corrupt  uint64
	dirty    bool // active segment written since its last fsync
	dirDirty bool // directory entries changed since the last directory fsync
	// cursor is the lowest sequence Next has not yet looked at; requeue
	// holds nacked sequences (all below cursor), sorted.
	cursor  uint64
	requeue []uint64
	// evictFrom is, per class, a sequence below which no record of that
	// class can be evicted any more.
	evictFrom   [numClasses]uint64
	wake        chan struct{} // closed and replaced when records arrive
	waiters     int
	buf         []byte
	seqs        []uint64
	lastEvictAt time.Time
}

// Open opens (creating if needed) the spool in dir, checks every record's
// CRC, skips and repairs damaged regions, and prepares to replay every record
// that was neither acknowledged nor evicted.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	switch {
	case opts.MaxBytes < 0:
		return nil, fmt.Errorf("spool %s: max bytes %d is negative", dir, opts.MaxBytes)
	case opts.SegmentBytes < 0:
		return nil, fmt.Errorf("spool %s: segment bytes %d is negative", dir, opts.SegmentBytes)
	case opts.SyncInterval < 0:
		return nil, fmt.Errorf("spool %s: sync interval %v is negative", dir, opts.SyncInterval)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: open: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: open: %w", dir, err)
	}
	s := &Spool{
		dir:  dir,
		opts: opts,
		log:  log.With("spool", dir),
		m:    newMetrics(),
		lock: lock,
		stop: make(chan struct{}),
		wake: make(chan struct{}),
	}
	if err := s.load(); err != nil {
		s.closeFiles()
		_ = unlockDir(lock)
		return nil, fmt.Errorf("spool %s: open: %w", dir, err)
	}
	if err := s.m.register(opts.Registerer); err != nil {
		s.closeFiles()
		_ = unlockDir(lock)
		return nil, fmt.Errorf("spool %s: open: %w", dir, err)
	}
	s.updateGauges()
	if opts.SyncInterval > 0 {
		s.wg.Add(1)
		go s.syncLoop(opts.SyncInterval)
	}
	return s, nil
}

// load reads the done log and every segment, repairs damage, and deletes
// segments left with no live record.
func (s *Spool) load() error {
	ds, err := readDoneLog(s.dir)
	if err != nil {
		return err
	}
	s.reportDamage(filepath.Join(s.dir, doneFileName), ds.damages)
	if s.done, err = openDoneLog(s.dir, ds.size); err != nil {
		return err
	}
	// Segments are deleted below on the strength of the done log: make
	// sure it is on disk first.
	if err := s.done.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", s.done.path, err)
	}
	names, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	var prev uint64
	valid := func(p []byte) bool { return checkRecordPayload(p) && payloadSeq(p) > prev }
	for _, name := range names {
		path := filepath.Join(s.dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		g := &segment{path: path, size: int64(len(data))}
		dmg := scanFrames(data, recordHeaderLen+MaxRecordBytes, valid, func(off int, p []byte) {
			e := entry{
				seq:   payloadSeq(p),
				off:   int64(off),
				size:  uint32(frameHeaderLen + len(p)),
				class: Class(p[8]),
			}
			prev = e.seq
			if ds.has(e.seq) {
				e.state = stateDone
			} else {
				g.live++
				g.liveBytes += int64(e.size)
			}
			g.entries = append(g.entries, e)
		})
		s.reportDamage(path, dmg)
		if g.live == 0 {
			if err := os.Remove(path); err != nil {
				return err
			}
			s.dirDirty = true
			continue
		}
		if g.f, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
			return err
		}
		s.segs = append(s.segs, g)
		if len(dmg) > 0 {
			if err := g.rewrite(data); err != nil {
				return err
			}
		}
		s.records += int64(g.live)
		s.bytes += g.liveBytes
		s.disk += g.size
	}
	s.lastSeq = max(prev, ds.high)
	if n := len(s.segs); n > 0 {
		s.active = s.segs[n-1]
	}
	if s.dirDirty {
		if err := syncDir(s.dir); err != nil {
			return err
		}
		s.dirDirty = false
	}
	if len(ds.damages) > 0 || s.done.wantsRewrite() {
		if err := s.done.rewrite(s.lastSeq, s.doneSeqs()); err != nil {
			return err
		}
	}
	if s.bytes > s.opts.MaxBytes {
		// MaxBytes shrank since the last run.
		if _, err := s.makeRoom(0, 0, 0); err != nil {
			return err
		}
		if err := s.syncLocked(); err != nil {
			return err
		}
	}
	return nil
}

// reportDamage counts and logs damaged regions of one file.
func (s *Spool) reportDamage(path string, dmg []damage) {
	for _, d := range dmg {
		s.log.Warn("spool: corrupt bytes skipped", "file", path, "offset", d.off, "bytes", d.n)
	}
	s.corrupt += uint64(len(dmg))
	s.m.corrupt.Add(float64(len(dmg)))
}

// LastSeq is the highest sequence the spool has seen: on Open, the highest
// found on disk in segments or the done log; afterwards, the last appended.
func (s *Spool) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// Append adds r to the spool, evicting less valuable records if it is full.
// r is durable after the next sync (at once with SyncInterval zero). If the
// spool is full of records at least as valuable as r (or in flight), r itself
// is evicted: Append returns nil and counts the eviction. Key and Value are
// copied.
func (s *Spool) Append(r Record) error {
	start := time.Now()
	if !r.Class.valid() {
		return fmt.Errorf("spool %s: append seq %d: class %d: %w", s.dir, r.Seq, uint8(r.Class), ErrInvalidClass)
	}
	if len(r.Key)+len(r.Value) > MaxRecordBytes {
		return fmt.Errorf("spool %s: append seq %d: %d bytes above %d: %w", s.dir, r.Seq, len(r.Key)+len(r.Value), MaxRecordBytes, ErrRecordTooLarge)
	}
	n := recordFrameSize(len(r.Key), len(r.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("append"); err != nil {
		return err
	}
	if n > s.opts.MaxBytes {
		return fmt.Errorf("spool %s: append seq %d: %d bytes above max bytes %d: %w", s.dir, r.Seq, n, s.opts.MaxBytes, ErrRecordTooLarge)
	}
	if r.Seq <= s.lastSeq {
		return fmt.Errorf("spool %s: append seq %d after %d: %w", s.dir, r.Seq, s.lastSeq, ErrSeqNotIncreasing)
	}
	dropped, err := s.makeRoom(n, r.Class, r.Seq)
	if err != nil {
		return err
	}
	if dropped {
		s.lastSeq = r.Seq
	} else if err := s.write(r, n); err != nil {
		return err
	}
	if s.opts.SyncInterval == 0 {
		if err := s.syncLocked(); err != nil {
			return err
		}
	}
	s.updateGauges()
	s.m.appendSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// write appends r's frame (n bytes) to the active segment, rolling first if
// it is full.
func (s *Spool) write(r Record, n int64) error {
	if s.active == nil || (s.active.size > 0 && s.active.size+n > s.opts.SegmentBytes) {
		if err := s.roll(r.Seq); err != nil {
			return err
		}
	}
	g := s.active
	s.buf = appendRecordFrame(s.buf[:0], r)
	if _, err := g.f.WriteAt(s.buf, g.size); err != nil {
		werr := fmt.Errorf("spool %s: append seq %d to %s: %w", s.dir, r.Seq, g.path, err)
		if len(g.entries) == 0 {
			// A fresh segment: drop it entirely.
			s.segs = s.segs[:len(s.segs)-1]
			s.active = nil
			if n := len(s.segs); n > 0 {
				s.active = s.segs[n-1]
			}
			if rerr := g.remove(); rerr != nil {
				return s.fail(errors.Join(werr, rerr))
			}
			return werr
		}
		// Cut the partial frame so later appends follow a readable record.
		if terr := g.f.Truncate(g.size); terr != nil {
			return s.fail(errors.Join(werr, terr))
		}
		return werr
	}
	g.entries = append(g.entries, entry{seq: r.Seq, off: g.size, size: uint32(n), class: r.Class})
	g.size += n
	g.live++
	g.liveBytes += n
	s.records++
	s.bytes += n
	s.disk += n
	s.lastSeq = r.Seq
	s.dirty = true
	if s.waiters > 0 {
		close(s.wake)
		s.wake = make(chan struct{})
	}
	return nil
}

// roll seals the active segment and starts a new one whose first record
// has sequence first.
func (s *Spool) roll(first uint64) error {
	prev := s.active
	if prev != nil && s.dirty {
		if err := prev.f.Sync(); err != nil {
			return s.fail(fmt.Errorf("fsync %s: %w", prev.path, err))
		}
		s.dirty = false
	}
	path := filepath.Join(s.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool %s: new segment: %w", s.dir, err)
	}
	g := &segment{path: path, f: f}
	s.segs = append(s.segs, g)
	s.active = g
	s.dirDirty = true
	if prev != nil {
		return s.reclaim()
	}
	return nil
}

// makeRoom evicts records until n more bytes fit under MaxBytes. The record
// about to be appended (class c, sequence seq) counts as the newest of its
// class; if it is the one to go, makeRoom returns dropped. n zero means no
// record is being appended.
func (s *Spool) makeRoom(n int64, c Class, seq uint64) (dropped bool, err error) {
	if s.bytes+n <= s.opts.MaxBytes {
		return false, nil
	}
	victims := s.seqs[:0]
	var counts [numClasses]uint64
	for _, vc := range evictionOrder {
		for s.bytes+n > s.opts.MaxBytes {
			g, e := s.findVictim(vc)
			if e == nil {
				break
			}
			s.markDone(g, e)
			counts[vc]++
			victims = append(victims, e.seq)
		}
		if s.bytes+n <= s.opts.MaxBytes {
			break
		}
		if n > 0 && vc == c {
			dropped = true
			counts[vc]++
			victims = append(victims, seq)
			break
		}
	}
	s.seqs = victims
	for _, vc := range evictionOrder {
		s.evicted[vc] += counts[vc]
		if counts[vc] > 0 {
			s.m.evictions.WithLabelValues(vc.String()).Add(float64(counts[vc]))
		}
	}
	if now := time.Now(); len(victims) > 0 && now.Sub(s.lastEvictAt) > time.Minute {
		s.lastEvictAt = now
		s.log.Warn("spool: full, evicting records",
			"max_bytes", s.opts.MaxBytes,
			"evicted_telemetry", s.evicted[ClassTelemetry],
			"evicted_status", s.evicted[ClassStatus],
			"evicted_inventory", s.evicted[ClassInventory])
	}
	slices.Sort(victims)
	if err := s.recordDone(victims); err != nil {
		return false, err
	}
	if err := s.reclaim(); err != nil {
		return false, err
	}
	return dropped, nil
}

// findVictim returns the oldest record of class c that is neither done nor
// in flight, or nil.
func (s *Spool) findVictim(c Class) (*segment, *entry) {
	si, ei := s.seek(s.evictFrom[c])
	advance := true
	for ; si < len(s.segs); si, ei = si+1, 0 {
		g := s.segs[si]
		for ; ei < len(g.entries); ei++ {
			e := &g.entries[ei]
			switch {
			case e.class != c || e.state == stateDone:
				if advance {
					s.evictFrom[c] = e.seq + 1
				}
			case e.state == stateInFlight:
				advance = false // it may come back through Nack
			default:
				return g, e
			}
		}
	}
	return nil, nil
}

// reclaim deletes sealed segments whose records have all left and, while
// the files hold more than MaxBytes, rewrites sealed segments at least half
// dead. Afterwards the files hold at most about twice MaxBytes plus the
// active segment. The done log is synced before any file changes, so the
// highest sequence seen stays on disk (see LastSeq).
func (s *Spool) reclaim() error {
	synced := false
	for i := 0; i < len(s.segs); i++ {
		g := s.segs[i]
		if g == s.active {
			continue
		}
		deleteIt := g.live == 0
		if !deleteIt && (s.disk <= s.opts.MaxBytes || 2*g.deadBytes() < g.size) {
			continue
		}
		if !synced {
			if err := s.done.sync(); err != nil {
				return s.fail(err)
			}
			synced = true
		}
		if deleteIt {
			if err := s.removeSegment(g); err != nil {
				return err
			}
			i--
			continue
		}
		old := g.size
		if err := g.rewrite(nil); err != nil {
			return s.fail(err)
		}
		s.disk += g.size - old
	}
	return nil
}

// removeSegment deletes g and drops it from segs.
func (s *Spool) removeSegment(g *segment) error {
	i := slices.Index(s.segs, g)
	if i < 0 {
		return nil
	}
	s.segs = slices.Delete(s.segs, i, i+1)
	if g == s.active {
		s.active = nil
		if n := len(s.segs); n > 0 {
			s.active = s.segs[n-1]
		}
	}
	s.disk -= g.size
	s.dirDirty = true
	if err := g.remove(); err != nil {
		return s.fail(err)
	}
	return nil
}

// markDone retires e: it will never be returned again.
func (s *Spool) markDone(g *segment, e *entry) {
	e.state = stateDone
	g.live--
	g.liveBytes -= int64(e.size)
	s.records--
	s.bytes -= int64(e.size)
}

// seek returns the position of the first record with sequence >= seq, or
// (len(segs), 0). Only a just-created active segment can be empty; it is
// last and counts as holding every later sequence.
func (s *Spool) seek(seq uint64) (int, int) {
	si := sort.Search(len(s.segs), func(i int) bool {
		es := s.segs[i].entries
		return len(es) == 0 || es[len(es)-1].seq >= seq
	})
	if si == len(s.segs) {
		return si, 0
	}
	es := s.segs[si].entries
	return si, sort.Search(len(es), func(j int) bool { return es[j].seq >= seq })
}

// find returns the record with sequence seq, or nil.
func (s *Spool) find(seq uint64) (*segment, *entry) {
	si, ei := s.seek(seq)
	if si == len(s.segs) {
		return nil, nil
	}
	g := s.segs[si]
	if ei < len(g.entries) && g.entries[ei].seq == seq {
		return g, &g.entries[ei]
	}
	return nil, nil
}

// Next waits until at least one record is ready, then returns up to limit of
// them in sequence order (records handed back by Nack first) and marks them
// in flight: they are not returned again unless Nack hands them back or the
// spool is reopened before they are acknowledged. It returns ctx.Err() when
// ctx is done first and ErrClosed once the spool is closed. The records'
// Key and Value are the caller's.
func (s *Spool) Next(ctx context.Context, limit int) ([]Record, error) {
	if limit < 1 {
		return nil, fmt.Errorf("spool %s: next: limit %d is not positive", s.dir, limit)
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, fmt.Errorf("spool %s: next: %w", s.dir, ErrClosed)
		}
		recs, err := s.take(limit)
		if err != nil || len(recs) > 0 {
			s.mu.Unlock()
			return recs, err
		}
		wake := s.wake
		s.waiters++
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-wake:
		}
		s.mu.Lock()
		s.waiters--
		s.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// pick is a record chosen by take.
type pick struct {
	g *segment
	e *entry
}

// take returns up to limit ready records and marks them in flight.
func (s *Spool) take(limit int) ([]Record, error) {
	for {
		recs, picked, err := s.takeOnce(limit)
		if err != nil || len(recs) > 0 || picked == 0 {
			return recs, err
		}
		// Every record picked was unreadable and is now retired: look
		// further.
	}
}

// takeOnce picks up to limit ready records, reads them and marks them in
// flight; picked counts records consumed, including unreadable ones.
func (s *Spool) takeOnce(limit int) (recs []Record, picked int, err error) {
	var picks []pick
	rq := 0
	for ; rq < len(s.requeue) && len(picks) < limit; rq++ {
		if g, e := s.find(s.requeue[rq]); e != nil && e.state == statePending {
			picks = append(picks, pick{g, e})
		}
	}
	cursor := s.cursor
	if len(picks) < limit {
		si, ei := s.seek(cursor)
	scan:
		for ; si < len(s.segs); si, ei = si+1, 0 {
			g := s.segs[si]
			for ; ei < len(g.entries); ei++ {
				if len(picks) == limit {
					break scan
				}
				e := &g.entries[ei]
				cursor = e.seq + 1
				if e.state == statePending {
					picks = append(picks, pick{g, e})
				}
			}
		}
	}
	if len(picks) == 0 {
		s.requeue = s.requeue[rq:]
		s.cursor = cursor
		return nil, 0, nil
	}
	recs, bad, err := s.read(picks)
	if err != nil {
		return nil, 0, err // nothing committed: the same records come next time
	}
	s.requeue = s.requeue[rq:]
	s.cursor = cursor
	for i, p := range picks {
		if bad == nil || !bad[i] {
			p.e.state = stateInFlight
		}
	}
	if len(recs) < len(picks) {
		if err := s.retireUnreadable(picks, bad); err != nil {
			return nil, 0, err
		}
	}
	return recs, len(picks), nil
}

// read loads the picked records from their segments, checking each CRC
// again. bad marks records whose bytes no longer check out.
func (s *Spool) read(picks []pick) ([]Record, []bool, error) {
	var total int64
	for _, p := range picks {
		total += int64(p.e.size)
	}
	buf := make([]byte, total)
	// One read per run of adjacent records in one segment.
	var pos int64
	for i := 0; i < len(picks); {
		g, start := picks[i].g, picks[i].e.off
		end := start + int64(picks[i].e.size)
		j := i + 1
		for j < len(picks) && picks[j].g == g && picks[j].e.off == end {
			end += int64(picks[j].e.size)
			j++
		}
		if _, err := g.f.ReadAt(buf[pos:pos+end-start], start); err != nil {
			return nil, nil, fmt.Errorf("spool %s: read %s at %d: %w", s.dir, g.path, start, err)
		}
		pos += end - start
		i = j
	}
	recs := make([]Record, 0, len(picks))
	var bad []bool
	pos = 0
	for i, p := range picks {
		frame := buf[pos : pos+int64(p.e.size) : pos+int64(p.e.size)]
		pos += int64(p.e.size)
		seq := p.e.seq
		if _, ok := frameAt(frame, 0, recordHeaderLen+MaxRecordBytes, func(b []byte) bool {
			return checkRecordPayload(b) && payloadSeq(b) == seq
		}); !ok {
			if bad == nil {
				bad = make([]bool, len(picks))
			}
			bad[i] = true
			s.log.Warn("spool: corrupt record skipped", "file", p.g.path, "offset", p.e.off, "bytes", p.e.size, "seq", seq)
			continue
		}
		recs = append(recs, decodeRecordPayload(frame[frameHeaderLen:]))
	}
	return recs, bad, nil
}

// retireUnreadable counts records that failed their CRC on read, marks them
// done so they are never returned, and rewrites their segments without them.
func (s *Spool) retireUnreadable(picks []pick, bad []bool) error {
	seqs := s.seqs[:0]
	for i, p := range picks {
		if bad[i] {
			s.markDone(p.g, p.e)
			seqs = append(seqs, p.e.seq)
		}
	}
	s.seqs = seqs
	s.corrupt += uint64(len(seqs))
	s.m.corrupt.Add(float64(len(seqs)))
	slices.Sort(seqs)
	if err := s.recordDone(seqs); err != nil {
		return err
	}
	// Cut the damaged frames out of their files so the next Open does not
	// count them again.
	if err := s.done.sync(); err != nil {
		return s.fail(err)
	}
	var damaged []*segment
	for i, p := range picks {
		if bad[i] && !slices.Contains(damaged, p.g) {
			damaged = append(damaged, p.g)
		}
	}
	for _, g := range damaged {
		if g.live == 0 {
			if err := s.removeSegment(g); err != nil {
				return err
			}
			continue
		}
		old := g.size
		if err := g.rewrite(nil); err != nil {
			return s.fail(err)
		}
		s.disk += g.size - old
	}
	s.updateGauges()
	return nil
}

// recordDone appends retired sequences to the done log. A failed write
// that was cleanly cut off (disk full) is returned as is: the records stay
// retired in memory and the next successful sync rewrites the done log from
// memory. Any other failure makes the spool unusable.
func (s *Spool) recordDone(seqs []uint64) error {
	if err := s.done.markDone(seqs); err != nil {
		if s.done.broken {
			return s.fail(err)
		}
		return fmt.Errorf("spool %s: %w", s.dir, err)
	}
	return nil
}

// Ack marks records as delivered: they leave the spool and are never
// returned again, also after a restart once synced. Unknown sequences and
// records already acked or evicted are ignored.
func (s *Spool) Ack(seqs ...uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("ack"); err != nil {
		return err
	}
	acked := s.seqs[:0]
	for _, seq := range seqs {
		if g, e := s.find(seq); e != nil && e.state != stateDone {
			s.markDone(g, e)
			acked = append(acked, seq)
		}
	}
	s.seqs = acked
	if len(acked) == 0 {
		return nil
	}
	slices.Sort(acked)
	if err := s.recordDone(acked); err != nil {
		return err
	}
	if s.opts.SyncInterval == 0 {
		if err := s.syncLocked(); err != nil {
			return err
		}
	}
	s.updateGauges()
	return nil
}

// Nack hands records in flight back: the next Next returns them first, in
// sequence order. Sequences not in flight are ignored.
func (s *Spool) Nack(seqs ...uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("spool %s: nack: %w", s.dir, ErrClosed)
	}
	n := 0
	for _, seq := range seqs {
		if _, e := s.find(seq); e != nil && e.state == stateInFlight {
			e.state = statePending
			s.requeue = append(s.requeue, seq)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	slices.Sort(s.requeue)
	if s.waiters > 0 {
		close(s.wake)
		s.wake = make(chan struct{})
	}
	return nil
}

// Sync makes every append, ack and eviction so far durable and deletes
// segment files whose records have all left.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("sync"); err != nil {
		return err
	}
	if err := s.syncLocked(); err != nil {
		return err
	}
	s.updateGauges()
	return nil
}

// syncLocked fsyncs the active segment and the done log, then deletes
// sealed segments with no live record, and rewrites the done log when it has
// grown.
func (s *Spool) syncLocked() error {
	if s.failed != nil {
		return s.failed
	}
	if s.dirty && s.active != nil {
		if err := s.active.f.Sync(); err != nil {
			return s.fail(fmt.Errorf("fsync %s: %w", s.active.path, err))
		}
	}
	s.dirty = false
	if err := s.done.sync(); err != nil {
		return s.fail(err)
	}
	// The done log is durable: segments it empties can go.
	for i := 0; i < len(s.segs); {
		if g := s.segs[i]; g.live == 0 && g != s.active {
			if err := s.removeSegment(g); err != nil {
				return err
			}
			continue
		}
		i++
	}
	if s.dirDirty {
		if err := syncDir(s.dir); err != nil {
			return s.fail(err)
		}
		s.dirDirty = false
	}
	if s.done.lost || s.done.wantsRewrite() {
		// A failed rewrite leaves the old log in place: retry next time.
		if err := s.done.rewrite(s.lastSeq, s.doneSeqs()); err != nil {
			return fmt.Errorf("spool %s: %w", s.dir, err)
		}
	}
	return nil
}

// doneSeqs lists the done records still in segment files.
func (s *Spool) doneSeqs() []uint64 {
	var seqs []uint64
	for _, g := range s.segs {
		for _, e := range g.entries {
			if e.state == stateDone {
				seqs = append(seqs, e.seq)
			}
		}
	}
	return seqs
}

// syncLoop fsyncs every interval until Close.
func (s *Spool) syncLoop(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if !s.closed && s.failed == nil && (s.dirty || s.done.dirty || s.dirDirty || s.done.lost) {
			if err := s.syncLocked(); err != nil {
				s.log.Error("spool: background sync failed", "err", err)
			}
			s.updateGauges()
		}
		s.mu.Unlock()
	}
}

// Stats returns a snapshot of the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := make(map[Class]uint64, len(evictionOrder))
	for _, c := range evictionOrder {
		ev[c] = s.evicted[c]
	}
	return Stats{
		Records:   s.records,
		Bytes:     s.bytes,
		Evicted:   ev,
		Corrupt:   s.corrupt,
		Segments:  len(s.segs),
		DiskBytes: s.disk,
	}
}

// Close syncs, stops the background goroutine, releases files and the
// directory lock, unregisters the metrics, and wakes a waiting Next with
// ErrClosed. Closing twice is a no-op.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.wake)
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.failed == nil {
		errs = append(errs, s.syncLocked())
		if g := s.active; g != nil && g.live == 0 {
			errs = append(errs, s.removeSegment(g))
			if s.dirDirty {
				errs = append(errs, syncDir(s.dir))
			}
		}
	}
	s.closeFiles()
	s.m.unregister()
	errs = append(errs, unlockDir(s.lock))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool %s: close: %w", s.dir, err)
	}
	return nil
}

// closeFiles closes every open file.
func (s *Spool) closeFiles() {
	for _, g := range s.segs {
		if g.f != nil {
			_ = g.f.Close()
		}
	}
	if s.done != nil {
		_ = s.done.close()
	}
}

// usable returns the error for an operation on a closed or failed spool.
func (s *Spool) usable(op string) error {
	if s.closed {
		return fmt.Errorf("spool %s: %s: %w", s.dir, op, ErrClosed)
	}
	return s.failed
}

// fail makes err sticky: the spool refuses further writes.
func (s *Spool) fail(err error) error {
	if s.failed == nil {
		s.failed = fmt.Errorf("spool %s: %w: %w", s.dir, ErrFailed, err)
		s.log.Error("spool: I/O failure, refusing further writes", "err", err)
	}
	return s.failed
}

func (s *Spool) updateGauges() {
	s.m.bytes.Set(float64(s.bytes))
	s.m.records.Set(float64(s.records))
	s.m.diskBytes.Set(float64(s.disk))
	s.m.segments.Set(float64(len(s.segs)))
}
