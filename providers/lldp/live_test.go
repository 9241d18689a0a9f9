package lldp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/netnstest"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

// TestNeighborLifecycle runs lldpd on the far end of a veth pair and
// follows its neighbour through appearing, renaming, vanishing after its
// TTL (SIGKILL: no shutdown LLDPDU) and leaving at once (shutdown LLDPDU).
func TestNeighborLifecycle(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	cp := startCapture(t, l.near, "near0")
	p, _ := startProvider(t, testConfig(l.near, "near0"))
	nearIdx := ifIndex(t, l.near, "near0")

	// TTL 3s: tx-interval 1 x tx-hold 3.
	d := l.farLLDPD(t, "sw-far", 3)
	got := waitTable(t, p, "lldpd neighbour", func(ns []*racktrackv1.LLDPNeighbor) bool { return len(ns) == 1 })
	n := got[0]
	for _, c := range []struct{ field, got, want string }{
		{"local port", n.LocalPort, "near0"},
		{"chassis ID subtype", n.ChassisIdSubtype, "mac_address"},
		{"chassis ID", n.ChassisId, "02:00:00:00:0b:07"},
		{"port ID subtype", n.PortIdSubtype, "interface_name"},
		{"port ID", n.PortId, "swp7"},
		{"port description", n.PortDescription, "swp7"},
		{"system name", n.SystemName, "sw-far"},
		{"system description", n.SystemDescription, "test switch"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !slices.Equal(n.ManagementAddresses, []string{"192.0.2.2"}) {
		t.Errorf("management addresses %q, want [192.0.2.2]", n.ManagementAddresses)
	}
	if n.TtlSeconds != 3 || n.LocalPortIndex != nearIdx {
		t.Errorf("ttl %d, local index %d; want 3, %d", n.TtlSeconds, n.LocalPortIndex, nearIdx)
	}
	// The table holds exactly what the wire said.
	frame := cp.last(t, func(x *racktrackv1.LLDPNeighbor) bool { return x.SystemName == "sw-far" })
	fromWire, err := Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	fromWire.LocalPort, fromWire.LocalPortIndex = "near0", nearIdx
	assertNeighbor(t, n, fromWire)
	saveCorpus(t, "lldpd-ifname", frame)

	// Rename: Notify fires and the next Poll has the new name.
	select {
	case <-p.Notify():
	default:
	}
	d.Cli(t, "configure", "system", "hostname", "sw-renamed")
	deadline := time.After(waitLimit)
	for renamed := false; !renamed; {
		select {
		case <-p.Notify():
		case <-deadline:
			t.Fatal("no Notify with the renamed system within the limit")
		}
		res, err := p.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ns := res.Observations[0].GetLldpNeighbors().GetNeighbors()
		renamed = len(ns) == 1 && ns[0].SystemName == "sw-renamed"
		if obs := res.Observations[0]; obs.Snapshot || obs.Source != racktrackv1.Source_SOURCE_LLDP || obs.Target != "lldp" || !obs.Complete {
			t.Errorf("observation envelope %v", obs)
		}
	}
	saveCorpus(t, "lldpd-renamed", cp.last(t, func(x *racktrackv1.LLDPNeighbor) bool { return x.SystemName == "sw-renamed" }))

	// A Poll with nothing changed is a snapshot.
	res, err := p.Poll(context.Background())
	if err != nil || !res.Observations[0].Snapshot {
		t.Errorf("unchanged Poll: snapshot %v, err %v", res.Observations, err)
	}

	// SIGKILL: no shutdown LLDPDU, the neighbour goes when its TTL runs out.
	d.Kill(t)
	waitTable(t, p, "neighbour expiry after SIGKILL", empty)
	if ttl, shut := counter(p.m.removals.WithLabelValues("near0", RemovedTTL)), counter(p.m.removals.WithLabelValues("near0", RemovedShutdown)); ttl != 1 || shut != 0 {
		t.Errorf("removals: ttl %v, shutdown %v; want 1, 0", ttl, shut)
	}

	// Graceful stop with a TTL of 30s: the shutdown LLDPDU removes it at
	// once (the wait limit is half the TTL). This lldpd also sends LLDP-MED
	// and uses the MAC as port ID.
	d2 := netnstest.StartLLDPD(t, l.far, netnstest.LLDPDConfig{
		Interface: "swp7", Hostname: "sw-med", TxInterval: 1, TxHold: 30, PortIDSubtype: "macaddress",
		Args: []string{"-M", "4"},
	})
	got = waitTable(t, p, "second lldpd", func(ns []*racktrackv1.LLDPNeighbor) bool {
		return len(ns) == 1 && ns[0].SystemName == "sw-med"
	})
	if n := got[0]; n.PortIdSubtype != "mac_address" || n.PortId != "02:00:00:00:0b:07" || n.TtlSeconds != 30 {
		t.Errorf("port ID %s %s, ttl %d; want mac_address 02:00:00:00:0b:07, 30", n.PortIdSubtype, n.PortId, n.TtlSeconds)
	}
	if u := counter(p.m.tlvsSkipped.WithLabelValues("near0", "unrecognized")); u == 0 {
		t.Error("LLDP-MED TLVs not counted as unrecognized")
	}
	saveCorpus(t, "lldpd-med-macaddress", cp.last(t, func(x *racktrackv1.LLDPNeighbor) bool { return x.SystemName == "sw-med" }))
	d2.Stop(t)
	waitTable(t, p, "removal on shutdown LLDPDU", empty)
	if shut := counter(p.m.removals.WithLabelValues("near0", RemovedShutdown)); shut != 1 {
		t.Errorf("shutdown removals %v, want 1", shut)
	}
	saveCorpus(t, "lldpd-shutdown", cp.last(t, func(x *racktrackv1.LLDPNeighbor) bool { return x.TtlSeconds == 0 }))
}

// TestInterfacesComeAndGo listens on all interfaces of a namespace that
// starts with only a loopback, and follows a veth that appears, goes down,
// loses its carrier and disappears.
func TestInterfacesComeAndGo(t *testing.T) {
	t.Parallel()
	l := newNamespaces(t)
	p, _ := startProvider(t, testConfig(l.near)) // no interfaces: all of them
	obs, _ := waitPoll(t, p, "first scan", func(o *racktrackv1.Observation, err error) bool { return err == nil })
	if !obs.Complete || len(obs.GetLldpNeighbors().GetNeighbors()) != 0 || counter(p.m.listening) != 0 {
		t.Fatalf("loopback only: %v, listening %v", obs, counter(p.m.listening))
	}

	netnstest.Veth(t, l.nearEnd, l.farEnd)
	l.farLLDPD(t, "sw-far", 30) // TTL 30s: removals below are not expiry
	one := func(ns []*racktrackv1.LLDPNeighbor) bool {
		return len(ns) == 1 && ns[0].LocalPort == "near0" && ns[0].SystemName == "sw-far"
	}
	waitTable(t, p, "neighbour on the new interface", one)

	l.near.IP(t, "link", "set", "near0", "down")
	waitTable(t, p, "flush on admin down", empty)
	waitPoll(t, p, "socket closed", func(*racktrackv1.Observation, error) bool { return counter(p.m.listening) == 0 })
	l.near.IP(t, "link", "set", "near0", "up")
	waitTable(t, p, "neighbour after up", one)

	l.far.IP(t, "link", "set", "swp7", "down") // near0 loses its carrier
	waitTable(t, p, "flush on carrier loss", empty)
	if got := counter(p.m.removals.WithLabelValues("near0", RemovedLinkDown)); got != 2 {
		t.Errorf("link_down removals %v, want 2", got)
	}
	l.far.IP(t, "link", "set", "swp7", "up")
	waitTable(t, p, "neighbour after carrier", one)

	l.far.IP(t, "link", "del", "swp7") // takes near0 with it
	waitTable(t, p, "flush on interface removal", empty)
	waitPoll(t, p, "interface forgotten", func(o *racktrackv1.Observation, err error) bool {
		return err == nil && o.Complete && counter(p.m.listening) == 0
	})
	if got := counter(p.m.removals.WithLabelValues("near0", RemovedInterface)); got != 1 {
		t.Errorf("interface_gone removals %v, want 1", got)
	}
	if got := counter(p.m.removals.WithLabelValues("near0", RemovedTTL)); got != 0 {
		t.Errorf("ttl removals %v, want 0", got)
	}
}

// TestConfiguredInterfaces reports configured interfaces that are missing
// or down as incomplete, and fails the poll when none is listened on.
func TestConfiguredInterfaces(t *testing.T) {
	t.Parallel()
	l := newNamespaces(t)
	p, _ := startProvider(t, testConfig(l.near, "near0", "ghost0"))
	_, err := waitPoll(t, p, "listen error", func(_ *racktrackv1.Observation, err error) bool { return err != nil && !errors.Is(err, ErrNotRunning) })
	te := targetError(t, err, providers.KindRefused)
	if te.Operation != "listen" || !errors.Is(err, ErrInterfaceNotFound) {
		t.Errorf("operation %q, err %v; want listen, interface not found", te.Operation, err)
	}

	netnstest.Veth(t, l.nearEnd, l.farEnd)
	l.farLLDPD(t, "sw-far", 30)
	obs, _ := waitPoll(t, p, "partial table", func(o *racktrackv1.Observation, err error) bool {
		return err == nil && len(o.GetLldpNeighbors().GetNeighbors()) == 1
	})
	if obs.Complete || !slices.Equal(obs.Incomplete, []string{"ghost0: interface not found"}) {
		t.Errorf("complete %v, incomplete %q", obs.Complete, obs.Incomplete)
	}

	l.near.IP(t, "link", "set", "near0", "down")
	_, err = waitPoll(t, p, "all down", func(_ *racktrackv1.Observation, err error) bool { return errors.Is(err, ErrInterfaceDown) })
	if !errors.Is(err, ErrInterfaceNotFound) {
		t.Errorf("err %v should name ghost0 too", err)
	}
	targetError(t, err, providers.KindRefused)
}

// TestTransmit has lldpd on the far side learn the agent host from the
// provider's LLDPDUs, and forget it at once on the shutdown LLDPDU.
func TestTransmit(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	d := l.farLLDPD(t, "sw-far", 30)
	cfg := testConfig(l.near, "near0")
	cfg.Transmit = TransmitConfig{Enabled: true, Interval: 10 * time.Second, SystemName: "rack7-agent", ManagementAddress: "192.0.2.1"}
	reg := newRegistry()
	p, err := New(cfg, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	stop := sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			return err
		}
		return <-done
	})
	t.Cleanup(func() { stop() })

	want := map[string]string{
		"lldp.swp7.chassis.mac":     "02:00:00:00:0a:01",
		"lldp.swp7.chassis.name":    "rack7-agent",
		"lldp.swp7.chassis.descr":   "racktrack-agent",
		"lldp.swp7.chassis.mgmt-ip": "192.0.2.1",
		"lldp.swp7.port.ifname":     "near0",
		"lldp.swp7.port.descr":      "near0",
		"lldp.swp7.port.ttl":        "41",
	}
	waitFor(t, "lldpd learns the agent", func() bool {
		kv := d.Neighbors(t)
		for k, v := range want {
			if kv[k] != v {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprint(d.Neighbors(t)) })
	// The provider hears lldpd at the same time.
	waitTable(t, p, "lldpd heard", func(ns []*racktrackv1.LLDPNeighbor) bool { return len(ns) == 1 })

	// Close sends a shutdown LLDPDU: lldpd drops us well before the 41s TTL.
	if err := stop(); err != nil {
		t.Fatalf("Close/Run: %v", err)
	}
	waitFor(t, "lldpd forgets the agent", func() bool { return d.Neighbors(t)["lldp.swp7.chassis.name"] == "" },
		func() string { return fmt.Sprint(d.Neighbors(t)) })
	if got := counter(p.m.transmitted.WithLabelValues("near0")); got < 2 {
		t.Errorf("transmitted %v, want at least an LLDPDU and a shutdown LLDPDU", got)
	}
	if _, err := p.Poll(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Poll after Close: %v, want ErrNotRunning", err)
	}
}

// TestLifecycle checks Run and Close in every order.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	newP := func() *Provider {
		cfg := DefaultConfig()
		cfg.Interfaces = []string{"rtlldp-none0"}
		p, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()

	p := newP()
	_, err := p.Poll(ctx)
	if te := targetError(t, err, providers.KindRefused); !errors.Is(te, ErrNotRunning) || te.Operation != "poll" {
		t.Errorf("Poll before Run: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("Close before Run: %v", err)
	}
	if err := p.Run(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}

	p = newP()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	waitPoll(t, p, "running", func(_ *racktrackv1.Observation, err error) bool { return errors.Is(err, ErrInterfaceNotFound) })
	if err := p.Run(ctx); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Run: %v, want ErrAlreadyStarted", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("Close after Run returned: %v", err)
	}

	p = newP()
	go func() { done <- p.Run(ctx) }()
	waitPoll(t, p, "running", func(_ *racktrackv1.Observation, err error) bool { return errors.Is(err, ErrInterfaceNotFound) })
	if err := p.Close(ctx); err != nil {
		t.Errorf("Close while running: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run stopped by Close: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}

	if _, err := p.Apply(ctx, &racktrackv1.Operation{Kind: "lldp.anything"}); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Apply: %v, want ErrUnsupported", err)
	}
	if _, err := New(Config{}, Options{}); err == nil {
		t.Error("New accepted a zero Config")
	}
	reg := newRegistry()
	if _, err := New(DefaultConfig(), Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(DefaultConfig(), Options{Registerer: reg}); err == nil {
		t.Error("second provider on one registry: metrics registered twice without error")
	}
}

// TestNamespaceDeleted deletes the namespace the provider listens in: the
// poll fails with the listing error and the neighbours go.
func TestNamespaceDeleted(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	l.farLLDPD(t, "sw-far", 30)
	p, _ := startProvider(t, testConfig(l.near, "near0"))
	waitTable(t, p, "neighbour", func(ns []*racktrackv1.LLDPNeighbor) bool { return len(ns) == 1 })
	l.near.Delete(t)
	_, err := waitPoll(t, p, "listing error", func(_ *racktrackv1.Observation, err error) bool { return err != nil })
	te := targetError(t, err, providers.KindRefused)
	if te.Operation != "list interfaces" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("operation %q, err %v; want list interfaces, not exist", te.Operation, err)
	}
	if got := counter(p.m.removals.WithLabelValues("near0", RemovedInterface)); got != 1 || counter(p.m.listening) != 0 {
		t.Errorf("interface_gone removals %v, listening %v; want 1, 0", got, counter(p.m.listening))
	}
}

// TestSnapshotNotify checks that Notify fires every snapshot_interval even
// when nothing changes.
func TestSnapshotNotify(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Interfaces = []string{"rtlldp-none0"}
	cfg.SnapshotInterval = time.Second
	p, _ := startProvider(t, cfg)
	waitPoll(t, p, "running", func(_ *racktrackv1.Observation, err error) bool { return errors.Is(err, ErrInterfaceNotFound) })
	for i := range 2 {
		select {
		case <-p.Notify():
		case <-time.After(waitLimit):
			t.Fatalf("no snapshot notification %d", i)
		}
	}
}
