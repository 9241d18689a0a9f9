// Package demo runs the whole of racktrack on one machine: a Redfish
// simulator standing in for a site's BMCs, one agent per rack, an
// in-process Kafka broker speaking the real protocol (kfake), a private
// ClickHouse server and the collector. It is what `make demo` runs; every
// component is the production code, configured through its real config
// parser.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"

	"github.com/racktrack/racktrack/agent"
	agentconfig "github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/collector"
	collectorconfig "github.com/racktrack/racktrack/collector/config"
	"github.com/racktrack/racktrack/internal/chserver"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
)

// Topics the demo broker is seeded with.
var Topics = []string{"racktrack.observations", "racktrack.observations.dlq", "racktrack.events"}

// Options size the demo.
type Options struct {
	Site           string
	Racks          int
	ServersPerRack int
	// CollectorListen is the collector's HTTP address.
	CollectorListen string
	// ClickHouse is host:port of an existing server; empty starts one.
	ClickHouse string
	// PollInterval is the agents' poll interval.
	PollInterval time.Duration
	// Out receives the progress report; Logger the components' logs.
	Out    io.Writer
	Logger *slog.Logger
	// KeepDir keeps the temporary directory after the demo stops.
	KeepDir bool
}

// Site is a running demo: every component, and what the simulators serve,
// so tests can compare the collector's answers with the ground truth.
type Site struct {
	// API is the collector's base URL (http://host:port).
	API string
	// Servers are what the Redfish simulator serves.
	Servers []redfishsim.Server
	// Cables are the switch ports the simulated switches report each
	// server NIC on (LLDP-MIB and FDB).
	Cables []switchsim.Cable
	// Switches are the simulated switches' names.
	Switches []string
	// Dir is the temporary working directory.
	Dir string

	done    chan struct{} // closed when every component has stopped
	err     error         // why they stopped, valid once done is closed
	cleanup []func() error
}

// Done is closed once every component has stopped: the context given to
// Start is done, or one of them failed.
func (s *Site) Done() <-chan struct{} { return s.done }

// Wait blocks until every component has stopped and removes what Start
// created.
func (s *Site) Wait() error {
	<-s.done
	err := s.err
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		err = errors.Join(err, s.cleanup[i]())
	}
	return err
}

// SNMP credentials of the simulated switches (v3 authPriv, as operators
// run it).
const (
	snmpUser     = "racktrack"
	snmpAuthPass = "demo-auth-pass"
	snmpPrivPass = "demo-priv-pass"
)

