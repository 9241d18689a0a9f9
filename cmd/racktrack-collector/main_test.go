package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(good, []byte("kafka: {brokers: [127.0.0.1:9092]}\nclickhouse: {addr: 127.0.0.1:9000}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("kafka: {brokers: []}\nclickhouse: {addr: 127.0.0.1:9000}\nbatch: {max_wait: -1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"check good", []string{"check-config", "-config", good}, 0, good + ": configuration is valid\n", ""},
		{"check bad", []string{"check-config", "-config", bad}, 1, "",
			"racktrack-collector: invalid configuration:\n" +
				bad + ": kafka.brokers: at least one broker is required\n" +
				bad + ": batch.max_wait: must be positive and at most 1m0s, got -1s\n"},
		{"run bad", []string{"-config", bad}, 1, "",
			"racktrack-collector: invalid configuration:\n" +
				bad + ": kafka.brokers: at least one broker is required\n" +
				bad + ": batch.max_wait: must be positive and at most 1m0s, got -1s\n"},
		{"missing file", []string{"-config", filepath.Join(dir, "none.yml")}, 1, "",
			"racktrack-collector: invalid configuration:\n" + filepath.Join(dir, "none.yml") + ": open " + filepath.Join(dir, "none.yml") + ": no such file or directory\n"},
		{"extra argument", []string{"-config", good, "extra"}, 2, "", ""},
		{"bad log format", []string{"-config", good, "-log-format", "xml"}, 2, "", "racktrack-collector: -log-format: \"xml\" is neither json nor text\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			if tt.stderr != "" && stderr.String() != tt.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), tt.stderr)
			}
		})
	}
}
