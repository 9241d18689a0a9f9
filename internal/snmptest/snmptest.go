// Package snmptest starts real SNMP peers for tests: net-snmp snmpd with
// lldpd exporting LLDP-MIB over AgentX inside two network namespaces
// joined by a veth pair, and snmpsimd serving a recording. Every process
// and namespace is removed with t.Cleanup. Missing Debian packages or
// root make the test fail with a message naming `make setup`.
package snmptest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Require fails the test when a binary or root is missing.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("snmptest: needs root for network namespaces (run the tests as root after `make setup`)")
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("snmptest: %s not found: run `make setup` (Debian packages snmpd snmp lldpd snmpsim iproute2)", b)
		}
	}
}

// Users configured in the snmpd of a Switch.
const (
	Community     = "rt-public"
	V3User        = "rtuser"      // SHA / AES, authPriv, read-write
	V3User256     = "rtuser256"   // SHA-256 / AES-256, authPriv, read-only
	V3AuthPass    = "authpass123" // for both users
	V3PrivPass    = "privpass123" // for both users
	SysName       = "sw-a"        // sysName of the snmpd
	SysLocation   = "rack 7, row 3"
	SysContact    = "noc@example.net"
	LocalPortMAC  = "02:00:5e:00:53:01" // swp1 in namespace A
	PeerPortMAC   = "02:00:5e:00:53:07" // swp7 in namespace B
	PeerHostname  = "sw-b"              // lldpd system name in B
	LocalHostname = "sw-a"
	PeerAddress   = "192.0.2.7"
	LocalAddress  = "192.0.2.1"
)

// Switch is namespace A (snmpd + lldpd, port swp1) cabled to namespace
// B (lldpd, port swp7). The agent listens on 127.0.0.1:161 inside A;
// reach it from a goroutine that entered A with InNetns.
type Switch struct {
	NS, PeerNS string
	Addr       string // agent address inside NS
	Dir        string
}

