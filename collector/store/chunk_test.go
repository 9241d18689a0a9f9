package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/collector/store"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// TestWriteLargeBlocksOnePart writes a batch whose sensor rows take
// several client blocks (the store sends at most 4,096 rows per block) and
// checks that the server stored them as one part, every row with its
// values.
func TestWriteLargeBlocksOnePart(t *testing.T) {
	ctx := context.Background()
	st, srv, db := newStore(t)
	const servers, sensors = 4000, 9 // 36,000 sensor rows: nine client blocks
	var recs []store.Record
	for i := range servers {
		o := fixture.Inventory("agent-1", uint64(i+1), fixture.Server{Site: "ams1", Rack: "r1", Target: fmt.Sprintf("bmc-%d", i)})
		h := &racktrackv1.ServerHealth{Health: "OK", PowerState: "On"}
		for k := range sensors {
			h.Sensors = append(h.Sensors, &racktrackv1.Sensor{Name: fmt.Sprintf("Temp %d", k), Kind: "temperature", Reading: float64(i*sensors + k), Units: "Cel"})
		}
		o.Payload = &racktrackv1.Observation_ServerHealth{ServerHealth: h}
		recs = append(recs, records(o)...)
	}
	if err := st.Write(ctx, store.Batch{Raw: recs}); err != nil {
		t.Fatal(err)
	}

	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{srv.Addr()}, Auth: clickhouse.Auth{Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tc := range []struct {
		table       string
		parts, rows uint64
	}{
		{"sensor_readings", 1, servers * sensors},
		{"server_health", 1, servers},
		{"observations", 1, servers},
	} {
		var parts, rows uint64
		err := conn.QueryRow(ctx, `SELECT count(), sum(rows) FROM system.parts WHERE active AND database = ? AND table = ?`, db, tc.table).Scan(&parts, &rows)
		if err != nil {
			t.Fatal(err)
		}
		// Background merges only lower the part count.
		if parts < 1 || parts > tc.parts || rows != tc.rows {
			t.Errorf("%s: %d parts with %d rows, want at most %d parts with %d rows", tc.table, parts, rows, tc.parts, tc.rows)
		}
	}
	var n, distinct uint64
	var sum float64
	err = conn.QueryRow(ctx, `SELECT count(), uniqExact(device, name), sum(reading) FROM `+db+`.sensor_readings`).Scan(&n, &distinct, &sum)
	if err != nil {
		t.Fatal(err)
	}
	const rows = servers * sensors
	if want := float64(rows) * float64(rows-1) / 2; n != rows || distinct != rows || sum != want {
		t.Errorf("sensor_readings: %d rows, %d distinct, readings sum %v; want %d, %d, %v", n, distinct, sum, rows, rows, want)
	}
}
