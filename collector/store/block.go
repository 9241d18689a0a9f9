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
}

// col declares a column and returns the slice to append its values to.
func col[T any](b *block, name string, capacity int) *[]T {
	p := new([]T)
	*p = make([]T, 0, capacity)
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
	data := make([]any, len(b.cols))
	for i, c := range b.cols {
		v := reflect.ValueOf(c).Elem()
		if v.Len() != n {
			// A bug in the code that filled the block.
			return s.opError(op, fmt.Errorf("column %s has %d values, want %d", b.names[i], v.Len(), n))
		}
		data[i] = v.Interface()
	}
	return s.insert(ctx, op, table, b.names, data...)
}

// columnList is the comma-separated column names of b, for SELECTs that
// read the same columns.
func (b *block) columnList() string { return strings.Join(b.names, ", ") }

func itoa(n int) string { return strconv.Itoa(n) }
