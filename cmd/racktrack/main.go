// Command racktrack is the operator CLI. Today it runs the demo; the change
// request and drift commands join it as the collector grows them.
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
	"path/filepath"
	"syscall"
	"time"

	"github.com/racktrack/racktrack/internal/demo"
)

const usage = `racktrack is the operator CLI.

Usage:
  racktrack demo [flags]   run the whole system on this machine until Ctrl-C

Run 'racktrack demo -h' for the demo's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "racktrack: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("racktrack demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: racktrack demo [flags]\n\n"+
			"Starts a simulated site (Redfish BMCs), one agent per rack, an in-process Kafka\n"+
			"broker, a private ClickHouse server (or RACKTRACK_CLICKHOUSE=host:port) and the\n"+
			"collector, and reports until every server is visible in the API. Ctrl-C stops it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	o := demo.Options{}
	fs.StringVar(&o.Site, "site", "demo", "site name")
	fs.IntVar(&o.Racks, "racks", 2, "racks to simulate, one agent each")
	fs.IntVar(&o.ServersPerRack, "servers-per-rack", 8, "servers per rack")
	fs.StringVar(&o.CollectorListen, "listen", "127.0.0.1:8080", "collector API address")
	fs.DurationVar(&o.PollInterval, "poll-interval", 10*time.Second, "agents' poll interval")
	fs.BoolVar(&o.KeepDir, "keep", false, "keep the temporary directory (logs, spool, ClickHouse data) after stopping")
	logLevel := fs.String("log-level", "info", "level of the component log (written to racktrack-demo.log in the working directory)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.Racks < 1 || o.ServersPerRack < 1 || o.Racks*o.ServersPerRack > 250 {
		fmt.Fprintln(stderr, "racktrack demo: -racks and -servers-per-rack must be at least 1, and at most 250 servers in all")
		return 2
	}
	o.ClickHouse = os.Getenv("RACKTRACK_CLICKHOUSE")
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "racktrack demo: -log-level: %v\n", err)
		return 2
	}
	logPath, _ := filepath.Abs("racktrack-demo.log")
	lf, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintf(stderr, "racktrack demo: %v\n", err)
		return 1
	}
	defer lf.Close()
	o.Logger = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: lv}))
	o.Out = stdout
	fmt.Fprintf(stdout, "Component logs: %s\n", logPath)
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintf(stderr, "racktrack demo: %v\n", err)
		return 1
	}
	return 0
}
