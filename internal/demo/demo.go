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

// Run starts everything, reports progress to opts.Out until ctx is done,
// then stops everything and removes its temporary directory.
func Run(ctx context.Context, opts Options) (err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	out := opts.Out
	dir, err := os.MkdirTemp("", "racktrack-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if !opts.KeepDir {
		defer func() {
			if rerr := os.RemoveAll(dir); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}()
	}
	step := func(format string, args ...any) { fmt.Fprintf(out, "  • "+format+"\n", args...) }
	fmt.Fprintf(out, "racktrack demo: site %q, %d racks × %d servers (work dir %s)\n", opts.Site, opts.Racks, opts.ServersPerRack, dir)

	// ClickHouse.
	chAddr := opts.ClickHouse
	if chAddr == "" {
		srv, err := chserver.Start(ctx, chserver.Options{Dir: filepath.Join(dir, "clickhouse"), Logger: opts.Logger})
		if err != nil {
			return fmt.Errorf("demo: clickhouse: %w", err)
		}
		defer func() { err = errors.Join(err, srv.Stop()) }()
		chAddr = srv.Addr()
		step("ClickHouse    %s (private clickhouse-server, pid %d)", chAddr, srv.PID())
	} else {
		step("ClickHouse    %s (from RACKTRACK_CLICKHOUSE)", chAddr)
	}

	// Kafka.
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("demo: kafka: %w", err)
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(4, Topics...))
	if err != nil {
		return fmt.Errorf("demo: kafka: %w", err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()
	step("Kafka         %s (in-process kfake broker; topics %s)", strings.Join(brokers, ","), strings.Join(Topics, ", "))

	// The simulated site.
	var servers []redfishsim.Server
	for r := 1; r <= opts.Racks; r++ {
		servers = append(servers, redfishsim.GenerateServers(opts.Site, rackName(r), opts.ServersPerRack)...)
	}
	sim, err := redfishsim.Start(ctx, redfishsim.Options{Servers: servers, FirstIP: netip.MustParseAddr("127.0.1.1"), Logger: opts.Logger})
	if err != nil {
		return fmt.Errorf("demo: redfish simulator: %w", err)
	}
	defer func() { err = errors.Join(err, sim.Close()) }()
	caFile := filepath.Join(dir, "bmc-ca.pem")
	if err := sim.WriteCAFile(caFile); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	pwFile := filepath.Join(dir, "bmc.pass")
	if err := os.WriteFile(pwFile, []byte(redfishsim.DefaultPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	bmcs := sim.BMCs()
	step("Redfish sim   %d BMCs, %s … %s (HTTPS, certificates from the simulator's CA %s)", len(bmcs), bmcs[0].URL, bmcs[len(bmcs)-1].URL, caFile)

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
				bmc.Server().Name, bmc.URL, redfishsim.DefaultUsername, pwFile, caFile)
		}
		cfgPath := filepath.Join(dir, "agent-"+rack+".yml")
		if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		cfg, err := agentconfig.Load(cfgPath)
		if err != nil {
			return fmt.Errorf("demo: agent config: %w", err)
		}
		a, err := agent.New(cfg, agent.Options{Logger: opts.Logger.With("component", "agent"), Registry: prometheus.NewRegistry()})
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		agents = append(agents, a)
	}

	// The collector.
	ccfgPath := filepath.Join(dir, "collector.yml")
	ccfgText := fmt.Sprintf("listen: %s\nkafka:\n  brokers: [%s]\nclickhouse:\n  addr: %s\n  database: racktrack_demo\n",
		opts.CollectorListen, strings.Join(brokers, ", "), chAddr)
	if err := os.WriteFile(ccfgPath, []byte(ccfgText), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ccfg, err := collectorconfig.Load(ccfgPath)
	if err != nil {
		return fmt.Errorf("demo: collector config: %w", err)
	}
	col, err := collector.New(ccfg, collector.Options{Logger: opts.Logger.With("component", "collector"), Registry: prometheus.NewRegistry()})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return col.Run(gctx) })
	for _, a := range agents {
		g.Go(func() error { return a.Run(gctx) })
	}
	g.Go(func() error {
		for i, a := range agents {
			select {
			case <-a.Ready():
				step("Agent         %s, %d targets, metrics on http://%s/metrics", rackName(i+1), opts.ServersPerRack, a.Addr())
			case <-gctx.Done():
				return nil
			}
		}
		select {
		case <-col.Ready():
		case <-gctx.Done():
			return nil
		}
		api := "http://" + col.Addr()
		step("Collector     %s/api/v1/servers  (also /healthz, /metrics)", api)
		fmt.Fprintf(out, "\nWaiting for the %d servers to appear in the API (agents poll every %s)…\n", len(servers), opts.PollInterval)
		return report(gctx, out, api, opts, len(servers))
	})
	err = g.Wait()
	fmt.Fprintln(out, "\nracktrack demo: stopped; temporary files removed.")
	return err
}

// report polls the collector's API and says how many servers it lists,
// then prints them once all are there.
func report(ctx context.Context, out io.Writer, api string, opts Options, want int) error {
	client := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	last := -1
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
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
			return nil
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
