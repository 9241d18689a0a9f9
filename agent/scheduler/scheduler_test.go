package scheduler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

func TestOffsetStableAndSpread(t *testing.T) {
	const interval = 60 * time.Second
	if a, b := Offset("agent-1", "bmc-1", interval), Offset("agent-1", "bmc-1", interval); a != b {
		t.Fatalf("Offset not stable: %v vs %v", a, b)
	}
	// 1,000 targets over 60 s: every 6-second slot gets some, none gets most.
	var slots [10]int
	for i := range 1000 {
		o := Offset("agent-1", "bmc-"+string(rune('a'+i%26))+time.Duration(i).String(), interval)
		if o < 0 || o >= interval {
			t.Fatalf("offset %v outside [0, %v)", o, interval)
		}
		slots[o/(interval/10)]++
	}
	for i, n := range slots {
		if n < 50 || n > 150 {
			t.Errorf("slot %d holds %d of 1000 first polls; want an even spread (50..150): %v", i, n, slots)
		}
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		failures int
		want     time.Duration
	}{
		{0, 10 * time.Second},
		{1, 20 * time.Second},
		{2, 40 * time.Second},
		{3, 80 * time.Second},
		{4, 2 * time.Minute}, // capped
		{60, 2 * time.Minute},
	}
	for _, c := range cases {
		if got := Backoff(10*time.Second, 2*time.Minute, c.failures); got != c.want {
			t.Errorf("Backoff(10s, 2m, %d) = %v, want %v", c.failures, got, c.want)
		}
	}
}

// scripted is a provider whose poll results are given by the test: pure
// scheduling logic is under test here, not a device protocol.
type scripted struct {
	mu    sync.Mutex
	steps []func() (providers.PollResult, error)
	polls int
}

func (p *scripted) Poll(context.Context) (providers.PollResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := min(p.polls, len(p.steps)-1)
	p.polls++
	return p.steps[i]()
}

func (p *scripted) Apply(context.Context, *racktrackv1.Operation) (*racktrackv1.OperationResult, error) {
	return nil, providers.ErrUnsupported
}

func (p *scripted) Close(context.Context) error { return nil }

func inventory(hash, serial string) providers.PollResult {
	return providers.PollResult{Requests: 3, Observations: []*racktrackv1.Observation{{
		Complete: true,
		Payload: &racktrackv1.Observation_ServerInventory{ServerInventory: &racktrackv1.ServerInventory{
			ContentHash: hash, System: &racktrackv1.SystemInfo{SerialNumber: serial},
		}},
	}}}
}

func TestPollLoopStatusAndInventoryOnChange(t *testing.T) {
	authErr := &providers.TargetError{Provider: "redfish", Target: "127.0.1.9", Operation: "POST /redfish/v1/SessionService/Sessions", Kind: providers.KindAuth, Err: errors.New("401 Unauthorized")}
	p := &scripted{steps: []func() (providers.PollResult, error){
		func() (providers.PollResult, error) { return providers.PollResult{Requests: 1}, authErr },
		func() (providers.PollResult, error) { return inventory("h1", "SN1"), nil },
		func() (providers.PollResult, error) { return inventory("h1", "SN1"), nil }, // unchanged: not resent
		func() (providers.PollResult, error) { return inventory("h2", "SN2"), nil }, // changed: sent
	}}
	var mu sync.Mutex
	var got []*racktrackv1.Observation
	s := New([]Target{{Name: "bmc-9", Protocol: "redfish", Source: racktrackv1.Source_SOURCE_REDFISH, Interval: time.Hour, Provider: p}},
		func(_ context.Context, o *racktrackv1.Observation) error {
			mu.Lock()
			got = append(got, o)
			mu.Unlock()
			return nil
		}, Options{Seed: "a", BackoffMax: 4 * time.Hour})
	l := &loop{s: s, t: s.targets[0], lastHash: map[string]string{}, lastSent: map[string]time.Time{}}
	var delays []time.Duration
	for range 4 {
		delays = append(delays, l.pollOnce(context.Background()))
	}
	if want := []time.Duration{2 * time.Hour, time.Hour, time.Hour, time.Hour}; !equalDurations(delays, want) {
		t.Errorf("next-poll delays = %v, want %v (backoff after the failure, then the interval)", delays, want)
	}
	// Expected stream: status(fail), inv SN1, status, status, inv SN2, status.
	var kinds []string
	for _, o := range got {
		switch p := o.Payload.(type) {
		case *racktrackv1.Observation_TargetStatus:
			kinds = append(kinds, "status")
		case *racktrackv1.Observation_ServerInventory:
			kinds = append(kinds, "inv:"+p.ServerInventory.System.SerialNumber)
		}
		if o.Target != "bmc-9" || o.Source != racktrackv1.Source_SOURCE_REDFISH || o.ObservedAt == nil {
			t.Errorf("observation not stamped with target/source/time: %v", o)
		}
	}
	want := []string{"status", "inv:SN1", "status", "status", "inv:SN2", "status"}
	if len(kinds) != len(want) {
		t.Fatalf("emitted %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("emitted %v, want %v", kinds, want)
		}
	}
	fail := got[0].GetTargetStatus()
	if fail.Reachable || fail.ErrorKind != "auth" || fail.Operation != "POST /redfish/v1/SessionService/Sessions" || fail.ConsecutiveFailures != 1 || fail.Requests != 1 {
		t.Errorf("failure status = %+v; want unreachable, kind auth, the failing request, 1 failure", fail)
	}
	if ok := got[2].GetTargetStatus(); !ok.Reachable || ok.ConsecutiveFailures != 0 || ok.Error != "" {
		t.Errorf("success status = %+v; want reachable with no error", ok)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
