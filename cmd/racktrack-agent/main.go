// Command racktrack-agent is the site daemon: it polls the BMCs, switches
// and LLDP neighbours of one rack and streams observations to Kafka.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/racktrack/racktrack/agent"
	"github.com/racktrack/racktrack/agent/config"
)

const usage = `racktrack-agent polls the devices of one rack and streams observations to Kafka.

Usage:
  racktrack-agent [run] -config FILE [-log-format text|json] [-log-level info]
  racktrack-agent check-config -config FILE
  racktrack-agent probe PROTOCOL [flags] TARGET
  racktrack-agent version

Commands:
  run            poll and publish until SIGINT/SIGTERM (the default)
  check-config   load and validate FILE, print a summary, exit 0 if valid
  probe          poll one target once and print what would be published
  version        print the version

The configuration reference is in README.md ("Agent configuration").
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "probe":
		return runProbe(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, agent.Version)
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run", "check-config":
	default:
		fmt.Fprintf(stderr, "racktrack-agent: unknown command %q\n\n%s", cmd, usage)
		return 2
	}

	fs := flag.NewFlagSet("racktrack-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nFlags:\n"); fs.PrintDefaults() }
	cfgPath := fs.String("config", "/etc/racktrack/agent.yml", "agent configuration `file`")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "racktrack-agent: invalid configuration:\n%v\n", err)
		return 1
	}
	if cmd == "check-config" {
		fmt.Fprintf(stdout, "%s: valid: agent %s, site %s, rack %s, %d targets, brokers %v\n",
			*cfgPath, cfg.AgentID, cfg.Site, cfg.Rack, len(cfg.Targets), cfg.Kafka.Brokers)
		return 0
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "racktrack-agent: %v\n", err)
		return 2
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := agent.New(cfg, agent.Options{Logger: log, Registry: reg})
	if err != nil {
		log.Error("agent", "err", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	go func() { defer close(reloaded); reloadOnHangup(ctx, a, *cfgPath, log) }()
	err = a.Run(ctx)
	cancel() // Run may return on its own (e.g. the listen address is taken)
	<-reloaded
	if err != nil {
		log.Error("agent stopped with error", "err", err)
		return 1
	}
	return 0
}

// reloadOnHangup re-reads the config on SIGHUP until ctx is done. An
// invalid file is reported and the running config kept.
func reloadOnHangup(ctx context.Context, a *agent.Agent, path string, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := config.Load(path)
		if err != nil {
			log.Error("reload refused, keeping the running configuration", "err", err)
			continue
		}
		if err := a.Reload(ctx, cfg); err != nil {
			log.Error("reload refused, keeping the running configuration", "err", err)
			continue
		}
		log.Info("reloaded configuration", "file", path, "targets", len(cfg.Targets))
	}
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is not text or json", format)
}
