package sequence

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCounterSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := 1; i <= 10; i++ {
		n, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if n != uint64(i) {
			t.Fatalf("Next() = %d, want %d", n, i)
		}
		last = n
	}
	// A crash without any shutdown: reopen from the same directory.
	c2, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c2.Next()
	if err != nil {
		t.Fatal(err)
	}
	if n <= last {
		t.Fatalf("after restart Next() = %d, must be above %d", n, last)
	}
	if n != DefaultBlock+1 {
		t.Fatalf("after restart Next() = %d, want the start of the next block %d", n, DefaultBlock+1)
	}
}

func TestCounterFloor(t *testing.T) {
	c, err := Open(t.TempDir(), 777)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Next(); n != 778 {
		t.Fatalf("Next() = %d, want 778", n)
	}
}

func TestCounterCorruptFile(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "sequence")
	b, _ := os.ReadFile(p)
	b[3] ^= 0xff
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open(corrupt) error = %v, want ErrCorrupt", err)
	}
}
