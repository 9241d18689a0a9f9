package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("site-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pwr := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		defer pwr.Close()
		done <- run(ctx, []string{"--site", "tst", "--racks", "2", "--servers-per-rack", "2", "--first-ip", "127.0.6.1",
			"--password-file", pw, "--ca-out", ca}, pwr, &stderr)
	}()
	sc := bufio.NewScanner(pr)
	var lines [][]string
	for len(lines) < 4 && sc.Scan() {
		lines = append(lines, strings.Split(sc.Text(), "\t"))
	}
	want := append(redfishsim.GenerateServers("tst", "r01", 2), redfishsim.GenerateServers("tst", "r02", 2)...)
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4; stderr: %s", len(lines), stderr.String())
	}
	for i, l := range lines {
		if len(l) != 4 || l[0] != want[i].Name || l[2] != want[i].SerialNumber || l[3] != string(want[i].Profile) ||
			!strings.HasPrefix(l[1], "https://127.0.6."+string(rune('1'+i))+":") {
			t.Fatalf("line %d = %q, want name %s serial %s", i, l, want[i].Name, want[i].SerialNumber)
		}
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", lines[3][1]+"/redfish/v1/Systems", nil)
	req.SetBasicAuth(redfishsim.DefaultUsername, "site-secret")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET with the written CA: %v", err)
	}
	var body struct{ Members []map[string]string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body.Members) != 1 {
		t.Fatalf("systems: %d %v", resp.StatusCode, body)
	}
	tr.CloseIdleConnections()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--racks", "0"}, "racktrack-sitesim: nothing to simulate: need --racks and --servers-per-rack > 0, or --mockup\n"},
		{[]string{"--first-ip", "nope"}, "racktrack-sitesim: --first-ip: ParseAddr(\"nope\"): unable to parse IP\n"},
		{[]string{"--profile", "ibm"}, "racktrack-sitesim: --profile: redfishsim: unknown profile \"ibm\"\n"},
		{[]string{"extra"}, "racktrack-sitesim: unexpected argument \"extra\"\n"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 || stderr.String() != tc.want {
			t.Errorf("run(%q) = %d, stderr %q; want 2, %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
