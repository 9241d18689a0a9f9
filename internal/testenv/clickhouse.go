package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/racktrack/racktrack/internal/chserver"
)

// startTimeout bounds starting a ClickHouse server; it is normally ready in
// well under a second.
const startTimeout = time.Minute

// queryTimeout bounds the helpers' own statements (CREATE/DROP DATABASE).
const queryTimeout = 30 * time.Second

// ClickHouse starts a private ClickHouse server in a temporary directory on
// free loopback ports and kills it when the test ends (the data is thrown
// away, so there is no graceful stop to wait for). The test may stop and
// start the server itself ([chserver.Server.Stop], [chserver.Server.Kill],
// [chserver.Server.Start]) to simulate an outage.
//
// If clickhouse-server is not installed the test fails with a message naming
// `make setup`.
func ClickHouse(t testing.TB) *chserver.Server {
	t.Helper()
	// TempDir before Cleanup: cleanups run last-in first-out, so the server
	// is stopped before its directory is removed.
	dir := t.TempDir()
	srv, err := startClickHouse(dir)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		// The data is thrown away, so SIGKILL: a graceful stop takes ~1 s.
		// Kill still reports a server that had crashed during the test.
		if err := srv.Kill(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return srv
}

func startClickHouse(dir string) (*chserver.Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := chserver.Start(ctx, chserver.Options{Dir: dir})
	if err != nil && !errors.Is(err, chserver.ErrNotInstalled) {
		return nil, fmt.Errorf("start ClickHouse: %w", err)
	}
	return srv, err
}

// mainActive is set once the test binary runs its tests through [M.Run], so
// shared resources will be stopped.
var mainActive atomic.Bool

// shared is the per-binary ClickHouse server of [SharedClickHouse].
var shared struct {
	mu   sync.Mutex
	done bool // a start was attempted; srv or err holds its result
	srv  *chserver.Server
	dir  string
	err  error
}

// SharedClickHouse returns the test binary's shared ClickHouse server,
// starting it on first use. It is stopped, and its directory removed, after
// all tests have run; that requires the package's TestMain to call [Main] (or
// run [WrapM]), and SharedClickHouse fails the test otherwise.
//
// Tests share the server, so each should work in its own database
// ([ClickHouseDatabase]) and must not stop the server: a test that simulates
// an outage takes a private server from [ClickHouse].
func SharedClickHouse(t testing.TB) *chserver.Server {
	t.Helper()
	if !mainActive.Load() {
		t.Fatalf("testenv: SharedClickHouse needs the package's TestMain to stop the server: " +
			"func TestMain(m *testing.M) { testenv.Main(m) }")
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.done {
		shared.done = true
		shared.err = func() error {
			dir, err := os.MkdirTemp("", "racktrack-clickhouse-")
			if err != nil {
				return fmt.Errorf("start ClickHouse: %w", err)
			}
			shared.dir = dir
			shared.srv, err = startClickHouse(dir)
			return err
		}()
	}
	if shared.err != nil {
		t.Fatalf("testenv: shared server: %v", shared.err)
	}
	return shared.srv
}

// stopShared stops the shared server, if one was started, and removes its
// directory.
func stopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	var errs []error
	if shared.srv != nil {
		errs = append(errs, shared.srv.Kill()) // data is thrown away; see ClickHouse
		shared.srv = nil
	}
	if shared.dir != "" {
		if err := os.RemoveAll(shared.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove ClickHouse dir: %w", err))
		}
		shared.dir = ""
	}
	shared.done, shared.err = false, nil
	return errors.Join(errs...)
}

// dbSeq makes database names unique within the test binary (every server is
// private to one binary).
var dbSeq atomic.Uint64

// ClickHouseDatabase creates a new, uniquely named database on srv and returns
// its name, which is safe to use unquoted in SQL. The database is dropped when
// the test ends if the server is still running then.
func ClickHouseDatabase(t testing.TB, srv *chserver.Server) string {
	t.Helper()
	name := fmt.Sprintf("test_%s_%d", identifier(t.Name(), 40), dbSeq.Add(1))
	if err := exec(srv, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if !srv.Running() {
			return // stopped by the test; the directory goes with the server
		}
		if err := exec(srv, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return name
}

// ClickHouseConn opens a native-protocol connection to database on srv as user
// "default", and closes it when the test ends. ClickHouse 18.16 accepts
// inserts only through PrepareBatch with an explicit column list.
func ClickHouseConn(t testing.TB, srv *chserver.Server, database string) driver.Conn {
	t.Helper()
	conn, err := openConn(srv.Addr(), database)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Errorf("testenv: close ClickHouse %s: %v", srv.Addr(), err)
		}
	})
	return conn
}

func openConn(addr, database string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: database, Username: "default"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("open ClickHouse %s/%s: %w", addr, database, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping ClickHouse %s/%s: %w", addr, database, err)
	}
	return conn, nil
}

// exec runs one statement on srv's default database over a short-lived
// connection.
func exec(srv *chserver.Server, query string) error {
	conn, err := openConn(srv.Addr(), "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	if err := conn.Exec(ctx, query); err != nil {
		return fmt.Errorf("ClickHouse %s: %s: %w", srv.Addr(), query, err)
	}
	return nil
}

// identifier maps s to at most n characters of [a-z0-9_].
func identifier(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() == n {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
