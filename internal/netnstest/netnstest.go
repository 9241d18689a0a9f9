// Package netnstest builds throw-away network namespaces joined by veth
// pairs, and runs Debian's lldpd in them, as real peers for tests. It needs
// root and the iproute2 and lldpd packages (`make setup`). Everything it
// creates is removed by t.Cleanup, also when the test fails.
package netnstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Require fails the test when it cannot create namespaces or run lldpd:
// not root, or a Debian package missing.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("netnstest: network namespace tests need root (run `make test` as root; packages via `make setup`)")
	}
	for _, bin := range []string{"ip", "lldpd", "lldpcli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("netnstest: %s not found (%v): run `make setup` to install iproute2 and lldpd", bin, err)
		}
	}
}

// NS is a network namespace made by NewNS.
type NS struct {
	// Name is the `ip netns` name.
	Name string
	// Path is the namespace file, for setns(2) or a netns config option.
	Path string
}

// NewNS creates a namespace named prefix-<random hex> with its loopback up,
// and removes it (killing what still runs inside) when the test ends.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	Require(t)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("netnstest: random name: %v", err)
	}
	ns := &NS{Name: prefix + "-" + hex.EncodeToString(b[:])}
	ns.Path = "/run/netns/" + ns.Name
	IP(t, "netns", "add", ns.Name)
	t.Cleanup(func() { ns.remove(t) })
	IP(t, "-n", ns.Name, "link", "set", "lo", "up")
	return ns
}

// Delete removes the namespace now (its `ip netns` name and file), as an
// operator would; the kernel frees it once nothing holds it.
func (ns *NS) Delete(t testing.TB) {
	t.Helper()
	ns.remove(t)
}

// remove kills every process left in the namespace and deletes it, unless
// that was done already.
func (ns *NS) remove(t testing.TB) {
	if _, err := os.Stat(ns.Path); errors.Is(err, fs.ErrNotExist) {
		return
	}
	out, _ := exec.Command("ip", "netns", "pids", ns.Name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		t.Errorf("netnstest: ip netns del %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
}

// IP runs `ip args...` and fails the test on error.
func IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netnstest: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// IP runs `ip -n NS args...` inside the namespace.
func (ns *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	return IP(t, append([]string{"-n", ns.Name}, args...)...)
}

// End is one side of a veth pair.
type End struct {
	NS   *NS
	Name string           // interface name inside NS
	MAC  net.HardwareAddr // fixed hardware address
	Addr string           // optional address with prefix, e.g. 192.0.2.1/24
}

// Veth joins a and b with a veth pair, gives each end its MAC and address,
// and brings both up. The pair dies with its namespaces.
func Veth(t testing.TB, a, b End) {
	t.Helper()
	IP(t, "link", "add", a.Name, "netns", a.NS.Name, "address", a.MAC.String(), "type", "veth",
		"peer", "name", b.Name, "netns", b.NS.Name, "address", b.MAC.String())
	for _, e := range []End{a, b} {
		if e.Addr != "" {
			e.NS.IP(t, "addr", "add", e.Addr, "dev", e.Name)
		}
		e.NS.IP(t, "link", "set", e.Name, "up")
	}
}

// Do runs fn on an OS thread that has joined the namespace; sockets fn
// opens belong to the namespace for good. The thread is returned to the
// Go runtime only if it could be moved back to its own namespace.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		orig, err := unix.Open(self, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netnstest: open %s: %w", self, err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netnstest: open %s: %w", ns.Path, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netnstest: setns %s: %w", ns.Path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
