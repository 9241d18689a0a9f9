package netnstest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// LLDPDConfig is what a test lldpd announces.
type LLDPDConfig struct {
	// Interface is the one interface lldpd uses (-I).
	Interface string
	// Hostname is the system name sent.
	Hostname string
	// Description is the system description sent; empty keeps lldpd's.
	Description string
	// TxInterval in seconds (lldpd's minimum is 1); 0 means 1.
	TxInterval int
	// TxHold multiplies TxInterval into the TTL sent; 0 keeps lldpd's 4.
	TxHold int
	// PortIDSubtype is "ifname", "macaddress" or "" for lldpd's choice.
	PortIDSubtype string
	// Extra lines appended to lldpd.conf (lldpcli commands).
	Extra []string
	// Args are extra lldpd flags, e.g. "-M", "4" for LLDP-MED.
	Args []string
}

// LLDPD is a running lldpd in a namespace, stopped by t.Cleanup.
type LLDPD struct {
	// Socket is the lldpctl socket (lldpcli -u).
	Socket string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
}

// StartLLDPD runs `lldpd -d` inside ns with its own control socket and
// configuration file in a fresh directory. lldpd drops privileges, so the
// directory is readable by all (t.TempDir's is not).
func StartLLDPD(t testing.TB, ns *NS, cfg LLDPDConfig) *LLDPD {
	t.Helper()
	Require(t)
	dir, err := os.MkdirTemp("", "rtlldp-lldpd-")
	if err != nil {
		t.Fatalf("netnstest: lldpd dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("netnstest: chmod %s: %v", dir, err)
	}
	if cfg.TxInterval == 0 {
		cfg.TxInterval = 1
	}
	var conf strings.Builder
	if cfg.Hostname != "" {
		fmt.Fprintf(&conf, "configure system hostname %s\n", cfg.Hostname)
	}
	if cfg.Description != "" {
		fmt.Fprintf(&conf, "configure system description %q\n", cfg.Description)
	}
	fmt.Fprintf(&conf, "configure lldp tx-interval %d\n", cfg.TxInterval)
	if cfg.TxHold != 0 {
		fmt.Fprintf(&conf, "configure lldp tx-hold %d\n", cfg.TxHold)
	}
	if cfg.PortIDSubtype != "" {
		fmt.Fprintf(&conf, "configure lldp portidsubtype %s\n", cfg.PortIDSubtype)
	}
	for _, l := range cfg.Extra {
		conf.WriteString(l + "\n")
	}
	confPath := filepath.Join(dir, "lldpd.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatalf("netnstest: write lldpd.conf: %v", err)
	}
	logf, err := os.Create(filepath.Join(dir, "lldpd.log"))
	if err != nil {
		t.Fatalf("netnstest: lldpd log: %v", err)
	}
	defer logf.Close()

	d := &LLDPD{Socket: filepath.Join(dir, "lldpd.socket"), dir: dir, exited: make(chan struct{})}
	// `ip netns exec` execs lldpd in place, so the PID is lldpd's.
	args := append([]string{"netns", "exec", ns.Name, "lldpd", "-d", "-u", d.Socket, "-O", confPath, "-I", cfg.Interface}, cfg.Args...)
	d.cmd = exec.Command("ip", args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("netnstest: start lldpd: %v", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "lldpd.log"))
			t.Logf("lldpd log (%s):\n%s", ns.Name, b)
		}
	})
	// Ready when the control socket answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := exec.Command("lldpcli", "-u", d.Socket, "show", "configuration").Run()
		if err == nil {
			break
		}
		select {
		case <-d.exited:
			b, _ := os.ReadFile(filepath.Join(dir, "lldpd.log"))
			t.Fatalf("netnstest: lldpd exited at start: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("netnstest: lldpd control socket %s not ready: %v", d.Socket, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// kill ends the whole process group (lldpd forks a privileged monitor)
// with SIGKILL, so no shutdown LLDPDU is sent, and waits for it.
func (d *LLDPD) kill() {
	_ = unix.Kill(-d.cmd.Process.Pid, unix.SIGKILL)
	<-d.exited
}

// Kill stops lldpd abruptly (SIGKILL): its neighbours learn of it only
// when the TTL runs out.
func (d *LLDPD) Kill(t testing.TB) {
	t.Helper()
	d.kill()
}

// Stop stops lldpd gracefully (SIGTERM): it sends a shutdown LLDPDU
// (TTL 0) on its interface before exiting.
func (d *LLDPD) Stop(t testing.TB) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("netnstest: SIGTERM lldpd: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("netnstest: lldpd did not exit within 10s of SIGTERM")
	}
	_ = unix.Kill(-d.cmd.Process.Pid, unix.SIGKILL) // the monitor, if left
}

// Cli runs `lldpcli -u SOCKET args...` and returns its output.
func (d *LLDPD) Cli(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("lldpcli", append([]string{"-u", d.Socket}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("netnstest: lldpcli %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// Neighbors returns what lldpd has learnt, as the key=value lines of
// `lldpcli -f keyvalue show neighbors details` (e.g.
// "lldp.near0.chassis.name" -> "agent-1").
func (d *LLDPD) Neighbors(t testing.TB) map[string]string {
	t.Helper()
	out := d.Cli(t, "-f", "keyvalue", "show", "neighbors", "details")
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			if _, dup := kv[k]; dup {
				kv[k] += "," + v
			} else {
				kv[k] = v
			}
		}
	}
	return kv
}
