package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/secret"
)

func TestGoodConfigs(t *testing.T) {
	t.Setenv("RACKTRACK_TEST_CH_PASSWORD", "hunter2")
	t.Setenv("RACKTRACK_TEST_ADMIN_TOKEN", "admin-secret")
	tests := []struct {
		file string
		want Config
		pass string
	}{
		{
			file: "minimal.good.yml",
			want: func() Config {
				c := Default()
				c.Kafka.Brokers = []string{"127.0.0.1:9092"}
				c.ClickHouse.Addr = "127.0.0.1:9000"
				return c
			}(),
		},
		{
			file: "full.good.yml",
			want: Config{
				Listen: "0.0.0.0:9100",
				Kafka: Kafka{
					Brokers:     []string{"kafka-1.example.net:9092", "kafka-2.example.net:9092"},
					Topic:       "obs",
					DLQTopic:    "obs.dlq",
					EventsTopic: "events",
					GroupID:     "collectors-eu",
				},
				ClickHouse: ClickHouse{
					Addr:         "clickhouse.example.net:9000",
					Database:     "inventory",
					Username:     "racktrack",
					Password:     &secret.Ref{Env: "RACKTRACK_TEST_CH_PASSWORD"},
					DialTimeout:  2 * time.Second,
					QueryTimeout: time.Minute,
					Compression:  "none",
				},
				Batch:     Batch{MaxRows: 20000, MaxWait: time.Second},
				Inventory: Inventory{PollInterval: time.Minute, StaleAfter: 5},
				Topology:  Topology{Precedence: []string{"fdb", "lldp_switch"}, FDBMaxMACsPerPort: 2},
				Auth: Auth{
					Tokens: []Token{
						{Name: "grafana", Role: "viewer", TokenSHA256: testHash, SHA256: sha256.Sum256([]byte("test"))},
						{Name: "oncall", Role: "operator", Token: &secret.Ref{File: "testdata/oncall.token"}, SHA256: sha256.Sum256([]byte("oncall-secret-token"))},
						{Name: "deploy-bot", Role: "admin", Token: &secret.Ref{Env: "RACKTRACK_TEST_ADMIN_TOKEN"}, SHA256: sha256.Sum256([]byte("admin-secret"))},
					},
					AllowAnonymousLoopback: false,
				},
			},
			pass: "hunter2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Load(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got.ClickHouse.PasswordSecret.Reveal() != tt.pass {
				t.Errorf("password = %q, want %q", got.ClickHouse.PasswordSecret.Reveal(), tt.pass)
			}
			got.ClickHouse.PasswordSecret = secret.Secret{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// testHash is the SHA-256 of the token "test".
const testHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestBadConfigs(t *testing.T) {
	t.Setenv("RACKTRACK_TEST_ADMIN_TOKEN", "admin-secret")
	t.Setenv("RACKTRACK_TEST_SAME_TOKEN", "test")
	tests := []struct {
		file string
		want string
	}{
		{"unknown-field.bad.yml", "testdata/unknown-field.bad.yml:3: partitions: unknown field"},
		{"no-brokers.bad.yml", "testdata/no-brokers.bad.yml: kafka.brokers: at least one broker is required"},
		{"broker-no-port.bad.yml", `testdata/broker-no-port.bad.yml: kafka.brokers[0]: "kafka-1" is not host:port: missing port in address`},
		{"no-clickhouse.bad.yml", "testdata/no-clickhouse.bad.yml: clickhouse.addr: is required (host:port of the native protocol)"},
		{"bad-duration.bad.yml", "testdata/bad-duration.bad.yml:6: cannot unmarshal !!str `soon` into time.Duration"},
		{"zero-rows.bad.yml", "testdata/zero-rows.bad.yml: batch.max_rows: must be between 1 and 1000000, got 0"},
		{"same-topic.bad.yml", `testdata/same-topic.bad.yml: kafka.dlq_topic: topic "racktrack.observations" is already used by kafka.topic`},
		{"bad-database.bad.yml", `testdata/bad-database.bad.yml: clickhouse.database: "rack-track" is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`},
		{"password-both.bad.yml", "testdata/password-both.bad.yml: clickhouse.password: set exactly one of file or env"},
		{"password-unset.bad.yml", "testdata/password-unset.bad.yml: clickhouse.password: secret: environment variable RACKTRACK_TEST_UNSET_VARIABLE is not set"},
		{"listen-no-port.bad.yml", `testdata/listen-no-port.bad.yml: listen: "localhost" is not host:port: missing port in address`},
		{"bad-precedence.bad.yml", `testdata/bad-precedence.bad.yml: topology.precedence[0]: "lldp" is not an evidence kind (lldp_switch, lldp_host, fdb)
testdata/bad-precedence.bad.yml: topology.precedence[2]: "fdb" is listed twice`},
		{"syntax.bad.yml", "testdata/syntax.bad.yml: line 1: did not find expected node content"},
		{"empty.bad.yml", "testdata/empty.bad.yml: file is empty"},
		{"missing.yml", "testdata/missing.yml: open testdata/missing.yml: no such file or directory"},
		{"auth-bad-role.bad.yml", `testdata/auth-bad-role.bad.yml: auth.tokens[0].role: "reader" is not a role (viewer, operator, admin)`},
		{"auth-bad-hash.bad.yml", `testdata/auth-bad-hash.bad.yml: auth.tokens[0].token_sha256: is not a SHA-256 (64 hex digits, from: printf %s "$TOKEN" | sha256sum)
testdata/auth-bad-hash.bad.yml: auth.tokens[1].token_sha256: is not a SHA-256 (64 hex digits, from: printf %s "$TOKEN" | sha256sum)`},
		{"auth-bad-name.bad.yml", `testdata/auth-bad-name.bad.yml: auth.tokens[0].name: "grafana dashboards": use at most 64 letters, digits, '.', '_' and '-'
testdata/auth-bad-name.bad.yml: auth.tokens[1].name: must not be empty`},
		{"auth-duplicate-name.bad.yml", `testdata/auth-duplicate-name.bad.yml: auth.tokens[1].name: "grafana" is already the name of auth.tokens[0]`},
		{"auth-public-no-tokens.bad.yml", `testdata/auth-public-no-tokens.bad.yml: auth.tokens: listen "0.0.0.0:8080" is not a loopback address: configure at least one token (anonymous access is allowed only on loopback)`},
		{"auth-all-interfaces-no-tokens.bad.yml", `testdata/auth-all-interfaces-no-tokens.bad.yml: auth.tokens: listen ":8080" is not a loopback address: configure at least one token (anonymous access is allowed only on loopback)`},
		{"auth-anonymous-off.bad.yml", "testdata/auth-anonymous-off.bad.yml: auth.tokens: none configured and allow_anonymous_loopback is false: every API request would be refused"},
		{"auth-token-both.bad.yml", `testdata/auth-token-both.bad.yml: auth.tokens[0]: set exactly one of token_sha256 or token
testdata/auth-token-both.bad.yml: auth.tokens[1]: set exactly one of token_sha256 or token`},
		{"auth-token-file-missing.bad.yml", "testdata/auth-token-file-missing.bad.yml: auth.tokens[0].token: secret: read testdata/no-such.token: open testdata/no-such.token: no such file or directory"},
		{"auth-same-token.bad.yml", `testdata/auth-same-token.bad.yml: auth.tokens[1]: token "oncall" is the same token as "grafana"`},
		{"auth-unknown-field.bad.yml", "testdata/auth-unknown-field.bad.yml:10: token_file: unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load("testdata/" + tt.file)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			} else if ce.File != "testdata/"+tt.file {
				t.Errorf("Error.File = %q", ce.File)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := Parse("c.yml", []byte("listen: x\nbatch: {max_rows: -1, max_wait: 0s}\n"))
	want := `c.yml: listen: "x" is not host:port: missing port in address
c.yml: kafka.brokers: at least one broker is required
c.yml: clickhouse.addr: is required (host:port of the native protocol)
c.yml: batch.max_rows: must be between 1 and 1000000, got -1
c.yml: batch.max_wait: must be positive and at most 1m0s, got 0s`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		listen string
		want   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.1.7:0", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LOCALHOST:8080", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"[::]:8080", false},
		{"10.0.0.1:8080", false},
		{"collector.example.net:8080", false},
		{"localhost", false},
	}
	for _, tt := range tests {
		if got := IsLoopback(tt.listen); got != tt.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tt.listen, got, tt.want)
		}
	}
}

// TestTokenNotKept checks that a token read from a file or variable is
// kept only as its hash: the decoded configuration, printed every way,
// does not contain it.
func TestTokenNotKept(t *testing.T) {
	const token = "s3cr3t-0f-the-oncall-rota"
	t.Setenv("RACKTRACK_TEST_TOKEN", token)
	cfg, err := Parse("c.yml", []byte(`listen: 10.0.0.1:8080
kafka: {brokers: [127.0.0.1:9092]}
clickhouse: {addr: 127.0.0.1:9000}
auth:
  tokens: [{name: oncall, role: operator, token: {env: RACKTRACK_TEST_TOKEN}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Auth.Tokens[0].SHA256, sha256.Sum256([]byte(token)); got != want {
		t.Errorf("SHA256 = %x, want %x", got, want)
	}
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, token) {
			t.Errorf("configuration printed with the token: %s", s)
		}
	}
}

func TestStaleAge(t *testing.T) {
	if got := (Inventory{PollInterval: time.Minute, StaleAfter: 3}).StaleAge(); got != 3*time.Minute {
		t.Errorf("StaleAge = %v", got)
	}
}

// TestReadmeExample parses the configuration shown in collector/README.md:
// it must be valid and equal to the defaults plus the two required fields.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no yaml block")
	}
	block, _, _ := strings.Cut(rest, "```")
	got, err := Parse("README.md", []byte(block))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	want := Default()
	want.Kafka.Brokers = []string{"kafka-1.example.net:9092"}
	want.ClickHouse.Addr = "clickhouse.example.net:9000"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("README example:\n got %+v\nwant %+v", got, want)
	}

	// The second block is the Authentication example.
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatal("README.md has no auth yaml block")
	}
	block, _, _ = strings.Cut(rest, "```")
	t.Setenv("RACKTRACK_TOKEN_ONCALL", "oncall-token")
	got, err = Parse("README.md", []byte(block))
	if err != nil {
		t.Fatalf("README auth example: %v", err)
	}
	want.Listen = "0.0.0.0:8080"
	want.Auth.Tokens = []Token{
		{Name: "grafana", Role: "viewer", TokenSHA256: testHash, SHA256: sha256.Sum256([]byte("test"))},
		{Name: "oncall", Role: "operator", Token: &secret.Ref{Env: "RACKTRACK_TOKEN_ONCALL"}, SHA256: sha256.Sum256([]byte("oncall-token"))},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("README auth example:\n got %+v\nwant %+v", got, want)
	}
}

// TestRootReadmeExample parses the collector configuration shown in the
// repository's README.md.
func TestRootReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Collector configuration")
	if !ok {
		t.Fatal("README.md has no collector configuration section")
	}
	_, rest, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatal("no yaml block in the collector configuration section")
	}
	block, _, _ := strings.Cut(rest, "```")
	t.Setenv("RACKTRACK_GRAFANA_TOKEN", "a-token-for-grafana")
	got, err := Parse("README.md", []byte(block))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if len(got.Auth.Tokens) != 1 || got.Auth.Tokens[0].Name != "grafana" || got.Kafka.GroupID != "racktrack-collector" {
		t.Errorf("README example decoded to %+v", got)
	}
}