func randName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "rtsnmp-" + hex.EncodeToString(b)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("snmptest: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// daemon starts a long-running child that dies with the test binary.
func daemon(t testing.TB, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("snmptest: start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return cmd
}

// StartSwitch builds the two namespaces, starts snmpd and both lldpd, and
// waits until snmpd serves the neighbour in lldpRemTable.
func StartSwitch(t testing.TB) *Switch {
	t.Helper()
	Require(t, "ip", "snmpd", "lldpd", "snmpwalk")
	s := &Switch{NS: randName(), PeerNS: randName(), Addr: "127.0.0.1:161", Dir: publicDir(t)}
	run(t, "ip", "netns", "add", s.NS)
	t.Cleanup(func() { removeNetns(s.NS) })
	run(t, "ip", "netns", "add", s.PeerNS)
	t.Cleanup(func() { removeNetns(s.PeerNS) })
	run(t, "ip", "link", "add", "swp1", "netns", s.NS, "type", "veth", "peer", "name", "swp7", "netns", s.PeerNS)
	run(t, "ip", "-n", s.NS, "link", "set", "lo", "up")
	run(t, "ip", "-n", s.PeerNS, "link", "set", "lo", "up")
	run(t, "ip", "-n", s.NS, "link", "set", "swp1", "address", LocalPortMAC, "up")
	run(t, "ip", "-n", s.PeerNS, "link", "set", "swp7", "address", PeerPortMAC, "up")
	run(t, "ip", "-n", s.NS, "addr", "add", LocalAddress+"/24", "dev", "swp1")
	run(t, "ip", "-n", s.PeerNS, "addr", "add", PeerAddress+"/24", "dev", "swp7")

	sock := filepath.Join(s.Dir, "agentx.sock")
	conf := fmt.Sprintf(`agentAddress udp:%s
master agentx
agentXSocket %s
agentXPerms 0660 0770
rocommunity %s 127.0.0.1
createUser %s SHA "%s" AES "%s"
rwuser %s authpriv
createUser %s SHA-256 "%s" AES-256 "%s"
rouser %s authpriv
sysName %s
sysLocation %s
sysContact %s
`, s.Addr, sock, Community, V3User, V3AuthPass, V3PrivPass, V3User, V3User256, V3AuthPass, V3PrivPass, V3User256, SysName, SysLocation, SysContact)
	if err := os.WriteFile(filepath.Join(s.Dir, "snmpd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "persist"), 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(sock)
	daemon(t, []string{"MIBS=:", "SNMP_PERSISTENT_DIR=" + filepath.Join(s.Dir, "persist")},
		"ip", "netns", "exec", s.NS, "snmpd", "-f", "-C", "-c", filepath.Join(s.Dir, "snmpd.conf"),
		"-Lf", filepath.Join(s.Dir, "snmpd.log"), "-p", filepath.Join(s.Dir, "snmpd.pid"))
	s.waitWalk(t, "1.3.6.1.2.1.1.5", SysName, 10*time.Second)

	for _, side := range []struct{ ns, dir, host, port string }{
		{s.NS, "a", LocalHostname, "swp1"}, {s.PeerNS, "b", PeerHostname, "swp7"},
	} {
		d := filepath.Join(s.Dir, side.dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		lconf := fmt.Sprintf("configure system hostname %s\nconfigure lldp tx-interval 1\nconfigure lldp portidsubtype ifname\n", side.host)
		if err := os.WriteFile(filepath.Join(d, "lldpd.conf"), []byte(lconf), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"netns", "exec", side.ns, "lldpd", "-d", "-u", filepath.Join(d, "lldpd.socket"),
			"-O", filepath.Join(d, "lldpd.conf"), "-I", side.port}
		if side.dir == "a" {
			args = append(args, "-x", "-X", sock)
		}
		daemon(t, nil, "ip", args...)
	}
	// lldpRemSysName of the neighbour.
	s.waitWalk(t, "1.0.8802.1.1.2.1.4.1.1.9", PeerHostname, 30*time.Second)
	return s
}

// waitWalk polls snmpwalk inside NS until its output contains want.
func (s *Switch) waitWalk(t testing.TB, oid, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last []byte
	for time.Now().Before(deadline) {
		last, _ = exec.Command("ip", "netns", "exec", s.NS, "snmpwalk", "-v2c", "-c", Community, "-t", "0.5", "-r", "0",
			s.Addr, oid).CombinedOutput()
		if bytes.Contains(last, []byte(want)) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.Dir, "snmpd.log"))
	t.Fatalf("snmptest: %s never showed %q within %s: %s\nsnmpd.log:\n%s", oid, want, limit, last, log)
}

// InNetns runs fn on a goroutine whose thread entered namespace ns, and
// waits for it. Sockets fn creates live in ns. The thread returns to its
// own namespace afterwards; if it cannot, it stays locked and the Go
// runtime discards it when the goroutine ends.
func InNetns(ns string, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer unix.Close(home)
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		fn()
		if err := unix.Setns(home, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- nil
	}()
	return <-errc
}

func removeNetns(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = exec.Command("ip", "netns", "del", ns).Run()
}

// IfIndex returns the ifIndex of an interface inside namespace ns.
func IfIndex(ns, name string) (int, error) {
	idx := 0
	var ierr error
	err := InNetns(ns, func() {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			ierr = err
			return
		}
		idx = ifi.Index
	})
	if err != nil {
		return 0, err
	}
	return idx, ierr
}

// Snmpsimd is a running snmpsimd serving one recording.
type Snmpsimd struct {
	Addr string
	// Context (and v2c community) is the recording's base name.
	Context string
}

// snmpsimd v3 users.
const (
	SimUser     = "simuser"    // SHA / AES
	SimUser256  = "simuser256" // SHA-256 / AES-256 (Blumenthal key extension)
	SimAuthPass = "authpass123"
	SimPrivPass = "privpass123"
)

// StartSnmpsimd serves the .snmprec file data (already uncompressed) as
// context name on 127.0.0.1 and a free port.
func StartSnmpsimd(t testing.TB, name string, data []byte) *Snmpsimd {
	t.Helper()
	Require(t, "snmpsimd", "snmpget")
	dir := publicDir(t)
	dataDir, cache := filepath.Join(dir, "data"), filepath.Join(dir, "cache")
	for _, d := range []string{dataDir, cache} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(d, 0o777)
	}
	if err := os.WriteFile(filepath.Join(dataDir, name+".snmprec"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := freeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	daemon(t, nil, "snmpsimd", "--cache-dir="+cache, "--logging-method=file:"+filepath.Join(dir, "snmpsimd.log"),
		"--v3-engine-id=80001f8804656e766c6162", "--data-dir="+dataDir,
		"--v3-user="+SimUser, "--v3-auth-key="+SimAuthPass, "--v3-auth-proto=SHA", "--v3-priv-key="+SimPrivPass, "--v3-priv-proto=AES",
		"--v3-user="+SimUser256, "--v3-auth-key="+SimAuthPass, "--v3-auth-proto=SHA256", "--v3-priv-key="+SimPrivPass, "--v3-priv-proto=AES256BLMT",
		"--agent-udpv4-endpoint="+addr, "--process-user=nobody", "--process-group=nogroup")
	deadline := time.Now().Add(20 * time.Second)
	var out []byte
	for time.Now().Before(deadline) {
		out, _ = exec.Command("snmpget", "-v2c", "-c", name, "-t", "0.5", "-r", "0", addr, "1.3.6.1.2.1.1.5.0").CombinedOutput()
		if bytes.Contains(out, []byte("STRING")) {
			return &Snmpsimd{Addr: addr, Context: name}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "snmpsimd.log"))
	t.Fatalf("snmptest: snmpsimd not ready on %s: %s\n%s", addr, out, log)
	return nil
}

// publicDir is a temporary directory that daemons dropping privileges
// (lldpd, snmpsimd as nobody) can traverse; t.TempDir's parent is
// private to the test's user.
func publicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rtsnmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	a, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return 0, errors.New("not a UDP address")
	}
	return a.Port, nil
}
