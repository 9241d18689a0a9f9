package redfish

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/racktrack/racktrack/internal/secret"
)

// Defaults applied by UnmarshalYAML (and by DefaultConfig).
const (
	DefaultTimeout           = 10 * time.Second
	DefaultMaxInFlight       = 2
	DefaultRequestsPerSecond = 20.0
	DefaultRetries           = 2
)

// Auth modes for Config.Auth.
const (
	// AuthAuto logs in with a Redfish session and falls back to basic
	// authentication when the BMC has no session service.
	AuthAuto = "auto"
	// AuthSession requires a session.
	AuthSession = "session"
	// AuthBasic sends basic authentication on every request.
	AuthBasic = "basic"
)

// Expand modes for Config.Expand.
const (
	// ExpandAuto uses $expand as far as the service root's
	// ProtocolFeaturesSupported.ExpandQuery advertises and the quirks table
	// allows.
	ExpandAuto = "auto"
	// ExpandOff never sends $expand.
	ExpandOff = "off"
)

// Config is one Redfish target. It is decoded strictly (unknown keys are
// errors) with defaults applied, then checked by Validate.
//
//	url: https://10.1.7.21
//	username: racktrack
//	password: {file: /etc/racktrack/bmc-password}
//	ca_file: /etc/racktrack/bmc-ca.pem
type Config struct {
	// URL is https://host[:port] of the BMC. http:// only with AllowHTTP.
	URL string `yaml:"url"`
	// AllowHTTP permits an http:// URL (credentials then cross the network
	// in clear text; meant for lab simulators only).
	AllowHTTP bool `yaml:"allow_http"`
	// Username is the BMC account.
	Username string `yaml:"username"`
	// Password says where the password comes from: {file: PATH} or {env: NAME}.
	Password secret.Ref `yaml:"password"`
	// CAFile is a PEM bundle of the CA(s) that signed the BMC certificate.
	// Empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns off certificate verification. It is logged
	// as a warning when the provider is built.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds each HTTP request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// Auth is auto (default), session or basic.
	Auth string `yaml:"auth"`
	// Expand is auto (default) or off.
	Expand string `yaml:"expand"`
	// MaxInFlight is the most requests sent to this BMC at once, 1 or 2
	// (default 2). BMCs are small computers; more does not help.
	MaxInFlight int `yaml:"max_in_flight"`
	// RequestsPerSecond caps the request rate to this BMC (default 20).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Retries is how often a GET answered with 503/429 or a dropped
	// connection is retried, with backoff (default 2, 0 disables).
	Retries int `yaml:"retries"`
}

// DefaultConfig returns a Config with every default set and the required
// fields empty.
func DefaultConfig() Config {
	return Config{
		Timeout:           DefaultTimeout,
		Auth:              AuthAuto,
		Expand:            ExpandAuto,
		MaxInFlight:       DefaultMaxInFlight,
		RequestsPerSecond: DefaultRequestsPerSecond,
		Retries:           DefaultRetries,
	}
}

// UnmarshalYAML applies the defaults, then decodes strictly: an unknown
// key is an error even when the caller's decoder is not strict (yaml.v3
// does not carry KnownFields into custom unmarshalers).
func (c *Config) UnmarshalYAML(value *yaml.Node) error {
	type plain Config
	*c = DefaultConfig()
	if err := checkKnownFields(value, reflect.TypeFor[plain](), "redfish.Config"); err != nil {
		return err
	}
	return value.Decode((*plain)(c))
}

// checkKnownFields reports the first mapping key in node that names no
// field of t (by yaml tag), descending into nested structs.
func checkKnownFields(node *yaml.Node, t reflect.Type, name string) error {
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if node.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		fields[tag] = f.Type
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: field %s not found in type %s", k.Line, k.Value, name)
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() {
			if err := checkKnownFields(v, ft, ft.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate checks the configuration without touching the network or the
// file system; errors name the offending field. New does the I/O (secret,
// CA file).
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	} else {
		switch {
		case u.Scheme == "http" && !c.AllowHTTP:
			errs = append(errs, fmt.Errorf("url: %q uses http; use https or set allow_http: true", c.URL))
		case u.Scheme != "https" && u.Scheme != "http":
			errs = append(errs, fmt.Errorf("url: %q: scheme must be https", c.URL))
		case u.Host == "" || u.Hostname() == "":
			errs = append(errs, fmt.Errorf("url: %q has no host", c.URL))
		case u.Path != "" && u.Path != "/":
			errs = append(errs, fmt.Errorf("url: %q: give scheme://host[:port] only, without a path", c.URL))
		case u.User != nil:
			errs = append(errs, fmt.Errorf("url: %q: put credentials in username and password, not in the URL", c.URL))
		case u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("url: %q: no query or fragment allowed", c.URL))
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				errs = append(errs, fmt.Errorf("url: %q: bad port", c.URL))
			}
		}
	}
	if c.Username == "" {
		errs = append(errs, errors.New("username: required"))
	}
	switch {
	case c.Password.File == "" && c.Password.Env == "":
		errs = append(errs, errors.New("password: required: set file or env"))
	case c.Password.File != "" && c.Password.Env != "":
		errs = append(errs, errors.New("password: set file or env, not both"))
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		errs = append(errs, errors.New("insecure_skip_verify: cannot be combined with ca_file"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	switch c.Auth {
	case AuthAuto, AuthSession, AuthBasic:
	default:
		errs = append(errs, fmt.Errorf("auth: %q: want auto, session or basic", c.Auth))
	}
	switch c.Expand {
	case ExpandAuto, ExpandOff:
	default:
		errs = append(errs, fmt.Errorf("expand: %q: want auto or off", c.Expand))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 2 {
		errs = append(errs, fmt.Errorf("max_in_flight: %d: want 1 or 2", c.MaxInFlight))
	}
	if c.RequestsPerSecond <= 0 {
		errs = append(errs, fmt.Errorf("requests_per_second: must be positive, got %g", c.RequestsPerSecond))
	}
	if c.Retries < 0 || c.Retries > 5 {
		errs = append(errs, fmt.Errorf("retries: %d: want 0 to 5", c.Retries))
	}
	return errors.Join(errs...)
}
