//go:build !unix

package spool

import (
	"fmt"
	"os"
	"path/filepath"
)

const lockFileName = "LOCK"

// lockDir only creates the lock file: there is no advisory locking here, so
// the caller must make sure one process at a time uses dir.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}

// unlockDir releases the file taken by lockDir.
func unlockDir(f *os.File) error {
	return f.Close()
}
