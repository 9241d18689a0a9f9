package collector_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/racktrack/racktrack/collector/api"
	"github.com/racktrack/racktrack/internal/testenv"
)

// TestScaleOut runs two collectors in one consumer group: both get
// partitions and both answer the API; then one is stopped in the middle of
// the stream (its batch in hand abandoned, possibly half written) and the
// other takes over its partitions. Every observation is stored exactly
// once, current state is the newest, and history holds each change once.
func TestScaleOut(t *testing.T) {
	e := newEnv(t, testenv.SharedClickHouse(t), 4)
	cfg := e.config()
	cfg.Batch.MaxRows = 50
	a := e.start(cfg)
	b := e.start(cfg)

	srvs := servers(40)
	obs := inventories("agent-1", srvs, 25) // 1,000 observations, BIOS changes every round
	half := len(obs) / 2
	e.publish(obs[:half]...)
	waitFor(t, "both collectors to store observations", func() (bool, string) {
		va, _ := metricValue(a.reg, "racktrack_collector_ingest_messages_total", "result", "stored")
		vb, _ := metricValue(b.reg, "racktrack_collector_ingest_messages_total", "result", "stored")
		return va > 0 && vb > 0 && va+vb >= float64(half), fmt.Sprintf("a stored %v, b stored %v", va, vb)
	})
	// Either collector answers for the whole inventory.
	for _, r := range []*running{a, b} {
		var l api.ServerList
		getJSON(t, r.url("/api/v1/servers?site=ams1&limit=5000"), http.StatusOK, &l)
		if l.Count != len(srvs) {
			t.Errorf("%s: %d servers, want %d", r.c.Addr(), l.Count, len(srvs))
		}
	}

	e.publish(obs[half:]...)
	waitFor(t, "the second half to start arriving", func() (bool, string) {
		n := e.count()
		return n > uint64(half), fmt.Sprintf("%d rows", n)
	})
	a.stop(t)
	t.Logf("collector a stopped with %d of %d observations stored", e.count(), len(obs))

	e.waitCount(uint64(len(obs)))
	checkServers(t, b, obs, "")

	// History: per server, first sight plus one BIOS change per later
	// round, each exactly once.
	want := len(srvs) * 25
	got := 0
	next := ""
	for page := 0; page < 100; page++ {
		var h api.History
		getJSON(t, b.url("/api/v1/history?site=ams1&limit=5000"+next), http.StatusOK, &h)
		got += h.Count
		if h.NextCursor == "" {
			break
		}
		next = "&cursor=" + h.NextCursor
	}
	if got != want {
		t.Errorf("history: %d changes, want %d", got, want)
	}
}
