package snmp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/secret"
	"github.com/racktrack/racktrack/providers/snmp"
)

func TestGoodConfigs(t *testing.T) {
	cases := map[string]snmp.Config{
		"v2c.good.yml": {Address: "192.0.2.20", Version: "2c", Community: secret.Ref{File: "/etc/racktrack/snmp-community"},
			Timeout: 5 * time.Second, Retries: 2, MaxRepetitions: 64},
		"v3.good.yml": {Address: "[2001:db8::20]:1161", Version: "3", Username: "racktrack",
			AuthProtocol: "SHA256", AuthPassword: secret.Ref{Env: "SNMP_AUTH"}, PrivProtocol: "AES256", PrivPassword: secret.Ref{Env: "SNMP_PRIV"},
			Context: "vlan-100", Timeout: 2 * time.Second, Retries: 0, MaxRepetitions: 64},
		"v3authnopriv.good.yml": {Address: "sw1.example.net", Version: "3", Username: "monitor", SecurityLevel: "authNoPriv",
			AuthProtocol: "SHA", AuthPassword: secret.Ref{File: "/run/secrets/snmp-auth"}, Timeout: 5 * time.Second, Retries: 2, MaxRepetitions: 64},
	}
	files, _ := filepath.Glob("testdata/*.good.yml")
	if len(files) != len(cases) {
		t.Fatalf("%d good files, %d cases", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := snmp.LoadConfig(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestBadConfigs(t *testing.T) {
	cases := map[string]string{
		"unknown-field.bad.yml":        "field comunity not found",
		"no-address.bad.yml":           "snmp config: address: required",
		"bad-port.bad.yml":             `snmp config: address: bad port "99999"`,
		"no-version.bad.yml":           "snmp config: version: required: 2c or 3",
		"version-1.bad.yml":            `snmp config: version: must be 2c or 3, got "1"`,
		"no-community.bad.yml":         "snmp config: community: required for version 2c",
		"v2c-username.bad.yml":         "snmp config: username: only for version 3",
		"v3-no-user.bad.yml":           "snmp config: username: required for version 3",
		"v3-bad-auth.bad.yml":          `snmp config: auth_protocol: must be one of SHA, SHA224, SHA256, SHA384, SHA512, got "SHA1"`,
		"v3-bad-priv.bad.yml":          `snmp config: priv_protocol: must be one of AES, AES192, AES256, AES192C, AES256C, got "3DES"`,
		"v3-no-priv-pass.bad.yml":      "snmp config: priv_password: required with security_level authPriv",
		"v3-bad-level.bad.yml":         `snmp config: security_level: must be noAuthNoPriv, authNoPriv or authPriv, got "authpriv"`,
		"v3-community.bad.yml":         "snmp config: community: only for version 2c",
		"both-sources.bad.yml":         "snmp config: community: set file or env, not both",
		"secret-unknown-field.bad.yml": "field vault not found",
		"negative-retries.bad.yml":     "snmp config: retries: must not be negative, got -1",
		"huge-repetitions.bad.yml":     "snmp config: max_repetitions: must be between 1 and 1000, got 5000",
		"v3-md5.bad.yml":               "snmp config: auth_protocol: MD5 is not supported (broken hash); use SHA or SHA256",
		"v3-des.bad.yml":               "snmp config: priv_protocol: DES is not supported (56-bit key); use AES",
		"bad-timeout.bad.yml":          "cannot unmarshal !!str `soon` into time.Duration",
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	if len(files) != len(cases) {
		t.Fatalf("%d bad files, %d cases", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			_, err = snmp.LoadConfig(b)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v, want %q", err, want)
			}
		})
	}
}

// TestNewResolvesSecrets: New reads the referenced secrets and never
// prints them.
func TestNewResolvesSecrets(t *testing.T) {
	c := v3(t, "127.0.0.1", "u", "SHA", "short", "AES", "privpass123")
	if _, err := snmp.New("sw", c, snmp.Options{}); err == nil || !strings.Contains(err.Error(), "auth_password: USM needs at least 8 characters") {
		t.Errorf("short password: %v", err)
	}
	c = v2c(t, "127.0.0.1", "x")
	c.Community = secret.Ref{Env: "RACKTRACK_TEST_UNSET_COMMUNITY"}
	if _, err := snmp.New("sw", c, snmp.Options{}); err == nil || !strings.Contains(err.Error(), "snmp sw: community: secret: environment variable RACKTRACK_TEST_UNSET_COMMUNITY is not set") {
		t.Errorf("unset env: %v", err)
	}
}
