package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/demo"
	"github.com/racktrack/racktrack/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type server struct {
	Site         string `json:"site"`
	Rack         string `json:"rack"`
	Target       string `json:"target"`
	SerialNumber string `json:"serial_number"`
	NICs         []struct {
		MACAddress string `json:"mac_address"`
	} `json:"nics"`
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestDemo runs what `make demo` runs (2 racks × 8 servers, their switch
// pairs, two agents, kfake, ClickHouse, the collector) and checks the
// collector lists every simulated server with the serial and NIC MACs
// its BMC serves.
func TestDemo(t *testing.T) {
	ch := testenv.SharedClickHouse(t)
	ctx, cancel := context.WithCancel(context.Background())
	site, err := demo.Start(ctx, demo.Options{
		Site: "demo", Racks: 2, ServersPerRack: 8,
		CollectorListen: "127.0.0.1:0", ClickHouse: ch.Addr(), PollInterval: 2 * time.Second,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := site.Wait(); err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	if len(site.Servers) != 16 || len(site.Switches) != 4 {
		t.Fatalf("demo simulates %d servers and %d switches, want 16 and 4", len(site.Servers), len(site.Switches))
	}

	var got struct {
		Servers []server `json:"servers"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := getJSON(site.API+"/api/v1/servers?site=demo", &got)
		if err == nil && len(got.Servers) == 16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the API lists %d servers (err %v), want 16", len(got.Servers), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	checkCableMap(t, site)

	byName := map[string]server{}
	for _, s := range got.Servers {
		byName[s.Target] = s
	}
	for _, want := range site.Servers {
		g, ok := byName[want.Name]
		if !ok {
			t.Errorf("server %s missing from the API", want.Name)
			continue
		}
		var gotMACs, wantMACs []string
		for _, n := range g.NICs {
			gotMACs = append(gotMACs, n.MACAddress)
		}
		for _, n := range want.NICs {
			wantMACs = append(wantMACs, n.MACAddress)
		}
		slices.Sort(gotMACs)
		slices.Sort(wantMACs)
		if g.SerialNumber != want.SerialNumber || g.Rack != want.Rack || !slices.Equal(gotMACs, wantMACs) {
			t.Errorf("server %s: serial %q rack %q MACs %v; the simulator serves %q %q %v",
				want.Name, g.SerialNumber, g.Rack, gotMACs, want.SerialNumber, want.Rack, wantMACs)
		}
	}
}

type endpoint struct {
	Kind   string `json:"kind"`
	Device string `json:"device"`
	Port   string `json:"port"`
	MAC    string `json:"mac_address"`
}

// checkCableMap compares the collector's cable map, joined from the
// switches' LLDP-MIB and FDB tables and the BMCs' NIC MACs, with the
// wiring the switch simulator was generated with: the same links, no more,
// no fewer, none in conflict.
func checkCableMap(t *testing.T, site *demo.Site) {
	t.Helper()
	want := map[string]bool{}
	for _, c := range site.Cables {
		want[fmt.Sprintf("%s %s <-> %s %s", c.Switch, c.Port, c.Host, c.MAC)] = true
	}
	var got map[string]bool
	var conflicts int
	deadline := time.Now().Add(60 * time.Second)
	for {
		var topo struct {
			Links []struct {
				A        endpoint `json:"a"`
				B        endpoint `json:"b"`
				Conflict bool     `json:"conflict"`
			} `json:"links"`
		}
		got, conflicts = map[string]bool{}, 0
		if err := getJSON(site.API+"/api/v1/topology?site=demo", &topo); err == nil {
			for _, l := range topo.Links {
				sw, srv := l.A, l.B
				if sw.Kind != "switch" {
					sw, srv = srv, sw
				}
				if l.Conflict {
					conflicts++
				}
				got[fmt.Sprintf("%s %s <-> %s %s", sw.Device, sw.Port, srv.Device, srv.MAC)] = true
			}
		}
		if len(got) == len(want) && conflicts == 0 {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if conflicts != 0 {
		t.Errorf("%d links in conflict", conflicts)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("cable missing from the map: %s", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("link not in the simulated wiring: %s", k)
		}
	}
	if len(want) != 16*4 {
		t.Errorf("the simulator cabled %d NICs, want 64 (16 servers × 4 NICs)", len(want))
	}
}
