package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/racktrack/racktrack/providers/redfish"
)

func init() { probes["redfish"] = probeRedfish }

// probeRedfish polls one BMC once: racktrack-agent probe redfish [flags] URL.
func probeRedfish(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe redfish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := redfish.DefaultConfig()
	fs.StringVar(&cfg.Username, "username", "", "BMC user name (required)")
	fs.StringVar(&cfg.Password.File, "password-file", "", "file holding the BMC password (first line)")
	fs.StringVar(&cfg.Password.Env, "password-env", "", "environment variable holding the BMC password")
	fs.StringVar(&cfg.CAFile, "ca-file", "", "PEM CA bundle that signed the BMC certificate (default: system roots)")
	fs.BoolVar(&cfg.InsecureSkipVerify, "insecure", false, "do not verify the BMC certificate (logged; for first contact only)")
	fs.BoolVar(&cfg.AllowHTTP, "allow-http", false, "allow an http:// URL (lab simulators only)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of each HTTP request")
	fs.StringVar(&cfg.Auth, "auth", cfg.Auth, "authentication: auto (session, basic if no session service), session or basic")
	fs.StringVar(&cfg.Expand, "expand", cfg.Expand, "$expand use: auto (as the BMC advertises) or off")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: racktrack-agent probe redfish [flags] URL\n\n"+
			"Polls the BMC at URL (https://host[:port]) once, prints the inventory and\n"+
			"health observations as JSON Lines on stdout and a summary on stderr, and\n"+
			"logs out. Exit status: 0 complete, 1 partial, 2 unreadable or bad arguments.\n\n"+
			"Example:\n  racktrack-agent probe redfish --username racktrack --password-file pw \\\n"+
			"    --ca-file bmc-ca.pem https://10.1.7.21\n\nFlags:\n")
		fs.PrintDefaults()
	}
	// Accept flags before and after the URL.
	positional, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "racktrack-agent probe redfish: want exactly one URL")
		fs.Usage()
		return 2
	}
	cfg.URL = positional[0]
	target := cfg.URL
	if u, err := url.Parse(cfg.URL); err == nil && u.Host != "" {
		target = u.Host
	}
	p, err := redfish.New(target, cfg, redfish.Options{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintf(stderr, "racktrack-agent probe redfish: %v\n", err)
		return 2
	}
	start := time.Now()
	res, pollErr := p.Poll(ctx)
	elapsed := time.Since(start)
	// Close logs out; it bounds itself even when ctx is cancelled.
	if err := p.Close(ctx); err != nil {
		fmt.Fprintf(stderr, "racktrack-agent probe redfish: logout: %v\n", err)
	}
	if pollErr != nil {
		kind := errorKind(pollErr)
		fmt.Fprintf(stderr, "redfish %s: unreadable after %d requests in %s: %s%v\n", target, res.Requests, elapsed.Round(time.Millisecond), kind, pollErr)
		return 2
	}
	incomplete, ok := writeObservations(stdout, stderr, "redfish", res.Observations)
	if !ok {
		return 2
	}
	status, code := "complete", 0
	if len(incomplete) > 0 {
		status, code = "partial", 1
	}
	fmt.Fprintf(stderr, "redfish %s: %s: %d observations, %d requests in %s", target, status, len(res.Observations), res.Requests, elapsed.Round(time.Millisecond))
	if len(incomplete) > 0 {
		fmt.Fprintf(stderr, "; incomplete: %s", strings.Join(incomplete, "; "))
	}
	fmt.Fprintln(stderr)
	return code
}
