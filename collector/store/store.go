// Package store is the collector's ClickHouse inventory: the schema and its
// migrations, the writer that turns batches of observations into raw rows
// and current state, and the queries the API answers from.
//
// Only the native protocol is used, and every insert goes through
// PrepareBatch with an explicit column list, which is what works against
// ClickHouse 18.16 as well as current releases. All SQL names tables with
// their database, so the connection needs no default database.
//
// A Store is safe for concurrent use.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/racktrack/racktrack/internal/secret"
)

// Options configure a Store.
type Options struct {
	// Addr is the native-protocol host:port. Required.
	Addr string
	// Database holds every table; it is created by Migrate. Required; it
	// must be a plain identifier.
	Database string
	Username string
	Password secret.Secret
	// DialTimeout bounds connecting; 0 means 5s.
	DialTimeout time.Duration
	// QueryTimeout bounds each statement; 0 means 30s.
	QueryTimeout time.Duration
	// Compression of the native protocol: "lz4" (the default, for a
	// server across a network) or "none" (a server on the same host,
	// where compressing costs more CPU than it saves).
	Compression string
	// Logger receives migration progress. Nil discards.
	Logger *slog.Logger
}

// Store reads and writes the inventory in ClickHouse.
type Store struct {
	conn         driver.Conn
	db           string
	addr         string
	queryTimeout time.Duration
	log          *slog.Logger
}

// Open prepares a connection pool. It does not dial: the first statement
// does, so Open succeeds while ClickHouse is down.
func Open(opts Options) (*Store, error) {
	if opts.Addr == "" {
		return nil, errors.New("store: Options.Addr is required")
	}
	if !validIdentifier(opts.Database) {
		return nil, fmt.Errorf("store: database name %q is not a plain identifier", opts.Database)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 30 * time.Second
	}
	var compression *clickhouse.Compression
	switch opts.Compression {
	case "", "lz4":
		compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	case "none":
	default:
		return nil, fmt.Errorf("store: compression %q is neither lz4 nor none", opts.Compression)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native,
		Addr:     []string{opts.Addr},
		Auth: clickhouse.Auth{
			Username: opts.Username,
			Password: opts.Password.Reveal(),
		},
		DialTimeout:  opts.DialTimeout,
		ReadTimeout:  opts.QueryTimeout,
		MaxOpenConns: 8,
		MaxIdleConns: 4,
		Compression:  compression,
		Logger:       slog.New(slog.DiscardHandler),
		ClientInfo: clickhouse.ClientInfo{Products: []struct {
			Name    string
			Version string
		}{{Name: "racktrack-collector", Version: "1"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("store: clickhouse %s: %w", opts.Addr, err)
	}
	return &Store{conn: conn, db: opts.Database, addr: opts.Addr, queryTimeout: opts.QueryTimeout, log: logger}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.conn.Close() }

// Database returns the database name.
func (s *Store) Database() string { return s.db }

// Ping checks that ClickHouse answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()
	if err := s.conn.Ping(ctx); err != nil {
		return s.opError("ping", err)
	}
	return nil
}

// OpError is the error of every Store method that reached (or tried to
// reach) ClickHouse: which server, which operation, and the cause.
type OpError struct {
	Addr string
	// Op names the operation, e.g. "insert observations" or
	// "migration 1 (initial schema)".
	Op  string
	Err error
}

func (e *OpError) Error() string { return fmt.Sprintf("clickhouse %s: %s: %v", e.Addr, e.Op, e.Err) }

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same operation cannot help: the
// server answered with an error about the statement, the schema or the
// credentials (a *clickhouse.Exception other than a few transient codes).
// Network errors, timeouts and server overload are not permanent.
func (e *OpError) Permanent() bool {
	var ex *clickhouse.Exception
	if !errors.As(e.Err, &ex) {
		return false
	}
	switch ex.Code {
	case 159, // TIMEOUT_EXCEEDED
		164, // READONLY (replica in read-only mode)
		202, // TOO_MANY_SIMULTANEOUS_QUERIES
		209, // SOCKET_TIMEOUT
		210, // NETWORK_ERROR
		241, // MEMORY_LIMIT_EXCEEDED
		252, // TOO_MANY_PARTS
		242, // TABLE_IS_READ_ONLY
		394: // QUERY_WAS_CANCELLED
		return false
	}
	return true
}

func (s *Store) opError(op string, err error) error {
	return &OpError{Addr: s.addr, Op: op, Err: err}
}

// withTimeout bounds one statement.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.queryTimeout)
}

// t returns the qualified name of table.
func (s *Store) t(table string) string { return s.db + "." + table }

func validIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
