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
