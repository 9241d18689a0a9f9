package snmp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/snmp"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLifecycle: Poll after Close fails; cancelling the context stops a
// poll that waits on a silent agent at once, whatever timeout × retries.
func TestLifecycle(t *testing.T) {
	site := demoSite(t, 2, 0)
	a := startAgent(t, site.Switches[0].Records, switchsim.Config{Community: "public"})

	p := newProvider(t, v2c(t, a.Addr().String(), "public"), snmp.Options{})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(context.Background()); !errors.Is(err, snmp.ErrClosed) {
		t.Errorf("Poll after Close = %v", err)
	}

	a.SetFaults(switchsim.Faults{Silent: true})
	cfg := v2c(t, a.Addr().String(), "public")
	cfg.Timeout, cfg.Retries = time.Hour, 5
	p = newProvider(t, cfg, snmp.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Poll(ctx)
		done <- err
	}()
	// Wait until the request reached the agent, then cancel mid-poll.
	for a.Requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-done
	var te *providers.TargetError
	if !errors.As(err, &te) || te.Kind != providers.KindTimeout || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Poll = %v", err)
	}
}
