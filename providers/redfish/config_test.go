package redfish

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/racktrack/racktrack/internal/secret"
)

func loadConfig(t *testing.T, path string) (Config, error) {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(buf))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestGoodConfigs(t *testing.T) {
	want := map[string]Config{
		"minimal.good.yml": func() Config {
			c := DefaultConfig()
			c.URL, c.Username, c.Password = "https://10.1.7.21", "racktrack", secret.Ref{File: "/etc/racktrack/bmc-password"}
			return c
		}(),
		"full.good.yml": {
			URL: "https://bmc-r07-u12.example.net:8443", Username: "racktrack",
			Password: secret.Ref{Env: "RACKTRACK_BMC_PASSWORD"}, CAFile: "/etc/racktrack/bmc-ca.pem",
			Timeout: 5 * time.Second, Auth: AuthSession, Expand: ExpandOff, MaxInFlight: 1,
			RequestsPerSecond: 5, Retries: 1,
		},
		"insecure.good.yml": func() Config {
			c := DefaultConfig()
			c.URL, c.Username, c.Password, c.InsecureSkipVerify = "https://10.1.7.22", "racktrack", secret.Ref{Env: "BMC_PASSWORD"}, true
			return c
		}(),
		"lab-http.good.yml": func() Config {
			c := DefaultConfig()
			c.URL, c.AllowHTTP, c.Username, c.Password, c.Auth = "http://127.0.1.5:8000", true, "admin", secret.Ref{File: "/run/secrets/bmc"}, AuthBasic
			return c
		}(),
	}
	files, _ := filepath.Glob("testdata/*.good.yml")
	if len(files) != len(want) {
		t.Fatalf("%d good files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			got, err := loadConfig(t, f)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if w := want[filepath.Base(f)]; got != w {
				t.Fatalf("got  %+v\nwant %+v", got, w)
			}
		})
	}
}

func TestBadConfigs(t *testing.T) {
	want := map[string]string{
		"unknown-field.bad.yml":          "line 4: field verify_tls not found in type redfish.Config",
		"unknown-password-field.bad.yml": "line 3: field path not found in type secret.Ref",
		"no-url.bad.yml":                 "url: required",
		"http.bad.yml":                   `url: "http://10.1.7.21" uses http; use https or set allow_http: true`,
		"url-path.bad.yml":               `url: "https://10.1.7.21/redfish/v1": give scheme://host[:port] only, without a path`,
		"no-username.bad.yml":            "username: required",
		"no-password.bad.yml":            "password: required: set file or env",
		"both-password.bad.yml":          "password: set file or env, not both",
		"insecure-and-ca.bad.yml":        "insecure_skip_verify: cannot be combined with ca_file",
		"timeout.bad.yml":                "timeout: must be positive, got 0s",
		"in-flight.bad.yml":              "max_in_flight: 8: want 1 or 2",
		"auth.bad.yml":                   `auth: "kerberos": want auto, session or basic`,
		"timeout-type.bad.yml":           "yaml: unmarshal errors:\n  line 4: cannot unmarshal !!str `soon` into time.Duration",
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	if len(files) != len(want) {
		t.Fatalf("%d bad files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := loadConfig(t, f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if got, w := err.Error(), want[filepath.Base(f)]; got != w {
				t.Fatalf("error\n got: %s\nwant: %s", got, w)
			}
		})
	}
}

// TestNewReadsFiles covers the I/O New does that Validate does not.
func TestNewReadsFiles(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := DefaultConfig()
	base.URL, base.Username, base.Password = "https://127.0.0.1", "u", secret.Ref{File: pw}
	tests := []struct {
		name string
		cfg  func(Config) Config
		want string
	}{
		{"missing password file", func(c Config) Config { c.Password = secret.Ref{File: filepath.Join(dir, "nope")}; return c },
			"redfish bmc1: password: secret: read " + filepath.Join(dir, "nope") + ": open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"unset env", func(c Config) Config { c.Password = secret.Ref{Env: "RACKTRACK_TEST_UNSET_VAR"}; return c },
			"redfish bmc1: password: secret: environment variable RACKTRACK_TEST_UNSET_VAR is not set"},
		{"CA not PEM", func(c Config) Config { c.CAFile = notPEM; return c },
			"redfish bmc1: ca_file: " + notPEM + " holds no PEM certificate"},
		{"invalid", func(c Config) Config { c.Username = ""; return c }, "redfish bmc1: config: username: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New("bmc1", tc.cfg(base), Options{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("New: %v\nwant: %s", err, tc.want)
			}
		})
	}
}
