package config

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeExample parses the agent configuration shown in README.md, so
// the documentation cannot drift from the code.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Agent configuration")
	if i < 0 {
		t.Fatal("README.md has no '## Agent configuration' section")
	}
	start := strings.Index(doc[i:], "```yaml\n")
	if start < 0 {
		t.Fatal("no yaml block in the agent configuration section")
	}
	body := doc[i+start+len("```yaml\n"):]
	body = body[:strings.Index(body, "```")]
	for _, v := range []string{"BMC_PASSWORD", "SNMP_AUTH_PASSWORD", "SNMP_PRIV_PASSWORD"} {
		t.Setenv(v, "from-the-environment")
	}
	c, err := Parse("README.md", []byte(body))
	if err != nil {
		t.Fatalf("README example does not load:\n%v", err)
	}
	var protocols []string
	for _, t := range c.Targets {
		protocols = append(protocols, t.Protocol())
	}
	if got := strings.Join(protocols, ","); got != "redfish,snmp,lldp" {
		t.Errorf("README example targets are %s, want one of each protocol", got)
	}
}