// Start brings the whole system up and returns once it runs; the
// components stop when ctx is done. Progress lines go to opts.Out.
func Start(ctx context.Context, opts Options) (_ *Site, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	out := opts.Out
	site := &Site{done: make(chan struct{})}
	close(site.done) // until the components run, there is nothing to wait for
	defer func() {
		if err != nil {
			for i := len(site.cleanup) - 1; i >= 0; i-- {
				_ = site.cleanup[i]()
			}
		}
	}()
	dir, err := os.MkdirTemp("", "racktrack-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	site.Dir = dir
	if !opts.KeepDir {
		site.cleanup = append(site.cleanup, func() error { return os.RemoveAll(dir) })
	}
	step := func(format string, args ...any) { fmt.Fprintf(out, "  • "+format+"\n", args...) }
	fmt.Fprintf(out, "racktrack demo: site %q, %d racks × %d servers (work dir %s)\n", opts.Site, opts.Racks, opts.ServersPerRack, dir)

	// ClickHouse.
	chAddr := opts.ClickHouse
	if chAddr == "" {
		srv, err := chserver.Start(ctx, chserver.Options{Dir: filepath.Join(dir, "clickhouse"), Logger: opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("demo: clickhouse: %w", err)
		}
		site.cleanup = append(site.cleanup, srv.Stop)
		chAddr = srv.Addr()
		step("ClickHouse    %s (private clickhouse-server, pid %d)", chAddr, srv.PID())
	} else {
		step("ClickHouse    %s (from RACKTRACK_CLICKHOUSE)", chAddr)
	}

	// Kafka.
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("demo: kafka: %w", err)
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(4, Topics...))
	if err != nil {
		return nil, fmt.Errorf("demo: kafka: %w", err)
	}
	site.cleanup = append(site.cleanup, func() error { kc.Close(); return nil })
	brokers := kc.ListenAddrs()
	step("Kafka         %s (in-process kfake broker; topics %s)", strings.Join(brokers, ","), strings.Join(Topics, ", "))

	// The simulated site: BMCs...
	for r := 1; r <= opts.Racks; r++ {
		site.Servers = append(site.Servers, redfishsim.GenerateServers(opts.Site, rackName(r), opts.ServersPerRack)...)
	}
	sim, err := redfishsim.Start(ctx, redfishsim.Options{Servers: site.Servers, FirstIP: netip.MustParseAddr("127.0.1.1"), Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("demo: redfish simulator: %w", err)
	}
	site.cleanup = append(site.cleanup, sim.Close)
	caFile := filepath.Join(dir, "bmc-ca.pem")
	if err := sim.WriteCAFile(caFile); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	secrets := map[string]string{"bmc.pass": redfishsim.DefaultPassword, "snmp-auth.pass": snmpAuthPass, "snmp-priv.pass": snmpPrivPass}
	for name, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	bmcs := sim.BMCs()
	step("Redfish sim   %d BMCs, %s … %s (HTTPS, certificates from the simulator's CA %s)", len(bmcs), bmcs[0].URL, bmcs[len(bmcs)-1].URL, caFile)

	// ...and an A/B switch pair per rack, cabled to the very NICs the BMCs
	// report, so the cable map can be joined end to end.
	switchAddrs := map[string][]string{} // rack -> "name=addr"
	for r := 1; r <= opts.Racks; r++ {
		rack := rackName(r)
		var hosts []switchsim.Host
		for _, srv := range site.Servers {
			if srv.Rack != rack {
				continue
			}
			h := switchsim.Host{Name: srv.Name}
			for _, n := range srv.NICs {
				h.NICs = append(h.NICs, switchsim.NIC{Name: n.ID, MAC: n.MACAddress})
			}
			hosts = append(hosts, h)
		}
		gen, err := switchsim.Generate(switchsim.SiteSpec{Name: opts.Site + "-" + rack, Switches: 2, Hosts: hosts})
		if err != nil {
			return nil, fmt.Errorf("demo: switches of %s: %w", rack, err)
		}
		site.Cables = append(site.Cables, gen.Cables...)
		for i, sw := range gen.Switches {
			ds, err := switchsim.NewDataset(sw.Records)
			if err != nil {
				return nil, fmt.Errorf("demo: switch %s: %w", sw.Name, err)
			}
			a, err := switchsim.Start(switchsim.Config{
				Addr: fmt.Sprintf("127.0.2.%d:0", (r-1)*2+i+1),
				Data: ds,
				Users: []switchsim.User{{Name: snmpUser, AuthProtocol: "SHA256", AuthPassword: snmpAuthPass,
					PrivProtocol: "AES", PrivPassword: snmpPrivPass}},
			})
			if err != nil {
				return nil, fmt.Errorf("demo: switch %s: %w", sw.Name, err)
			}
			site.cleanup = append(site.cleanup, a.Close)
			site.Switches = append(site.Switches, sw.Name)
			switchAddrs[rack] = append(switchAddrs[rack], sw.Name+"="+a.Addr().String())
		}
	}
	step("SNMP sim      %d switches (v3 authPriv SHA-256/AES), %s", len(site.Switches), strings.Join(site.Switches, ", "))

	// Agents, one per rack, configured through the real config parser.
	var agents []*agent.Agent
	for r := 1; r <= opts.Racks; r++ {
		rack := rackName(r)
		var b strings.Builder
		fmt.Fprintf(&b, "agent_id: %s-%s-agent\nsite: %s\nrack: %s\nstate_dir: %s\nlisten: 127.0.0.1:0\npoll_interval: %s\n",
			opts.Site, rack, opts.Site, rack, filepath.Join(dir, "agent-"+rack), opts.PollInterval)
		fmt.Fprintf(&b, "kafka:\n  brokers: [%s]\ntargets:\n", strings.Join(brokers, ", "))
		for _, bmc := range bmcs {
			if bmc.Server().Rack != rack {
				continue
			}
			fmt.Fprintf(&b, "  - name: %s\n    redfish:\n      url: %s\n      username: %s\n      password: {file: %s}\n      ca_file: %s\n",
				bmc.Server().Name, bmc.URL, redfishsim.DefaultUsername, filepath.Join(dir, "bmc.pass"), caFile)
		}
		for _, sw := range switchAddrs[rack] {
			name, addr, _ := strings.Cut(sw, "=")
			fmt.Fprintf(&b, "  - name: %s\n    snmp:\n      address: %s\n      version: \"3\"\n      username: %s\n      auth_protocol: SHA256\n      auth_password: {file: %s}\n      priv_protocol: AES\n      priv_password: {file: %s}\n",
				name, addr, snmpUser, filepath.Join(dir, "snmp-auth.pass"), filepath.Join(dir, "snmp-priv.pass"))
		}
		cfgPath := filepath.Join(dir, "agent-"+rack+".yml")
		if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		cfg, err := agentconfig.Load(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("demo: agent config: %w", err)
		}
		a, err := agent.New(cfg, agent.Options{Logger: opts.Logger.With("component", "agent"), Registry: prometheus.NewRegistry()})
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		agents = append(agents, a)
	}

	// The collector.
	ccfgPath := filepath.Join(dir, "collector.yml")
	ccfgText := fmt.Sprintf("listen: %s\nkafka:\n  brokers: [%s]\nclickhouse:\n  addr: %s\n  database: racktrack_demo\n",
		opts.CollectorListen, strings.Join(brokers, ", "), chAddr)
	if err := os.WriteFile(ccfgPath, []byte(ccfgText), 0o600); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	ccfg, err := collectorconfig.Load(ccfgPath)
	if err != nil {
		return nil, fmt.Errorf("demo: collector config: %w", err)
	}
	col, err := collector.New(ccfg, collector.Options{Logger: opts.Logger.With("component", "collector"), Registry: prometheus.NewRegistry()})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return col.Run(gctx) })
	for _, a := range agents {
		g.Go(func() error { return a.Run(gctx) })
	}
	site.done = make(chan struct{})
	go func() { site.err = g.Wait(); close(site.done) }()
	for i, a := range agents {
		select {
		case <-a.Ready():
			step("Agent         %s, %d BMCs + %d switches, metrics on http://%s/metrics", rackName(i+1), opts.ServersPerRack, len(switchAddrs[rackName(i+1)]), a.Addr())
		case <-gctx.Done():
			return site, nil
		}
	}
	select {
	case <-col.Ready():
	case <-gctx.Done():
		return site, nil
	}
	site.API = "http://" + col.Addr()
	step("Collector     %s/api/v1/servers  (also /healthz, /metrics)", site.API)
	return site, nil
}

