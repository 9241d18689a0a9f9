// Package secret keeps credentials out of logs and upstream messages. A
// Secret prints as "<secret>" in every format; the value is read only
// through Reveal.
package secret

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret is a credential. Its zero value is the empty secret.
type Secret struct{ v string }

// New wraps a value.
func New(v string) Secret { return Secret{v: v} }

// Reveal returns the value, for handing to a protocol client only.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String hides the value.
func (s Secret) String() string { return "<secret>" }

// GoString hides the value from %#v.
func (s Secret) GoString() string { return "<secret>" }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue("<secret>") }

// MarshalText hides the value from JSON, YAML and text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte("<secret>"), nil }

// Format hides the value from every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("<secret>")) }

// Ref says where a secret comes from: a file (first line, trailing
// newline trimmed) or an environment variable. Exactly one must be set.
type Ref struct {
	File string `yaml:"file,omitempty"`
	Env  string `yaml:"env,omitempty"`
}

// ErrNoSource is returned when a Ref names neither a file nor a variable.
var ErrNoSource = errors.New("secret: neither file nor env is set")

// Resolve reads the secret the reference points to.
func (r Ref) Resolve() (Secret, error) {
	switch {
	case r.File != "" && r.Env != "":
		return Secret{}, errors.New("secret: set file or env, not both")
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return Secret{}, fmt.Errorf("secret: read %s: %w", r.File, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Secret{}, fmt.Errorf("secret: file %s is empty", r.File)
		}
		return Secret{v: v}, nil
	case r.Env != "":
		v, ok := os.LookupEnv(r.Env)
		if !ok || v == "" {
			return Secret{}, fmt.Errorf("secret: environment variable %s is not set", r.Env)
		}
		return Secret{v: v}, nil
	}
	return Secret{}, ErrNoSource
}
