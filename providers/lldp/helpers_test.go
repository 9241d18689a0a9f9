package lldp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/racktrack/racktrack/internal/netnstest"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

var updateCorpus = flag.Bool("lldp.update-corpus", false, "write the lldpd frames captured by the tests to testdata/fuzz/FuzzDecode")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// nsPrefix names every namespace these tests create.
const nsPrefix = "rtlldp"

var (
	nearMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x0a, 0x01}
	farMAC  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x0b, 0x07}
)

// link is two namespaces joined by a veth pair: near0 (where the provider
// listens) and swp7 (the "switch" side, where lldpd runs).
type link struct {
	near, far       *netnstest.NS
	nearEnd, farEnd netnstest.End
}

func newNamespaces(t *testing.T) *link {
	t.Helper()
	l := &link{near: netnstest.NewNS(t, nsPrefix), far: netnstest.NewNS(t, nsPrefix)}
	l.nearEnd = netnstest.End{NS: l.near, Name: "near0", MAC: nearMAC, Addr: "192.0.2.1/24"}
	l.farEnd = netnstest.End{NS: l.far, Name: "swp7", MAC: farMAC, Addr: "192.0.2.2/24"}
	return l
}

func newLink(t *testing.T) *link {
	t.Helper()
	l := newNamespaces(t)
	netnstest.Veth(t, l.nearEnd, l.farEnd)
	return l
}

// ifIndex is the index of an interface inside ns.
func ifIndex(t *testing.T, ns *netnstest.NS, name string) int32 {
	t.Helper()
	var idx int
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err == nil {
			idx = ifi.Index
		}
		return err
	}); err != nil {
		t.Fatalf("interface %s in %s: %v", name, ns.Name, err)
	}
	return int32(idx)
}

// farLLDPD starts lldpd on swp7 with the settings the tests rely on.
func (l *link) farLLDPD(t *testing.T, hostname string, hold int, extra ...string) *netnstest.LLDPD {
	t.Helper()
	return netnstest.StartLLDPD(t, l.far, netnstest.LLDPDConfig{
		Interface: "swp7", Hostname: hostname, Description: "test switch",
		TxInterval: 1, TxHold: hold, PortIDSubtype: "ifname",
		Extra: append([]string{"configure system ip management pattern 192.0.2.2"}, extra...),
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// startProvider runs a provider until the test ends.
func startProvider(t *testing.T, cfg Config) (*Provider, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Options{Registerer: reg, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p, reg
}

func testConfig(ns *netnstest.NS, ifaces ...string) Config {
	cfg := DefaultConfig()
	cfg.Interfaces = ifaces
	cfg.NetNS = ns.Path
	cfg.RescanInterval = 100 * time.Millisecond
	return cfg
}

const waitLimit = 15 * time.Second

// waitPoll polls p whenever it notifies (and every 100ms, for conditions
// that are not table changes) until cond holds, and returns that result.
func waitPoll(t *testing.T, p *Provider, what string, cond func(*racktrackv1.Observation, error) bool) (*racktrackv1.Observation, error) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := p.Poll(context.Background())
		var obs *racktrackv1.Observation
		if err == nil {
			if len(res.Observations) != 1 {
				t.Fatalf("Poll returned %d observations, want 1", len(res.Observations))
			}
			obs = res.Observations[0]
		}
		if cond(obs, err) {
			return obs, err
		}
		select {
		case <-p.Notify():
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %s; last poll: %v, err %v", what, waitLimit, obs, err)
		}
	}
}

// waitTable waits until the neighbour table satisfies cond.
func waitTable(t *testing.T, p *Provider, what string, cond func([]*racktrackv1.LLDPNeighbor) bool) []*racktrackv1.LLDPNeighbor {
	t.Helper()
	obs, _ := waitPoll(t, p, what, func(o *racktrackv1.Observation, err error) bool {
		return err == nil && cond(o.GetLldpNeighbors().GetNeighbors())
	})
	return obs.GetLldpNeighbors().GetNeighbors()
}

func empty(ns []*racktrackv1.LLDPNeighbor) bool { return len(ns) == 0 }

// waitListening waits until p listens on every configured interface.
func waitListening(t *testing.T, p *Provider) {
	t.Helper()
	waitPoll(t, p, "listening", func(o *racktrackv1.Observation, err error) bool {
		return err == nil && o.Complete
	})
}

// counter reads the value of one counter or gauge.
func counter(m prometheus.Metric) float64 {
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		panic(err)
	}
	if pb.Counter != nil {
		return pb.Counter.GetValue()
	}
	return pb.Gauge.GetValue()
}

// capture records every LLDP frame arriving on an interface of ns, through
// a socket of its own, until the test ends.
type capture struct {
	mu     sync.Mutex
	frames [][]byte
}

func startCapture(t *testing.T, ns *netnstest.NS, iface string) *capture {
	t.Helper()
	var c *packet.Conn
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		if c, err = packet.Listen(ifi, packet.Raw, 0x88cc, nil); err != nil {
			return err
		}
		return c.JoinGroup(Multicast)
	}); err != nil {
		t.Fatalf("capture on %s: %v", iface, err)
	}
	cp := &capture{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, maxFrameLen)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			cp.mu.Lock()
			cp.frames = append(cp.frames, append([]byte(nil), buf[:n]...))
			cp.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return cp
}

// last returns the most recent captured frame that decodes to a neighbour
// for which match holds.
func (c *capture) last(t *testing.T, match func(*racktrackv1.LLDPNeighbor) bool) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.frames) - 1; i >= 0; i-- {
		if n, err := Decode(c.frames[i]); err == nil && match(n) {
			return c.frames[i]
		}
	}
	t.Fatalf("no captured frame matches (of %d)", len(c.frames))
	return nil
}

// saveCorpus writes frame as a seed of FuzzDecode when -lldp.update-corpus
// is set.
func saveCorpus(t *testing.T, name string, frame []byte) {
	t.Helper()
	if !*updateCorpus {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frame)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sender opens a raw socket on an interface of ns to inject frames.
func sender(t *testing.T, ns *netnstest.NS, iface string) func(frame []byte) {
	t.Helper()
	var c *packet.Conn
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, 0x88b5, nil) // local experimental EtherType: receives nothing we send
		return err
	}); err != nil {
		t.Fatalf("sender on %s: %v", iface, err)
	}
	t.Cleanup(func() { c.Close() })
	return func(frame []byte) {
		t.Helper()
		if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: Multicast}); err != nil {
			t.Fatalf("send %d-byte frame: %v", len(frame), err)
		}
	}
}

// targetError asserts err is a *providers.TargetError of kind and returns it.
func targetError(t *testing.T, err error, kind providers.ErrorKind) *providers.TargetError {
	t.Helper()
	var te *providers.TargetError
	if !errors.As(err, &te) {
		t.Fatalf("err %v (%T) is not a *providers.TargetError", err, err)
	}
	if te.Provider != "lldp" || te.Target != Target || te.Kind != kind {
		t.Errorf("TargetError %+v, want provider lldp, target %s, kind %s", te, Target, kind)
	}
	return te
}

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// waitFor checks cond every 100ms until it holds or the wait limit passes.
func waitFor(t *testing.T, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; state: %s", what, waitLimit, describe())
		}
		<-tick.C
	}
}
