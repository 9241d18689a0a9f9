package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

// probeFunc runs one probe subcommand: args are what follows
// "probe <protocol>", JSON Lines go to stdout, the summary to stderr. It
// returns the exit code: 0 complete, 1 partial, 2 the target could not be
// read (or the arguments were wrong).
type probeFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// probes maps a protocol name to its probe. Each probe_<protocol>.go file
// adds itself in an init function so protocols stay in their own files.
var probes = map[string]probeFunc{}

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	names := make([]string, 0, len(probes))
	for n := range probes {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, "usage: racktrack-agent probe {%s} [flags] TARGET\n\n"+
			"Polls one target once and prints the observations the agent would publish\n"+
			"as JSON Lines on stdout, then a one-line summary on stderr.\n"+
			"Exit status: 0 complete, 1 partial, 2 the target could not be read.\n"+
			"Run 'racktrack-agent probe PROTOCOL --help' for the flags of one protocol.\n",
			strings.Join(names, "|"))
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	p, ok := probes[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "racktrack-agent probe: unknown protocol %q (have: %s)\n", args[0], strings.Join(names, ", "))
		return 2
	}
	return p(ctx, args[1:], stdout, stderr)
}

// parseArgs parses flags placed before and after the positional
// arguments. When it returns ok false, the caller exits with code (0 after
// --help, 2 on a bad flag).
func parseArgs(fs *flag.FlagSet, args []string) (positional []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		if fs.NArg() == 0 {
			return positional, 0, true
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// writeObservations prints each observation as one protojson line,
// stamped now, and returns what the target could not give. ok is false
// when stdout failed or an observation could not be encoded (reported on
// stderr).
func writeObservations(stdout, stderr io.Writer, protocol string, obs []*racktrackv1.Observation) (incomplete []string, ok bool) {
	now := timestamppb.Now()
	for _, o := range obs {
		o.ObservedAt = now
		b, err := protojson.Marshal(o)
		if err != nil {
			fmt.Fprintf(stderr, "racktrack-agent probe %s: encode: %v\n", protocol, err)
			return nil, false
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
			return nil, false
		}
		incomplete = append(incomplete, o.Incomplete...)
	}
	return incomplete, true
}

// errorKind is "kind: " for a classified target error, else "".
func errorKind(err error) string {
	var te *providers.TargetError
	if errors.As(err, &te) {
		return string(te.Kind) + ": "
	}
	return ""
}
