package snmp_test

import (
	"os"
	"strings"
	"testing"

	"github.com/racktrack/racktrack/providers/snmp"
)

// TestReadmeConfigs parses every YAML example in README.md.
func TestReadmeConfigs(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```yaml\n")[1:]
	if len(blocks) != 2 {
		t.Fatalf("%d yaml blocks, want 2", len(blocks))
	}
	want := []snmp.Config{
		{Address: "10.20.0.2", Version: "3", Username: "racktrack", SecurityLevel: "authPriv", AuthProtocol: "SHA256",
			PrivProtocol: "AES", Timeout: snmp.DefaultTimeout, Retries: 2, MaxRepetitions: 64},
		{Address: "sw1.example.net:161", Version: "2c", Timeout: snmp.DefaultTimeout, Retries: 2, MaxRepetitions: 64},
	}
	for i, blk := range blocks {
		text, _, _ := strings.Cut(blk, "```")
		c, err := snmp.LoadConfig([]byte(text))
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		c.AuthPassword, c.PrivPassword, c.Community = want[i].AuthPassword, want[i].PrivPassword, want[i].Community
		if c != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, c, want[i])
		}
	}
}
