// Command racktrack-sitesim runs a simulated site: one Redfish BMC per
// simulated server, each on its own loopback address over HTTPS, until
// SIGINT or SIGTERM. It prints one line per BMC (name, URL, serial,
// profile) and can write the CA certificate that signed every BMC
// certificate, so agents verify TLS against it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/racktrack/racktrack/internal/secret"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("racktrack-sitesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	site := fs.String("site", "lab", "site name; it seeds serials, UUIDs and MACs")
	racks := fs.Int("racks", 1, "number of racks (named r01, r02, ...)")
	perRack := fs.Int("servers-per-rack", 5, "servers (BMCs) per rack")
	firstIP := fs.String("first-ip", "127.0.1.1", "address of the first BMC; the others take the following addresses")
	port := fs.Int("port", 0, "TCP port of every BMC (0: a free port per BMC)")
	username := fs.String("username", redfishsim.DefaultUsername, "BMC user name")
	passwordFile := fs.String("password-file", "", "file holding the BMC password (default: "+redfishsim.DefaultPassword+")")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) to this file")
	profile := fs.String("profile", "mixed", "vendor profile of every server: mixed (cycle through all), or one of "+profileNames())
	var mockups stringList
	fs.Var(&mockups, "mockup", "also serve this DMTF mockup directory as one BMC (repeatable)")
	verbose := fs.Bool("v", false, "log every request")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: racktrack-sitesim [flags]\n\n"+
			"Runs simulated Redfish BMCs, one per server, on consecutive loopback\n"+
			"addresses (Linux routes all of 127/8 to lo, so no setup is needed), each\n"+
			"over HTTPS with a certificate from a CA generated at start. Prints one\n"+
			"line per BMC: name, URL, serial number, profile. Runs until interrupted.\n\n"+
			"Example:\n  racktrack-sitesim --site fra1 --racks 2 --servers-per-rack 10 --ca-out /tmp/bmc-ca.pem\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "racktrack-sitesim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *racks < 0 || *perRack < 0 || *racks**perRack+len(mockups) == 0 {
		fmt.Fprintln(stderr, "racktrack-sitesim: nothing to simulate: need --racks and --servers-per-rack > 0, or --mockup")
		return 2
	}
	ip, err := netip.ParseAddr(*firstIP)
	if err != nil {
		fmt.Fprintf(stderr, "racktrack-sitesim: --first-ip: %v\n", err)
		return 2
	}
	password := ""
	if *passwordFile != "" {
		s, err := secret.Ref{File: *passwordFile}.Resolve()
		if err != nil {
			fmt.Fprintf(stderr, "racktrack-sitesim: --password-file: %v\n", err)
			return 2
		}
		password = s.Reveal()
	}
	var fixed redfishsim.Profile
	if *profile != "mixed" {
		if fixed, err = redfishsim.ParseProfile(*profile); err != nil {
			fmt.Fprintf(stderr, "racktrack-sitesim: --profile: %v\n", err)
			return 2
		}
	}
	var servers []redfishsim.Server
	for r := range *racks {
		rack := fmt.Sprintf("r%02d", r+1)
		if fixed == "" {
			servers = append(servers, redfishsim.GenerateServers(*site, rack, *perRack)...)
			continue
		}
		for i := range *perRack {
			servers = append(servers, redfishsim.GenerateServer(*site, rack, i, fixed))
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	sim, err := redfishsim.Start(ctx, redfishsim.Options{
		Servers:  servers,
		Mockups:  mockups,
		FirstIP:  ip,
		Port:     *port,
		Username: *username,
		Password: password,
		Logger:   logger,
	})
	if err != nil {
		fmt.Fprintf(stderr, "racktrack-sitesim: %v\n", err)
		return 1
	}
	code := 0
	if *caOut != "" {
		if err := sim.WriteCAFile(*caOut); err != nil {
			fmt.Fprintf(stderr, "racktrack-sitesim: %v\n", err)
			code = 1
		}
	}
	if code == 0 {
		if err := sim.WriteSummary(stdout); err != nil {
			code = 1
		} else {
			<-ctx.Done()
		}
	}
	if err := sim.Close(); err != nil {
		fmt.Fprintf(stderr, "racktrack-sitesim: %v\n", err)
		code = 1
	}
	return code
}

func profileNames() string {
	var names []string
	for _, p := range redfishsim.Profiles() {
		names = append(names, string(p))
	}
	return strings.Join(names, ", ")
}
