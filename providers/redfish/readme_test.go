package redfish

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestReadmeConfig parses the configuration example of README.md.
func TestReadmeConfig(t *testing.T) {
	buf, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(buf), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no yaml block")
	}
	block, _, _ := strings.Cut(rest, "```")
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(block)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("README example: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("README example: %v", err)
	}
	if c.URL != "https://10.1.7.21" || c.Timeout != 10*time.Second || c.Password.File != "/etc/racktrack/bmc-password" {
		t.Fatalf("README example decoded to %+v", c)
	}
}
