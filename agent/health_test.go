package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/racktrack/racktrack/agent"
	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/internal/testenv"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHealthAndReadiness: /healthz answers while the process runs;
// /readyz follows Kafka delivery and says why it is not ready.
func TestHealthAndReadiness(t *testing.T) {
	k := testenv.Kafka(t, topic)
	s := newSite(t, 2, "127.0.24.1")
	cfg, err := config.Parse("agent.yml", []byte(s.config(k.Brokers(), "1s", 2)))
	if err != nil {
		t.Fatal(err)
	}
	a := runAgent(t, cfg, agent.Options{})
	base := "http://" + a.Addr()
	status := func(path string) func() (bool, string) {
		return func() (bool, string) {
			code, body := get(t, base+path)
			return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
		}
	}
	waitFor(t, 20*time.Second, "ready", status("/readyz"))

	k.Stop()
	var body string
	waitFor(t, 30*time.Second, "not ready during the broker outage", func() (bool, string) {
		var code int
		code, body = get(t, base+"/readyz")
		return code == http.StatusServiceUnavailable, fmt.Sprintf("%d %s", code, body)
	})
	if !strings.Contains(body, "kafka deliveries failing since") || !strings.Contains(body, "records spooled") {
		t.Errorf("readyz body %q does not say why", body)
	}
	if code, b := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz during the outage = %d %s, want 200: the process is alive", code, b)
	}
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "ready again", status("/readyz"))
}
