package snmp_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/secret"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/snmp"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
)

// addrBlock is a random 127.x.y.0/24 block for this test binary, so
// parallel packages do not collide.
var addrBlock = fmt.Sprintf("127.%d.%d", 100+rand.IntN(100), rand.IntN(250))
var nextHost atomic.Int32

// nextAddr returns a fresh 127.x.y.z:0 address.
func nextAddr() string {
	return fmt.Sprintf("%s.%d:0", addrBlock, 1+nextHost.Add(1)%250)
}

// startAgent serves recs on a fresh loopback address until the test ends.
func startAgent(t testing.TB, recs []switchsim.Record, cfg switchsim.Config) *switchsim.Agent {
	t.Helper()
	ds, err := switchsim.NewDataset(recs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = ds
	if cfg.Addr == "" {
		cfg.Addr = nextAddr()
	}
	a, err := switchsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// secretFile writes v to a file and returns a reference to it.
func secretFile(t testing.TB, v string) secret.Ref {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return secret.Ref{File: p}
}

// v2c returns a v2c config for addr.
func v2c(t testing.TB, addr, community string) snmp.Config {
	return snmp.Config{Address: addr, Version: "2c", Community: secretFile(t, community),
		Timeout: 2 * time.Second, Retries: 1}
}

// v3 returns an authPriv (or lower, when priv is empty) v3 config.
func v3(t testing.TB, addr, user, authProto, authPass, privProto, privPass string) snmp.Config {
	c := snmp.Config{Address: addr, Version: "3", Username: user, Timeout: 2 * time.Second, Retries: 1}
	switch {
	case authProto == "":
		c.SecurityLevel = snmp.NoAuthNoPriv
	case privProto == "":
		c.SecurityLevel = snmp.AuthNoPriv
		c.AuthProtocol, c.AuthPassword = authProto, secretFile(t, authPass)
	default:
		c.SecurityLevel = snmp.AuthPriv
		c.AuthProtocol, c.AuthPassword = authProto, secretFile(t, authPass)
		c.PrivProtocol, c.PrivPassword = privProto, secretFile(t, privPass)
	}
	return c
}

func newProvider(t testing.TB, cfg snmp.Config, opts snmp.Options) *snmp.Provider {
	t.Helper()
	p, err := snmp.New("sw-under-test", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// polled is a poll result split by payload.
type polled struct {
	res       providers.PollResult
	inv       *racktrackv1.Observation
	ifs       *racktrackv1.Observation
	lldp      *racktrackv1.Observation
	fdb       *racktrackv1.Observation
	ipn       *racktrackv1.Observation // nil when the agent has no neighbour table
	status    *racktrackv1.Observation
	byPayload map[string]*racktrackv1.Observation
}

func (p polled) interfaces() []*racktrackv1.Interface { return p.ifs.GetInterfaces().GetInterfaces() }
func (p polled) neighbors() []*racktrackv1.LLDPNeighbor {
	return p.lldp.GetLldpNeighbors().GetNeighbors()
}
func (p polled) entries() []*racktrackv1.FDBEntry { return p.fdb.GetFdb().GetEntries() }
func (p polled) ipNeighbors() []*racktrackv1.IPNeighbor {
	return p.ipn.GetIpNeighbors().GetNeighbors()
}

// pollOK polls once and fails the test on a TargetError.
func pollOK(t testing.TB, p *snmp.Provider) polled {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := p.Poll(ctx)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return split(t, res)
}

func split(t testing.TB, res providers.PollResult) polled {
	t.Helper()
	out := polled{res: res}
	for _, o := range res.Observations {
		if o.Source != racktrackv1.Source_SOURCE_SNMP || o.Target != "sw-under-test" {
			t.Fatalf("observation source/target = %v/%q", o.Source, o.Target)
		}
		switch o.Payload.(type) {
		case *racktrackv1.Observation_SwitchInventory:
			out.inv = o
		case *racktrackv1.Observation_Interfaces:
			out.ifs = o
		case *racktrackv1.Observation_LldpNeighbors:
			out.lldp = o
		case *racktrackv1.Observation_Fdb:
			out.fdb = o
		case *racktrackv1.Observation_IpNeighbors:
			if out.ipn != nil {
				t.Fatal("two IP neighbour observations")
			}
			out.ipn = o
		case *racktrackv1.Observation_TargetStatus:
			out.status = o
		default:
			t.Fatalf("unexpected payload %T", o.Payload)
		}
	}
	if out.inv == nil || out.ifs == nil || out.lldp == nil || out.fdb == nil || out.status == nil {
		t.Fatalf("missing observations in %d", len(res.Observations))
	}
	return out
}

// demoSite generates a two-switch site of n hosts.
func demoSite(t testing.TB, n, extraFDB int) *switchsim.Site {
	t.Helper()
	site, err := switchsim.Generate(switchsim.SiteSpec{Name: "demo", Hosts: switchsim.DemoHosts("web", n), ExtraFDB: extraFDB})
	if err != nil {
		t.Fatal(err)
	}
	return site
}

func itoa(n int) string { return fmt.Sprint(n) }
