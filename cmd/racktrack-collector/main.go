// Command racktrack-collector is the central collector: it consumes agents'
// observations from Kafka into ClickHouse and serves the inventory API.
//
//	racktrack-collector -config collector.yml
//	racktrack-collector check-config -config collector.yml
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

	"github.com/racktrack/racktrack/collector"
	"github.com/racktrack/racktrack/collector/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	check := false
	if len(args) > 0 && args[0] == "check-config" {
		check, args = true, args[1:]
	}
	fs := flag.NewFlagSet("racktrack-collector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "collector.yml", "configuration file")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprint(stderr, `racktrack-collector consumes agents' observations from Kafka into ClickHouse
and serves the inventory API (servers, switches, topology, history).

Usage:
  racktrack-collector [-config FILE] [-log-format json|text] [-log-level info]
  racktrack-collector check-config [-config FILE]

The schema is created and migrated at start. SIGINT/SIGTERM stop it; offsets are
committed only for stored batches, so nothing in flight is lost: it is consumed
again at the next start. Configuration reference: collector/README.md.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "racktrack-collector: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "racktrack-collector: invalid configuration:\n%v\n", err)
		return 1
	}
	if check {
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *path)
		return 0
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "racktrack-collector: -log-level: %v\n", err)
		return 2
	}
	hopts := &slog.HandlerOptions{Level: level}
	var logger *slog.Logger
	switch *logFormat {
	case "json":
		logger = slog.New(slog.NewJSONHandler(stderr, hopts))
	case "text":
		logger = slog.New(slog.NewTextHandler(stderr, hopts))
	default:
		fmt.Fprintf(stderr, "racktrack-collector: -log-format: %q is neither json nor text\n", *logFormat)
		return 2
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c, err := collector.New(cfg, collector.Options{Logger: logger, Registry: reg})
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	if err := c.Run(ctx); err != nil {
		logger.Error("collector stopped", "err", err)
		return 1
	}
	logger.Info("collector stopped")
	return 0
}
