package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/racktrack/racktrack/internal/secret"
	"github.com/racktrack/racktrack/providers/snmp"
)

func init() { probes["snmp"] = probeSNMP }

// probeCommunityEnv carries a --community given on the command line to
// the provider, which reads secrets only from files or the environment.
const probeCommunityEnv = "RACKTRACK_PROBE_SNMP_COMMUNITY"

// probeSNMP walks one switch once: racktrack-agent probe snmp [flags] HOST[:PORT].
func probeSNMP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe snmp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		community     = fs.String("community", "", "SNMPv2c community (visible in the process list; prefer --community-env)")
		communityEnv  = fs.String("community-env", "", "environment variable holding the SNMPv2c community")
		communityFile = fs.String("community-file", "", "file holding the SNMPv2c community (first line)")
		user          = fs.String("v3-user", "", "SNMPv3 user name (selects SNMPv3)")
		level         = fs.String("security-level", "", "SNMPv3 level: noAuthNoPriv, authNoPriv or authPriv (default: from the passwords given)")
		authProto     = fs.String("auth-proto", "SHA", "SNMPv3 authentication: SHA, SHA224, SHA256, SHA384, SHA512")
		authEnv       = fs.String("auth-pass-env", "", "environment variable holding the SNMPv3 authentication password")
		authFile      = fs.String("auth-pass-file", "", "file holding the SNMPv3 authentication password")
		privProto     = fs.String("priv-proto", "AES", "SNMPv3 privacy: AES, AES192, AES256, AES192C, AES256C")
		privEnv       = fs.String("priv-pass-env", "", "environment variable holding the SNMPv3 privacy password")
		privFile      = fs.String("priv-pass-file", "", "file holding the SNMPv3 privacy password")
		contextName   = fs.String("context", "", "SNMPv3 context name")
		timeout       = fs.Duration("timeout", snmp.DefaultTimeout, "timeout of each request")
		retries       = fs.Int("retries", snmp.DefaultRetries, "retries after a timeout")
		maxReps       = fs.Int("max-repetitions", snmp.DefaultMaxRepetitions, "GETBULK max-repetitions")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: racktrack-agent probe snmp [flags] HOST[:PORT]\n\n"+
			"Walks the switch once (system group, ENTITY-MIB, IF-MIB, LLDP-MIB, Q-BRIDGE/BRIDGE\n"+
			"FDB), prints the observations as JSON Lines on stdout and a summary on stderr.\n"+
			"Exit status: 0 complete, 1 partial, 2 unreadable or bad arguments.\n\n"+
			"Examples:\n  racktrack-agent probe snmp --community-env SNMP_COMMUNITY 10.1.0.2\n"+
			"  racktrack-agent probe snmp --v3-user racktrack --auth-proto SHA256 --auth-pass-env AUTH \\\n"+
			"    --priv-proto AES --priv-pass-env PRIV sw1.example.net:161\n\nFlags:\n")
		fs.PrintDefaults()
	}
	positional, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "racktrack-agent probe snmp: want exactly one HOST[:PORT]")
		fs.Usage()
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := snmp.Config{Address: positional[0], Context: *contextName, Timeout: *timeout, Retries: *retries, MaxRepetitions: *maxReps}
	if *user == "" {
		cfg.Version = "2c"
		cfg.Community = secret.Ref{Env: *communityEnv, File: *communityFile}
		if *community != "" {
			if err := os.Setenv(probeCommunityEnv, *community); err != nil {
				fmt.Fprintf(stderr, "racktrack-agent probe snmp: %v\n", err)
				return 2
			}
			cfg.Community = secret.Ref{Env: probeCommunityEnv}
		}
	} else {
		cfg.Version, cfg.Username = "3", *user
		hasAuth := *authEnv != "" || *authFile != ""
		hasPriv := *privEnv != "" || *privFile != ""
		cfg.SecurityLevel = *level
		if cfg.SecurityLevel == "" {
			switch {
			case hasPriv:
				cfg.SecurityLevel = snmp.AuthPriv
			case hasAuth:
				cfg.SecurityLevel = snmp.AuthNoPriv
			default:
				cfg.SecurityLevel = snmp.NoAuthNoPriv
			}
		}
		if cfg.SecurityLevel != snmp.NoAuthNoPriv {
			cfg.AuthProtocol = *authProto
			cfg.AuthPassword = secret.Ref{Env: *authEnv, File: *authFile}
		}
		if cfg.SecurityLevel == snmp.AuthPriv {
			cfg.PrivProtocol = *privProto
			cfg.PrivPassword = secret.Ref{Env: *privEnv, File: *privFile}
		}
		if set["community"] || set["community-env"] || set["community-file"] {
			fmt.Fprintln(stderr, "racktrack-agent probe snmp: --community* and --v3-user exclude each other")
			return 2
		}
	}
	target := cfg.Address
	reg := prometheus.NewRegistry()
	p, err := snmp.New(target, cfg, snmp.Options{
		Logger:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Metrics: snmp.NewMetrics(reg),
	})
	if err != nil {
		fmt.Fprintf(stderr, "racktrack-agent probe snmp: %v\n", err)
		return 2
	}
	defer p.Close(ctx)
	start := time.Now()
	res, pollErr := p.Poll(ctx)
	elapsed := time.Since(start)
	sent, received := wireBytes(reg)
	if pollErr != nil {
		kind := errorKind(pollErr)
		fmt.Fprintf(stderr, "snmp %s: unreadable after %d round trips (%d bytes sent, %d received) in %s: %s%v\n",
			target, res.Requests, sent, received, elapsed.Round(time.Millisecond), kind, pollErr)
		return 2
	}
	incomplete, ok := writeObservations(stdout, stderr, "snmp", res.Observations)
	if !ok {
		return 2
	}
	status, code := "complete", 0
	if len(incomplete) > 0 {
		status, code = "partial", 1
	}
	fmt.Fprintf(stderr, "snmp %s: %s: %d observations, %d round trips, %d bytes sent, %d received in %s",
		target, status, len(res.Observations), res.Requests, sent, received, elapsed.Round(time.Millisecond))
	if len(incomplete) > 0 {
		fmt.Fprintf(stderr, "; incomplete: %s", strings.Join(incomplete, "; "))
	}
	fmt.Fprintln(stderr)
	return code
}

// wireBytes reads the provider's byte counters.
func wireBytes(reg *prometheus.Registry) (sent, received int) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() != "racktrack_snmp_wire_bytes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetValue() {
				case "sent":
					sent = int(m.GetCounter().GetValue())
				case "received":
					received = int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return sent, received
}
