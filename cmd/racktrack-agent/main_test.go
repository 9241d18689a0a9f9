package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	t.Setenv("RACKTRACK_TEST_PW", "secret-value-123")
	if err := os.WriteFile(good, []byte(`agent_id: a1
site: s1
rack: r1
kafka: {brokers: ["127.0.0.1:9092"]}
targets:
  - name: bmc-1
    redfish: {url: "https://127.0.1.1", username: u, password: {env: RACKTRACK_TEST_PW}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`agent_id: a1
site: s1
rack: r1
kafka: {brokers: ["127.0.0.1:9092"]}
targets:
  - name: bmc-1
    redfish: {url: "http://127.0.1.1", username: u, password: {env: RACKTRACK_TEST_PW}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"valid", []string{"check-config", "-config", good}, 0, good + ": valid: agent a1, site s1, rack r1, 1 targets", nil},
		{"invalid: file, line, field", []string{"check-config", "-config", bad}, 1, "", []string{bad + ":6: targets[0] (bmc-1).redfish", "url"}},
		{"run refuses an invalid file", []string{"-config", bad}, 1, "", []string{"invalid configuration", bad + ":6:"}},
		{"missing file", []string{"check-config", "-config", filepath.Join(dir, "nope.yml")}, 1, "", []string{"nope.yml"}},
		{"unknown command", []string{"frobnicate"}, 2, "", []string{`unknown command "frobnicate"`}},
		{"help", []string{"help"}, 0, "racktrack-agent polls the devices of one rack", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.args, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			if c.stdout != "" && !strings.Contains(stdout.String(), c.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), c.stdout)
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), w)
				}
			}
			if strings.Contains(stdout.String()+stderr.String(), "secret-value-123") {
				t.Error("the password was printed")
			}
		})
	}
}

// TestRunFailsCleanly: an agent that cannot start (its listen address is
// taken) exits 1 with the reason instead of hanging.
func TestRunFailsCleanly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yml")
	t.Setenv("RACKTRACK_TEST_PW", "pw")
	if err := os.WriteFile(cfg, []byte(`agent_id: a1
site: s1
rack: r1
state_dir: `+filepath.Join(dir, "state")+`
listen: `+l.Addr().String()+`
kafka: {brokers: ["127.0.0.1:9"]}
targets:
  - name: bmc-1
    redfish: {url: "https://127.0.1.1", username: u, password: {env: RACKTRACK_TEST_PW}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "listen "+l.Addr().String()) {
		t.Errorf("stderr does not name the address: %s", stderr.String())
	}
}
