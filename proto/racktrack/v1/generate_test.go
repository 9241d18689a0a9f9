package racktrackv1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates the Go code from the .proto files
// with the pinned generators and fails when the committed code differs:
// run `make proto` and commit the result.
func TestGeneratedCodeIsFresh(t *testing.T) {
	gobin := goBin(t)
	tools := map[string]string{"protoc": "protoc"}
	for _, p := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		tools[p] = filepath.Join(gobin, p)
	}
	for name, path := range tools {
		if _, err := exec.LookPath(path); err != nil {
			t.Fatalf("%s not found (%v): run 'make setup'", name, err)
		}
	}
	protos, err := filepath.Glob("*.proto")
	if err != nil || len(protos) == 0 {
		t.Fatalf("no .proto files found: %v", err)
	}
	out := t.TempDir()
	args := []string{
		"-I", "../..",
		"--plugin=protoc-gen-go=" + tools["protoc-gen-go"],
		"--plugin=protoc-gen-go-grpc=" + tools["protoc-gen-go-grpc"],
		"--go_out=" + out, "--go_opt=paths=source_relative",
		"--go-grpc_out=" + out, "--go-grpc_opt=paths=source_relative",
	}
	for _, p := range protos {
		args = append(args, "racktrack/v1/"+p)
	}
	cmd := exec.Command("protoc", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	generated, _ := filepath.Glob(filepath.Join(out, "racktrack/v1/*.go"))
	committed, _ := filepath.Glob("*.pb.go")
	if len(generated) != len(committed) {
		t.Fatalf("generated %d files, %d committed: run 'make proto'", len(generated), len(committed))
	}
	for _, g := range generated {
		want, _ := os.ReadFile(g)
		got, err := os.ReadFile(filepath.Base(g))
		if err != nil {
			t.Errorf("%s is not committed: run 'make proto'", filepath.Base(g))
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run 'make proto' and commit the result", filepath.Base(g))
		}
	}
}

func goBin(t *testing.T) string {
	t.Helper()
	b, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env GOPATH: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(b)), "bin")
}
