// Package testenv starts the real peers that tests run against: private
// ClickHouse servers (child processes, see internal/chserver) and in-process
// Kafka clusters (kfake). Import it from _test.go files only.
//
// A missing dependency fails the test with a message naming `make setup`; no
// helper here ever skips.
//
// Per-test resources ([ClickHouse], [Kafka]) are stopped with t.Cleanup.
// Per-binary resources ([SharedClickHouse]) need the package's TestMain to go
// through this package, which stops them after the tests have run:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// or, to check for leaked goroutines after the shared resources are gone:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(testenv.WrapM(m)) }
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Main runs the tests of m, stops the per-binary shared resources and exits
// with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(WrapM(m).Run())
}

// M wraps a *testing.M so that Run also stops the per-binary shared
// resources. It satisfies goleak.TestingM.
type M struct {
	m *testing.M
}

// WrapM returns m wrapped for use as a TestMain runner, for example with
// goleak.VerifyTestMain.
func WrapM(m *testing.M) M { return M{m: m} }

// Run runs the tests, then stops the shared resources. It returns the tests'
// exit code, or 1 if the tests passed but the teardown failed.
func (w M) Run() int {
	mainActive.Store(true)
	code := w.m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: teardown: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
