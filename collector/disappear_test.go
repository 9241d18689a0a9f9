package collector_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/racktrack/racktrack/collector"
	"github.com/racktrack/racktrack/collector/api"
	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/internal/testenv"
)

// TestDisappearedAndBack: a server silent for longer than the staleness
// limit is declared disappeared (history and event) once; when it is
// observed again it is announced as appeared again. The collector's clock
// is fixed 400 s after the fixtures' epoch; the limit is 300 s.
func TestDisappearedAndBack(t *testing.T) {
	e := newEnv(t, testenv.SharedClickHouse(t), 1)
	cfg := e.config()
	cfg.Inventory.PollInterval = 50 * time.Millisecond
	cfg.Inventory.StaleAfter = 6000 // 300 s
	now := fixture.Epoch.Add(400 * time.Second)
	r := e.startWith(cfg, collector.Options{Now: func() time.Time { return now }})
	srvs := servers(2)
	e.publish(fixture.Inventory("agent-1", 10, srvs[0]), fixture.Inventory("agent-1", 390, srvs[1]))
	e.waitCount(2)

	history := func(device string) []string {
		var h api.History
		getJSON(t, r.url("/api/v1/history?site=ams1&device="+device), http.StatusOK, &h)
		var out []string
		for _, c := range h.Changes {
			out = append(out, c.Description)
		}
		return out
	}
	gone := "ams1/bmc-000 disappeared: not observed since 2026-03-01T12:00:10Z (declared at 2026-03-01T12:05:10Z)"
	waitFor(t, "bmc-000 to be declared disappeared", func() (bool, string) {
		h := history("bmc-000")
		return slices.Contains(h, gone), fmt.Sprintf("history %q", h)
	})
	// Later sweeps do not declare it again, and bmc-001 is not stale.
	metric := func(name string) float64 { v, _ := metricValue(r.reg, name); return v }
	eventsBefore, sweepsBefore := metric("racktrack_collector_ingest_events_total"), metric("racktrack_collector_ingest_sweeps_total")
	waitFor(t, "three more sweeps", func() (bool, string) {
		n := metric("racktrack_collector_ingest_sweeps_total")
		return n >= sweepsBefore+3, fmt.Sprintf("%v sweeps", n)
	})
	if after := metric("racktrack_collector_ingest_events_total"); after != eventsBefore {
		t.Errorf("events went from %v to %v with no new observation", eventsBefore, after)
	}
	if h := history("bmc-001"); len(h) != 1 {
		t.Errorf("bmc-001 history %q, want only its appearance", h)
	}

	e.publish(fixture.Inventory("agent-1", 1000, srvs[0]))
	e.waitCount(3)
	want := []string{
		"ams1/bmc-000 appeared (SN000001) at 2026-03-01T12:00:10Z",
		gone,
		"ams1/bmc-000 appeared (SN000001) at 2026-03-01T12:16:40Z",
	}
	if h := history("bmc-000"); !slices.Equal(h, want) {
		t.Errorf("bmc-000 history:\n got %q\nwant %q", h, want)
	}
	evs := readEvents(t, e, 4)
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.GetKind()+" "+ev.GetDevice())
	}
	slices.Sort(kinds)
	if wantKinds := []string{"device.appeared bmc-000", "device.appeared bmc-000", "device.appeared bmc-001", "device.disappeared bmc-000"}; !slices.Equal(kinds, wantKinds) {
		t.Errorf("events %q, want %q", kinds, wantKinds)
	}
}
