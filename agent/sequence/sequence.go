// Package sequence hands out the agent's per-agent, strictly increasing
// observation sequence and keeps it across restarts and crashes. Numbers
// are reserved on disk in blocks, so a crash skips at most one block (gaps
// are fine; reuse would not be: the collector de-duplicates by sequence).
package sequence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
)

// DefaultBlock is how many numbers one fsync reserves.
const DefaultBlock = 4096

// Counter is safe for concurrent use.
type Counter struct {
	mu       sync.Mutex
	path     string
	block    uint64
	last     uint64 // last number handed out
	reserved uint64 // numbers up to reserved may be handed out
}

// ErrCorrupt is returned by Open when the state file fails its checksum;
// the agent refuses to guess, since reusing a sequence would lose data.
var ErrCorrupt = errors.New("sequence file corrupt")

// Open loads the counter kept in dir, creating it when absent. floor is a
// number known to be used already (e.g. the spool's last sequence); the
// counter never hands out a number at or below it.
func Open(dir string, floor uint64) (*Counter, error) {
	c := &Counter{path: filepath.Join(dir, "sequence"), block: DefaultBlock}
	b, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("sequence: %w", err)
	default:
		if len(b) != 12 || crc32.ChecksumIEEE(b[:8]) != binary.BigEndian.Uint32(b[8:]) {
			return nil, fmt.Errorf("sequence: %s: %w (remove it only if the spool is empty and the collector may see reused numbers)", c.path, ErrCorrupt)
		}
		// Everything up to the reservation may have been used.
		c.last = binary.BigEndian.Uint64(b[:8])
	}
	c.last = max(c.last, floor)
	c.reserved = c.last
	return c, nil
}

// Next returns the next sequence number.
func (c *Counter) Next() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == c.reserved {
		if err := c.reserve(c.last + c.block); err != nil {
			return 0, err
		}
	}
	c.last++
	return c.last, nil
}

// Last returns the last number handed out.
func (c *Counter) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *Counter) reserve(upTo uint64) error {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], upTo)
	binary.BigEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[:8]))
	tmp := c.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("sequence: reserve: %w", err)
	}
	if _, err := f.Write(b[:]); err != nil {
		f.Close()
		return fmt.Errorf("sequence: reserve: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sequence: reserve: fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sequence: reserve: %w", err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("sequence: reserve: %w", err)
	}
	if d, err := os.Open(filepath.Dir(c.path)); err == nil {
		_ = d.Sync() // make the rename durable; best effort on odd filesystems
		d.Close()
	}
	c.reserved = upTo
	return nil
}
