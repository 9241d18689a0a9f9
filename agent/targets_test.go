package agent_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/agent"
	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

// TestFailingTargets: an unreachable BMC and one with a wrong password
// each publish a target status naming the request and the reason, are
// backed off, and do not hold up the healthy BMCs. No password appears
// in the logs or in anything published.
func TestFailingTargets(t *testing.T) {
	k := testenv.Kafka(t, topic)
	s := newSite(t, 3, "127.0.25.1")
	const wrong = "not-the-bmc-password"
	t.Setenv("RACKTRACK_TEST_WRONG_PASSWORD", wrong)
	text := s.config(k.Brokers(), "1s", 3)
	// Target 3: the right BMC, the wrong password.
	bmc3 := s.sim.BMCs()[2]
	i := strings.LastIndex(text, "{env: RACKTRACK_TEST_BMC_PASSWORD}")
	text = text[:i] + "{env: RACKTRACK_TEST_WRONG_PASSWORD}" + text[i+len("{env: RACKTRACK_TEST_BMC_PASSWORD}"):]
	// Target 4: nothing listens there.
	text += fmt.Sprintf("  - name: gone\n    redfish:\n      url: https://127.0.25.99:1\n      username: admin\n      password: {env: RACKTRACK_TEST_BMC_PASSWORD}\n      ca_file: %s\n", s.caFile)
	cfg, err := config.Parse("agent.yml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Output
	runAgent(t, cfg, agent.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	type view struct {
		statuses  []*racktrackv1.Observation
		inventory bool
	}
	var byTarget map[string]*view
	var published [][]byte
	collect := func() {
		byTarget = map[string]*view{}
		published = nil
		for _, msgs := range readTopic(t, k.Brokers()) {
			for _, m := range msgs {
				published = append(published, m.Value)
				var o racktrackv1.Observation
				if proto.Unmarshal(m.Value, &o) != nil {
					t.Fatalf("undecodable message at offset %d", m.Offset)
				}
				v := byTarget[o.Target]
				if v == nil {
					v = &view{}
					byTarget[o.Target] = v
				}
				if o.GetTargetStatus() != nil {
					v.statuses = append(v.statuses, &o)
				}
				if o.GetServerInventory() != nil {
					v.inventory = true
				}
			}
		}
	}
	healthy := []string{s.sim.BMCs()[0].Server().Name, s.sim.BMCs()[1].Server().Name}
	waitFor(t, 30*time.Second, "three failures of the unreachable target", func() (bool, string) {
		collect()
		g := byTarget["gone"]
		return g != nil && len(g.statuses) >= 3, fmt.Sprint(len(byTarget), " targets seen")
	})

	for _, name := range healthy {
		v := byTarget[name]
		if v == nil || !v.inventory {
			t.Errorf("healthy target %s published no inventory", name)
			continue
		}
		for _, o := range v.statuses {
			if st := o.GetTargetStatus(); !st.Reachable || st.Error != "" {
				t.Errorf("healthy target %s status %+v", name, st)
			}
		}
	}
	gone := byTarget["gone"]
	for i, o := range gone.statuses[:3] {
		st := o.GetTargetStatus()
		if st.Reachable || st.ErrorKind != "refused" || !strings.Contains(st.Error, "127.0.25.99:1") || st.Operation == "" {
			t.Errorf("unreachable target status %d = %+v; want refused, naming the address and the request", i, st)
		}
		if st.ConsecutiveFailures != uint32(i+1) {
			t.Errorf("status %d counts %d consecutive failures, want %d", i, st.ConsecutiveFailures, i+1)
		}
		// Backoff: the next attempt is interval × 2^failures away (capped at 10s).
		want := min(time.Second<<(i+1), 10*time.Second)
		got := st.NextAttempt.AsTime().Sub(o.ObservedAt.AsTime())
		if got < want || got > want+time.Second {
			t.Errorf("after %d failures the next attempt is %v away, want about %v", i+1, got, want)
		}
	}
	if h := byTarget[healthy[0]]; len(h.statuses) <= len(gone.statuses) {
		t.Errorf("the backed-off target was polled %d times, as often as a healthy one (%d)", len(gone.statuses), len(h.statuses))
	}
	v3 := byTarget[bmc3.Server().Name]
	if v3 == nil || len(v3.statuses) == 0 {
		t.Fatal("no status for the target with the wrong password")
	}
	if st := v3.statuses[0].GetTargetStatus(); st.Reachable || st.ErrorKind != "auth" {
		t.Errorf("wrong-password status = %+v; want unreachable with kind auth", st)
	}
	if v3.inventory {
		t.Error("inventory published for a BMC whose password was refused")
	}

	for _, secret := range []string{redfishsim.DefaultPassword, wrong} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("password %q appears in the agent's log", secret)
		}
		for _, v := range published {
			if bytes.Contains(v, []byte(secret)) {
				t.Fatalf("password %q was published to Kafka", secret)
			}
		}
	}
}