// Run starts everything, reports progress to opts.Out until ctx is done,
// then stops everything and removes its temporary directory.
func Run(ctx context.Context, opts Options) error {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	site, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	if site.API != "" {
		fmt.Fprintf(opts.Out, "\nWaiting for the %d servers to appear in the API (agents poll every %s)…\n", len(site.Servers), opts.PollInterval)
		go func() {
			// A component failing ends the demo too.
			<-site.Done()
			cancel()
		}()
		report(ctx, opts.Out, site.API, opts, len(site.Servers))
	}
	cancel()
	err = site.Wait()
	fmt.Fprintln(opts.Out, "\nracktrack demo: stopped; temporary files removed.")
	return err
}

// report polls the collector's API and says how many servers it lists,
// then prints them once all are there.
func report(ctx context.Context, out io.Writer, api string, opts Options, want int) {
	client := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	last := -1
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		servers, err := fetchServers(ctx, client, api+"/api/v1/servers?site="+opts.Site)
		if err != nil {
			continue
		}
		if len(servers) != last {
			fmt.Fprintf(out, "  %5.1fs  %d/%d servers in the API\n", time.Since(start).Seconds(), len(servers), want)
			last = len(servers)
		}
		if len(servers) >= want {
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "\nRACK\tTARGET\tSERIAL\tMODEL\tPOWER\tFIRST NIC MAC")
			for _, s := range servers {
				mac := ""
				if len(s.NICs) > 0 {
					mac = s.NICs[0].MACAddress
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Rack, s.Target, s.SerialNumber, s.Model, s.PowerState, mac)
			}
			tw.Flush()
			fmt.Fprintf(out, "\nAll %d servers are in. Try:\n  curl -s '%s/api/v1/servers?site=%s&rack=r1'\n  curl -s %s/metrics | grep racktrack_\nPress Ctrl-C to stop.\n", want, api, opts.Site, api)
			<-ctx.Done()
			return
		}
	}
}

type apiServer struct {
	Site         string `json:"site"`
	Rack         string `json:"rack"`
	Target       string `json:"target"`
	SerialNumber string `json:"serial_number"`
	Model        string `json:"model"`
	PowerState   string `json:"power_state"`
	NICs         []struct {
		MACAddress string `json:"mac_address"`
	} `json:"nics"`
}

func fetchServers(ctx context.Context, c *http.Client, url string) ([]apiServer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var body struct {
		Servers []apiServer `json:"servers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Servers, nil
}

func rackName(i int) string { return fmt.Sprintf("r%d", i) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
