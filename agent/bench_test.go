package agent_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/testenv"
)

// BenchmarkAgentFleet runs the agent binary against RACKTRACK_BENCH_TARGETS
// simulated BMCs (default 1,000) polled every RACKTRACK_BENCH_INTERVAL
// (default 60 s), for two full intervals
// after the first round, and reports the agent process's resident memory,
// CPU-seconds per 1,000 polls, and whether it kept the interval (polls made
// against polls due). Run it alone:
//
//	go test -run '^$' -bench BenchmarkAgentFleet -benchtime 1x ./agent/
func BenchmarkAgentFleet(b *testing.B) {
	n := 1000
	if v := os.Getenv("RACKTRACK_BENCH_TARGETS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	interval := time.Minute
	if v := os.Getenv("RACKTRACK_BENCH_INTERVAL"); v != "" {
		interval, _ = time.ParseDuration(v)
	}
	for range b.N {
		k := testenv.Kafka(b, topic)
		s := newSite(b, n, "127.0.40.1")
		cfgPath := filepath.Join(s.dir, "agent.yml")
		cfg := strings.Replace(s.config(k.Brokers(), interval.String(), n), "listen: 127.0.0.1:0", "listen: 127.0.0.1:0\nmax_concurrency: 64", 1)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			b.Fatal(err)
		}
		p := startAgent(b, cfgPath)
		addr := waitAddr(b, p)
		idleRSS := rssKiB(b, p.cmd.Process.Pid)

		// The first round is spread over one interval; measure the two after.
		polls := func() float64 { return metric(b, addr, `racktrack_agent_polls_total{protocol="redfish",result="ok"}`) }
		waitForB(b, 2*interval, "the first round of polls", func() bool { return polls() >= float64(n) })
		startPolls, startCPU, start := polls(), cpuSeconds(b, p.cmd.Process.Pid), time.Now()
		time.Sleep(2 * interval)
		made, cpu, took := polls()-startPolls, cpuSeconds(b, p.cmd.Process.Pid)-startCPU, time.Since(start)
		rss := rssKiB(b, p.cmd.Process.Pid)
		due := float64(n) * took.Seconds() / interval.Seconds()
		errs := metric(b, addr, `racktrack_agent_polls_total{protocol="redfish",result="error"}`)
		if path := os.Getenv("RACKTRACK_BENCH_HEAP"); path != "" {
			saveProfile(b, "http://"+addr+"/debug/pprof/heap", path)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
		b.ReportMetric(float64(rss)/1024, "rss_MiB")
		b.ReportMetric(float64(idleRSS)/1024, "rss_start_MiB")
		b.ReportMetric(cpu/made*1000, "cpu_s/1000polls")
		b.ReportMetric(made/due, "polls_made/due")
		b.ReportMetric(errs, "poll_errors")
		b.Logf("%d targets every %s: %.0f polls in %s (%.0f due), %.2f CPU-s, RSS %d KiB (at start %d KiB), %0.f errors",
			n, interval, made, took.Round(time.Millisecond), due, cpu, rss, idleRSS, errs)
	}
}

// saveProfile copies a pprof profile from the running agent to path.
func saveProfile(tb testing.TB, url, path string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		tb.Fatal(err)
	}
}

var listenRe = regexp.MustCompile(`listen=(127\.0\.0\.1:\d+)`)

func waitAddr(tb testing.TB, p *agentProc) string {
	tb.Helper()
	var addr string
	waitForB(tb, 60*time.Second, "the agent to listen", func() bool {
		m := listenRe.FindStringSubmatch(p.logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

func waitForB(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metric reads one sample from the agent's /metrics (0 when absent).
func metric(tb testing.TB, addr, series string) float64 {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		tb.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	return 0
}

func rssKiB(tb testing.TB, pid int) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return v
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}
