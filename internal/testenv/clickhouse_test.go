package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/chserver"
	"github.com/racktrack/racktrack/internal/testenv"
)

// TestSharedClickHouse checks that subtests share one server, get databases of
// their own, and that the databases are dropped when the subtests end.
func TestSharedClickHouse(t *testing.T) {
	srv := testenv.SharedClickHouse(t)
	var names []string
	for _, name := range []string{"a", "b/with spaces&symbols"} {
		t.Run(name, func(t *testing.T) {
			if got := testenv.SharedClickHouse(t); got != srv {
				t.Fatalf("SharedClickHouse returned %p, then %p", srv, got)
			}
			db := testenv.ClickHouseDatabase(t, srv)
			names = append(names, db)
			roundTrip(t, srv, db)
		})
	}
	if names[0] == names[1] {
		t.Fatalf("database names not unique: %v", names)
	}
	conn := testenv.ClickHouseConn(t, srv, "default")
	var left uint64
	if err := conn.QueryRow(context.Background(),
		"SELECT count() FROM system.databases WHERE name IN (?, ?)", names[0], names[1]).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d of %v not dropped", left, names)
	}
}

// TestClickHouseOutage checks a private server through a kill and a start.
func TestClickHouseOutage(t *testing.T) {
	srv := testenv.ClickHouse(t)
	db := testenv.ClickHouseDatabase(t, srv)
	roundTrip(t, srv, db)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn := testenv.ClickHouseConn(t, srv, db)
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("after restart count() = %d, want 2", n)
	}
}

// roundTrip creates table t in db, inserts two rows and reads them back.
func roundTrip(t *testing.T, srv *chserver.Server, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := testenv.ClickHouseConn(t, srv, db)
	if err := conn.Exec(ctx, "CREATE TABLE t (k String, v UInt32) ENGINE = MergeTree() ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO t (k, v)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		k string
		v uint32
	}{{"x", 1}, {"y", 2}} {
		if err := batch.Append(r.k, r.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	var sum uint64
	var keys string
	if err := conn.QueryRow(ctx, "SELECT sum(v), arrayStringConcat(groupArray(k), ',') FROM (SELECT k, v FROM t ORDER BY k)").Scan(&sum, &keys); err != nil {
		t.Fatal(err)
	}
	if sum != 3 || keys != "x,y" {
		t.Fatalf("read back sum %d keys %q, want 3 \"x,y\"", sum, keys)
	}
}
