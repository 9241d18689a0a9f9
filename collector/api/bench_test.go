package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/racktrack/racktrack/collector/api"
	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	benchServers = 10_000
	benchRacks   = 100
	sensorDays   = 30
	sensorStep   = 5 * time.Minute
	sensorCount  = 10
)

// benchData is loaded once per test binary into the shared server.
var benchData struct {
	once sync.Once
	st   *store.Store
	err  error
}

// benchStore returns a store with 10,000 servers in 100 racks of site
// ams1, and 30 days of 5-minute readings of 10 sensors for ams1/bmc-00000.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	srv := testenv.SharedClickHouse(b)
	benchData.once.Do(func() {
		benchData.err = func() error {
			ctx := context.Background()
			st, err := store.Open(store.Options{Addr: srv.Addr(), Database: "bench_api", Username: "default"})
			if err != nil {
				return err
			}
			benchData.st = st
			if _, err := st.Migrate(ctx); err != nil {
				return err
			}
			var batch store.Batch
			flush := func() error {
				err := st.Write(ctx, batch)
				batch = store.Batch{}
				return err
			}
			for i := range benchServers {
				s := fixture.Server{Site: "ams1", Rack: fmt.Sprintf("r%03d", i%benchRacks), Target: fmt.Sprintf("bmc-%05d", i), N: i}
				o := fixture.Inventory("agent-1", uint64(i+1), s)
				r := store.Record{Obs: o, Raw: fixture.Marshal(o)}
				batch.Raw = append(batch.Raw, r)
				batch.State = append(batch.State, store.StateUpdate{Rec: r})
				if len(batch.Raw) == 2000 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := flush(); err != nil {
				return err
			}
			srv0 := fixture.Server{Site: "ams1", Rack: "r000", Target: "bmc-00000", N: 0}
			start := fixture.Epoch
			n := int(sensorDays * 24 * time.Hour / sensorStep)
			for i := range n {
				o := fixture.Health("agent-1", uint64(1_000_000+i), srv0, "OK", "On")
				o.ObservedAt = timestamppb.New(start.Add(time.Duration(i) * sensorStep))
				h := o.GetServerHealth()
				h.Sensors = nil
				for k := range sensorCount {
					h.Sensors = append(h.Sensors, &racktrackv1.Sensor{Name: fmt.Sprintf("Temp %d", k), Kind: "temperature",
						Reading: 20 + float64((i+k)%15), Units: "Cel"})
				}
				batch.Raw = append(batch.Raw, store.Record{Obs: o, Raw: fixture.Marshal(o)})
				if len(batch.Raw) == 2000 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return flush()
		}()
	})
	if benchData.err != nil {
		b.Fatalf("load benchmark data: %v", benchData.err)
	}
	return benchData.st
}

// benchGET requests paths in turn b.N times and reports p50 and p99.
func benchGET(b *testing.B, st *store.Store, paths func(i int) string, check func(body []byte) error) {
	h, err := api.New(api.Options{Store: st, AllowAnonymousLoopback: true})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		resp, err := client.Get(srv.URL + paths(i))
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		durations = append(durations, time.Since(start))
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v %s", paths(i), resp.StatusCode, err, body)
		}
		if i == 0 {
			if err := check(body); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		return float64(durations[int(p*float64(len(durations)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkServersByRack lists one rack (100 servers) of a 10,000-server
// inventory.
//
//	go test -run '^$' -bench BenchmarkServersByRack ./collector/api/
func BenchmarkServersByRack(b *testing.B) {
	st := benchStore(b)
	benchGET(b, st, func(i int) string {
		return fmt.Sprintf("/api/v1/servers?site=ams1&rack=r%03d", (i*37)%benchRacks)
	}, func(body []byte) error {
		if !bytes.Contains(body, []byte(`"count":100`)) {
			return fmt.Errorf("first page: %.300s", body)
		}
		return nil
	})
}

// BenchmarkServersAll pages through all 10,000 servers, 5,000 at a time
// (one request per op).
func BenchmarkServersAll(b *testing.B) {
	st := benchStore(b)
	benchGET(b, st, func(i int) string { return "/api/v1/servers?site=ams1&limit=5000" }, func(body []byte) error {
		if !bytes.Contains(body, []byte(`"count":5000`)) {
			return fmt.Errorf("page: %.300s", body)
		}
		return nil
	})
}

// BenchmarkSensorHistory reads 30 days of 5-minute readings of 10 sensors
// of one server: raw (86,400 readings) and hourly averages.
func BenchmarkSensorHistory(b *testing.B) {
	st := benchStore(b)
	from := fixture.Epoch.Format(time.RFC3339)
	to := fixture.Epoch.Add(sensorDays * 24 * time.Hour).Format(time.RFC3339)
	for _, step := range []string{"", "1h"} {
		name := "raw"
		q := "/api/v1/servers/ams1/bmc-00000/sensors?from=" + from + "&to=" + to
		want := `"samples":1}`
		if step != "" {
			name, q, want = "step="+step, q+"&step="+step, `"samples":12}`
		}
		b.Run(name, func(b *testing.B) {
			benchGET(b, st, func(int) string { return q }, func(body []byte) error {
				if !bytes.Contains(body, []byte(want)) {
					return fmt.Errorf("%s: %.300s", q, body)
				}
				return nil
			})
		})
	}
}
