package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers/lldp"
)

func init() { probes["lldp"] = probeLLDP }

// probeLLDP listens on one interface for --duration and prints every
// neighbour seen, and every change of one, as a protojson LLDPNeighbor line.
func probeLLDP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("racktrack-agent probe lldp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	iface := fs.String("interface", "", "interface to listen on (required)")
	duration := fs.Duration("duration", 35*time.Second, "how long to listen; switches send LLDP every 30s by default")
	netns := fs.String("netns", "", "listen in this network namespace (a file such as /run/netns/NAME)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: racktrack-agent probe lldp --interface IF [--duration D] [--netns FILE]\n\n"+
			"Listens for LLDP frames on IF for D and prints each neighbour seen (and each\n"+
			"change of one) as a JSON line (protojson racktrack.v1.LLDPNeighbor). Needs CAP_NET_RAW.\n"+
			"Exit status: 0 listened for D, 2 could not listen.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *iface == "" || fs.NArg() > 0 || *duration <= 0 {
		fs.Usage()
		return 2
	}
	cfg := lldp.DefaultConfig()
	cfg.Interfaces = []string{*iface}
	cfg.NetNS = *netns
	cfg.RescanInterval = time.Second
	cfg.RateLimit = 100 // a probe wants to see everything
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	reg := prometheus.NewRegistry()
	p, err := lldp.New(cfg, lldp.Options{
		Registerer: reg,
		Logger:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()

	// Wait for the first interface scan, then fail fast if IF is unusable.
	started := time.Now()
	if _, err := firstPoll(ctx, p); err != nil {
		fmt.Fprintf(stderr, "racktrack-agent probe lldp: %v\n", err)
		return 2
	}

	printed := map[string]*racktrackv1.LLDPNeighbor{}
	changes := 0
	emit := func() error {
		res, err := p.Poll(context.Background())
		if err != nil {
			return err
		}
		for _, n := range res.Observations[0].GetLldpNeighbors().GetNeighbors() {
			key := n.ChassisIdSubtype + "\x00" + n.ChassisId + "\x00" + n.PortIdSubtype + "\x00" + n.PortId
			if proto.Equal(printed[key], n) {
				continue
			}
			b, err := protojson.Marshal(n)
			if err != nil {
				return fmt.Errorf("encode neighbour: %w", err)
			}
			fmt.Fprintf(stdout, "%s\n", b)
			printed[key] = n
			changes++
		}
		return nil
	}
	timer := time.NewTimer(*duration - time.Since(started))
	defer timer.Stop()
	var pollErr error
loop:
	for {
		select {
		case <-p.Notify():
			pollErr = emit()
		case <-timer.C:
			pollErr = emit()
			break loop
		case <-ctx.Done():
			pollErr = emit()
			break loop
		}
	}
	received, dropped := sumMetric(reg, "racktrack_lldp_frames_received_total"), sumMetric(reg, "racktrack_lldp_frames_dropped_total")
	fmt.Fprintf(stderr, "lldp %s: %d neighbours seen (%d lines) in %s; %.0f frames received, %.0f dropped\n",
		*iface, len(printed), changes, time.Since(started).Round(time.Millisecond), received, dropped)
	if pollErr != nil {
		fmt.Fprintf(stderr, "racktrack-agent probe lldp: %v\n", pollErr)
		return 2
	}
	return 0
}

// firstPoll polls until Run has scanned the interfaces once.
func firstPoll(ctx context.Context, p *lldp.Provider) (*racktrackv1.Observation, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := p.Poll(context.Background())
		if err == nil {
			return res.Observations[0], nil
		}
		if !errors.Is(err, lldp.ErrNotRunning) {
			return nil, err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// sumMetric adds up every series of one counter family in reg.
func sumMetric(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
