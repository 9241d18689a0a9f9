package redfishsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// A DMTF mockup (the format of the DMTF Redfish-Mockup-Server and of
// DSP2043 mockup bundles) is a directory tree with one folder per URI and
// the resource in index.json inside it: DIR/redfish/v1/index.json is the
// service root, DIR/redfish/v1/Systems/1/index.json a system. Other files
// (headers.json, $metadata) are ignored.

// loadMockup reads a mockup directory. DIR may be the mockup root (holding
// redfish/v1) or the redfish/v1 folder itself.
func loadMockup(dir string) (tree, error) {
	base := dir
	prefix := ""
	if _, err := os.Stat(filepath.Join(dir, "redfish", "v1", "index.json")); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "index.json")); err2 != nil {
			return nil, fmt.Errorf("redfishsim: %s is not a mockup: no redfish/v1/index.json", dir)
		}
		prefix = rootPath
	}
	t := tree{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "index.json" {
			return nil
		}
		rel, err := filepath.Rel(base, filepath.Dir(p))
		if err != nil {
			return err
		}
		uri := cleanPath(path.Join("/", prefix, filepath.ToSlash(rel)))
		buf, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var res map[string]any
		if err := json.Unmarshal(buf, &res); err != nil {
			return fmt.Errorf("redfishsim: mockup %s: %w", p, err)
		}
		t[uri] = res
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redfishsim: load mockup %s: %w", dir, err)
	}
	if _, ok := t[rootPath]; !ok {
		return nil, errors.New("redfishsim: mockup " + dir + " has no service root")
	}
	return t, nil
}

// mockupExpand reads the $expand support a mockup's service root advertises.
func mockupExpand(t tree) expandSupport {
	pf, _ := t[rootPath]["ProtocolFeaturesSupported"].(map[string]any)
	eq, _ := pf["ExpandQuery"].(map[string]any)
	b := func(k string) bool { v, _ := eq[k].(bool); return v }
	n, _ := eq["MaxLevels"].(float64)
	return expandSupport{ExpandAll: b("ExpandAll"), Levels: b("Levels"), Links: b("Links"), NoLinks: b("NoLinks"), MaxLevels: int(n)}
}

// mockupServer summarises the first system of a mockup as a Server, so
// WriteSummary and Server have something to show.
func mockupServer(t tree, name string) Server {
	s := Server{Name: name}
	coll := t[rootPath+"/Systems"]
	members, _ := coll["Members"].([]any)
	if len(members) == 0 {
		return s
	}
	m, _ := members[0].(map[string]any)
	id, _ := m["@odata.id"].(string)
	sys := t[cleanPath(id)]
	str := func(k string) string { v, _ := sys[k].(string); return v }
	s.Manufacturer, s.Model, s.SerialNumber = str("Manufacturer"), str("Model"), str("SerialNumber")
	s.UUID, s.AssetTag, s.BIOSVersion, s.PowerState = str("UUID"), str("AssetTag"), str("BiosVersion"), str("PowerState")
	s.SKU = str("SKU")
	return s
}

// WriteMockup writes the tree the BMC serves now as a DMTF mockup under
// dir (dir/redfish/v1/index.json and so on), so a simulated server can be
// captured, edited by hand and served again through Options.Mockups.
// Sessions are not written.
func (b *BMC) WriteMockup(dir string) error {
	b.mu.Lock()
	t := b.tree
	if b.mockup != nil {
		t = b.mockup
	}
	b.mu.Unlock()
	for uri, res := range t {
		rel := strings.TrimPrefix(uri, "/")
		d := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("redfishsim: write mockup: %w", err)
		}
		buf, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("redfishsim: write mockup %s: %w", uri, err)
		}
		if err := os.WriteFile(filepath.Join(d, "index.json"), append(buf, '\n'), 0o644); err != nil {
			return fmt.Errorf("redfishsim: write mockup: %w", err)
		}
	}
	return nil
}
