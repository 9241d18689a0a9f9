package store

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// block is a set of typed column slices for one column-wise insert. Columns
// are declared with col and filled by appending to the returned pointers.
type block struct {
	names []string
	cols  []any // each a *[]T
	// size is the number of rows the block will hold, when known in
	// advance: columns are allocated for it at once rather than grown.
	size int
}

// sized returns an empty block whose columns are allocated for n rows.
func sized(n int) *block { return &block{size: n} }

// col declares a column and returns the slice to append its values to. Its
// capacity is the larger of capacity and the block's size.
func col[T any](b *block, name string, capacity int) *[]T {
	p := new([]T)
	*p = make([]T, 0, max(capacity, b.size))
	b.names = append(b.names, name)
	b.cols = append(b.cols, p)
	return p
}

// rows returns the length of the first column.
func (b *block) rows() int {
	if len(b.cols) == 0 {
		return 0
	}
	return reflect.ValueOf(b.cols[0]).Elem().Len()
}

// insertBlock sends b to table as one INSERT. An empty block is not sent.
func (s *Store) insertBlock(ctx context.Context, op, table string, b *block) error {
	n := b.rows()
	if n == 0 {
		return nil
	}
	cols := make([]reflect.Value, len(b.cols))
	for i, c := range b.cols {
		v := reflect.ValueOf(c).Elem()
		if v.Len() != n {
			// A bug in the code that filled the block.
			return s.opError(op, fmt.Errorf("column %s has %d values, want %d", b.names[i], v.Len(), n))
		}
		cols[i] = v
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.t(table)+" ("+strings.Join(b.names, ", ")+")")
	if err != nil {
		return s.opError(op, err)
	}
	defer batch.Close()
	// The rows go in blocks of at most chunkRows: the driver's column
	// buffers grow to one chunk and are then reused, where one block of
	// the whole batch would grow them from empty by doubling. The server
	// squashes the blocks of one INSERT into one part up to the settings
	// min_insert_block_size_rows and _bytes (1,048,576 rows or 256 MiB by
	// default; a larger INSERT makes a part per that much). A part is
	// written whole or not at all, and every table is keyed, so an INSERT
	// cut off after some parts is repaired by retrying it.
	for lo := 0; lo < n; lo += chunkRows {
		hi := min(lo+chunkRows, n)
		for i, v := range cols {
			if err := batch.Column(i).Append(v.Slice(lo, hi).Interface()); err != nil {
				return s.opError(op, fmt.Errorf("column %s: %w", b.names[i], err))
			}
		}
		if hi < n {
			if err := batch.Flush(); err != nil {
				return s.opError(op, err)
			}
		}
	}
	if err := batch.Send(); err != nil {
		return s.opError(op, err)
	}
	return nil
}

// chunkRows is the largest block insertBlock sends.
const chunkRows = 4096

// columnList is the comma-separated column names of b, for SELECTs that
// read the same columns.
func (b *block) columnList() string { return strings.Join(b.names, ", ") }

func itoa(n int) string { return strconv.Itoa(n) }
