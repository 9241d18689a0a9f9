package chserver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/goleak"

	"github.com/racktrack/racktrack/internal/chserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type row struct {
	ID   uint64
	Name string
	TS   time.Time
}

var rows = []row{
	{1, "sw-a", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	{2, "sw-b", time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)},
	{3, "bmc-7", time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC)},
}

// TestServerLifecycle starts a server, writes and reads through the native
// protocol, then stops it (gracefully, then by SIGKILL) and starts it again on
// the same ports, checking that the data survived and the child is gone.
func TestServerLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	started := time.Now()
	srv, err := chserver.Start(ctx, chserver.Options{Dir: filepath.Join(t.TempDir(), "ch")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("started in %v: native %s, http %s", time.Since(started), srv.Addr(), srv.HTTPAddr())
	addr, httpAddr := srv.Addr(), srv.HTTPAddr()

	withConn(t, ctx, srv.Addr(), func(conn driver.Conn) {
		if err := conn.Exec(ctx, `CREATE TABLE devices (id UInt64, name String, ts DateTime('UTC'))
			ENGINE = MergeTree() ORDER BY id`); err != nil {
			t.Fatalf("create table: %v", err)
		}
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO devices (id, name, ts)")
		if err != nil {
			t.Fatalf("prepare batch: %v", err)
		}
		for _, r := range rows {
			if err := batch.Append(r.ID, r.Name, r.TS); err != nil {
				t.Fatalf("append: %v", err)
			}
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("send batch: %v", err)
		}
		assertRows(t, ctx, conn)
	})

	for _, stop := range []struct {
		name string
		fn   func() error
	}{
		{"Stop", srv.Stop},
		{"Kill", srv.Kill},
	} {
		pid := srv.PID()
		if pid == 0 {
			t.Fatal("PID() = 0 for a running server")
		}
		begin := time.Now()
		if err := stop.fn(); err != nil {
			t.Fatalf("%s: %v", stop.name, err)
		}
		t.Logf("%s took %v", stop.name, time.Since(begin))
		if err := stop.fn(); err != nil {
			t.Fatalf("second %s: %v", stop.name, err)
		}
		// The child was reaped and led its own process group: both are gone.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("after %s: kill(%d, 0) = %v, want ESRCH", stop.name, pid, err)
		}
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("after %s: kill(-%d, 0) = %v, want ESRCH", stop.name, pid, err)
		}
		if srv.Running() || srv.PID() != 0 {
			t.Fatalf("after %s: Running() = %v, PID() = %d", stop.name, srv.Running(), srv.PID())
		}

		begin = time.Now()
		if err := srv.Start(ctx); err != nil {
			t.Fatalf("start after %s: %v", stop.name, err)
		}
		t.Logf("restart after %s took %v", stop.name, time.Since(begin))
		if srv.Addr() != addr || srv.HTTPAddr() != httpAddr {
			t.Fatalf("addresses changed: %s %s, want %s %s", srv.Addr(), srv.HTTPAddr(), addr, httpAddr)
		}
		if err := srv.Start(ctx); err != nil {
			t.Fatalf("Start on a running server: %v", err)
		}
		withConn(t, ctx, srv.Addr(), func(conn driver.Conn) { assertRows(t, ctx, conn) })
	}

	pid := srv.PID()
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if srv.PID() == pid || !srv.Running() {
		t.Fatalf("after Restart: PID %d (was %d), Running() = %v", srv.PID(), pid, srv.Running())
	}
	withConn(t, ctx, srv.Addr(), func(conn driver.Conn) { assertRows(t, ctx, conn) })
}

func withConn(t *testing.T, ctx context.Context, addr string, fn func(driver.Conn)) {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("open %s: %v", addr, err)
	}
	defer conn.Close()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping %s: %v", addr, err)
	}
	fn(conn)
}

func assertRows(t *testing.T, ctx context.Context, conn driver.Conn) {
	t.Helper()
	res, err := conn.Query(ctx, "SELECT id, name, ts FROM devices ORDER BY id")
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	defer res.Close()
	var got []row
	for res.Next() {
		var r row
		if err := res.Scan(&r.ID, &r.Name, &r.TS); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got = append(got, r)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	if len(got) != len(rows) {
		t.Fatalf("got %d rows %v, want %v", len(got), got, rows)
	}
	for i := range rows {
		if got[i].ID != rows[i].ID || got[i].Name != rows[i].Name || !got[i].TS.Equal(rows[i].TS) {
			t.Fatalf("row %d = %+v, want %+v", i, got[i], rows[i])
		}
	}
}

func TestStartNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := chserver.Start(context.Background(), chserver.Options{Dir: t.TempDir()})
	if !errors.Is(err, chserver.ErrNotInstalled) {
		t.Fatalf("Start: %v, want ErrNotInstalled", err)
	}
	const want = "clickhouse-server not found in PATH: run 'make setup'"
	if !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("error %q does not end with %q", err, want)
	}
}

func TestStartRequiresDir(t *testing.T) {
	if _, err := chserver.Start(context.Background(), chserver.Options{}); err == nil {
		t.Fatal("Start without Dir succeeded")
	}
}

// fakeServer puts a shell script named clickhouse-server first in PATH. It
// appends one line to calls per run and then runs body.
func fakeServer(t *testing.T, body string) (calls string) {
	t.Helper()
	bin := t.TempDir()
	calls = filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho run >> " + calls + "\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(bin, chserver.Binary), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestStartFailureReportsLogs checks that a server exiting before it is ready
// fails Start at once with its error log and stderr in the error.
func TestStartFailureReportsLogs(t *testing.T) {
	calls := fakeServer(t, `dir=$(dirname "${1#--config-file=}")
echo "<Error> Application: Not found: something_required" >> "$dir/log/clickhouse-server.err.log"
echo "fatal: giving up" >&2
exit 70`)
	begin := time.Now()
	_, err := chserver.Start(context.Background(), chserver.Options{Dir: t.TempDir()})
	if err == nil {
		t.Fatal("Start succeeded with a failing server")
	}
	t.Logf("failed after %v: %v", time.Since(begin), err)
	for _, want := range []string{"exit status 70", "Not found: something_required", "fatal: giving up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if n := countLines(t, calls); n != 1 {
		t.Errorf("server ran %d times, want 1 (no retry for a non-port failure)", n)
	}
}

// TestStartRetriesTakenPorts checks that Start picks new ports when the server
// reports its address in use, and gives up after a few attempts.
func TestStartRetriesTakenPorts(t *testing.T) {
	calls := fakeServer(t, `dir=$(dirname "${1#--config-file=}")
echo "<Error> Application: Net Exception: Address already in use: 127.0.0.1:1" >> "$dir/log/clickhouse-server.err.log"
exit 70`)
	_, err := chserver.Start(context.Background(), chserver.Options{Dir: t.TempDir()})
	if err == nil {
		t.Fatal("Start succeeded with a failing server")
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error lacks the log line: %v", err)
	}
	if n := countLines(t, calls); n < 2 {
		t.Errorf("server ran %d times, want retries", n)
	}
}

// TestStartTimeout checks that a server that never answers /ping fails Start
// when ctx ends, and is not left running.
func TestStartTimeout(t *testing.T) {
	fakeServer(t, `exec sleep 60`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := chserver.Start(ctx, chserver.Options{Dir: t.TempDir()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start: %v, want context.DeadlineExceeded", err)
	}
}
