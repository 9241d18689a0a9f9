package snmp_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/racktrack/racktrack/providers/snmp"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
	"golang.org/x/sync/errgroup"
)

// bigSwitch is a 48-port switch with every port cabled and 2,000 MACs in
// its forwarding table.
func bigSwitch(t testing.TB) switchsim.Switch {
	t.Helper()
	site, err := switchsim.Generate(switchsim.SiteSpec{Name: "bench", Hosts: switchsim.DemoHosts("node", 48), ExtraFDB: 2000 - 48})
	if err != nil {
		t.Fatal(err)
	}
	return site.Switches[0]
}

// TestRoundTripBudget: a full walk of a 48-port switch with 2,000 FDB
// MACs takes at most 40 round trips with max_repetitions 64, v2c and v3.
func TestRoundTripBudget(t *testing.T) {
	sw := bigSwitch(t)
	a := startAgent(t, sw.Records, switchsim.Config{Community: "public", Users: simUsers})
	addr := a.Addr().String()
	for _, tc := range []struct {
		name string
		cfg  snmp.Config
		max  int
	}{
		{"v2c", v2c(t, addr, "public"), 40},
		{"v3 authPriv", v3(t, addr, "shaaes", "SHA", "authpass123", "AES", "privpass123"), 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.MaxRepetitions = 64
			p := newProvider(t, tc.cfg, snmp.Options{})
			got := pollOK(t, p)
			if n := len(got.entries()); n != 2000 {
				t.Fatalf("FDB entries = %d", n)
			}
			if got.res.Requests > tc.max {
				t.Errorf("round trips = %d, budget %d", got.res.Requests, tc.max)
			}
			t.Logf("%s: %d round trips (first poll, engine discovery included)", tc.name, got.res.Requests)
		})
	}
}

// BenchmarkWalk48Ports2000MACs measures one full poll against the
// responder: round trips and bytes on the wire per walk, and CPU (client
// and responder share the process).
func BenchmarkWalk48Ports2000MACs(b *testing.B) {
	sw := bigSwitch(b)
	a := startAgent(b, sw.Records, switchsim.Config{Community: "public", Users: simUsers})
	addr := a.Addr().String()
	for _, reps := range []int{25, 64} {
		for _, mode := range []string{"v2c", "v3authPriv"} {
			b.Run(fmt.Sprintf("%s/max_repetitions=%d", mode, reps), func(b *testing.B) {
				cfg := v2c(b, addr, "public")
				if mode != "v2c" {
					cfg = v3(b, addr, "shaaes", "SHA", "authpass123", "AES", "privpass123")
				}
				cfg.MaxRepetitions = reps
				reg := prometheus.NewRegistry()
				p, err := snmp.New("bench", cfg, snmp.Options{Metrics: snmp.NewMetrics(reg)})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, err := p.Poll(ctx); err != nil { // engine discovery, counter history
					b.Fatal(err)
				}
				base := gather(b, reg)
				cpu0 := cpuTime()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := p.Poll(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				cpu := cpuTime() - cpu0
				m := gather(b, reg)
				n := float64(b.N)
				b.ReportMetric((m["rt"]-base["rt"])/n, "roundtrips/op")
				b.ReportMetric((m["sent"]-base["sent"])/n, "bytes_sent/op")
				b.ReportMetric((m["received"]-base["received"])/n, "bytes_recv/op")
				b.ReportMetric(cpu.Seconds()/n*1000, "cpu-s/1000walks")
			})
		}
	}
}

func gather(b testing.TB, reg *prometheus.Registry) map[string]float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "racktrack_snmp_round_trips_total":
				out["rt"] = m.GetCounter().GetValue()
			case "racktrack_snmp_wire_bytes_total":
				out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFleet500 polls 500 simulated 48-port switches (v3 authPriv)
// with 32 polls in flight, as one agent would each 60 s interval, and
// reports the wall time of a round, CPU-seconds per 1,000 walks (client
// and responders together) and the process RSS.
func BenchmarkFleet500(b *testing.B) {
	site, err := switchsim.Generate(switchsim.SiteSpec{Name: "fleet", Hosts: switchsim.DemoHosts("n", 40), ExtraFDB: 160})
	if err != nil {
		b.Fatal(err)
	}
	var datasets []*switchsim.Dataset
	for _, sw := range site.Switches {
		ds, err := switchsim.NewDataset(sw.Records)
		if err != nil {
			b.Fatal(err)
		}
		datasets = append(datasets, ds)
	}
	block := fmt.Sprintf("127.%d", 100+rand.IntN(100))
	var providers []*snmp.Provider
	for i := 0; i < 500; i++ {
		a, err := switchsim.Start(switchsim.Config{Addr: fmt.Sprintf("%s.%d.%d:0", block, 200+i/250, 1+i%250),
			Data: datasets[i%len(datasets)], Users: simUsers[:1]})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.Close() })
		cfg := v3(b, a.Addr().String(), "shaaes", "SHA", "authpass123", "AES", "privpass123")
		p, err := snmp.New(fmt.Sprintf("sw%03d", i), cfg, snmp.Options{})
		if err != nil {
			b.Fatal(err)
		}
		providers = append(providers, p)
	}
	round := func() time.Duration {
		start := time.Now()
		g, ctx := errgroup.WithContext(context.Background())
		g.SetLimit(32)
		for _, p := range providers {
			g.Go(func() error {
				_, err := p.Poll(ctx)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	round() // engine discovery
	cpu0 := cpuTime()
	var worst time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		worst = max(worst, round())
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(worst.Seconds(), "s/round-of-500")
	b.ReportMetric(cpu.Seconds()/float64(b.N*500)*1000, "cpu-s/1000walks")
	b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MiB")
}
