package redfish

import "strings"

// quirk adjusts the provider for one BMC family. The table is data: each
// entry names what it matches (service root Vendor, optionally Product),
// what it changes, and why; QUIRKS.md explains every entry and how it is
// tested. Behaviour every BMC may show (MAC spellings, absent slots,
// trailing slashes, absolute session locations, refused $expand) is
// handled for all vendors and needs no entry.
type quirk struct {
	// Name identifies the entry in logs and QUIRKS.md.
	Name string
	// Vendor matches ServiceRoot.Vendor exactly; Product, when set, must
	// be a substring of ServiceRoot.Product.
	Vendor  string
	Product string
	// NoExpand never sends $expand, whatever the service root says.
	NoExpand bool
	// MaxExpandLevels caps $levels below what the service root advertises.
	MaxExpandLevels int
	// PreferLegacyThermal reads Chassis Thermal and Power even when
	// ThermalSubsystem and PowerSubsystem exist.
	PreferLegacyThermal bool
}

// quirks is the table. Keep it in step with QUIRKS.md.
var quirks = []quirk{
	{
		Name:                "dell-idrac-legacy-thermal",
		Vendor:              "Dell",
		PreferLegacyThermal: true,
	},
	{
		Name:     "supermicro-no-expand",
		Vendor:   "Supermicro",
		NoExpand: true,
	},
}

// lookupQuirks returns the entry for the service root, or the zero quirk.
func lookupQuirks(root *serviceRoot) quirk {
	if root == nil {
		return quirk{}
	}
	for _, q := range quirks {
		if q.Vendor == root.Vendor && (q.Product == "" || strings.Contains(root.Product, q.Product)) {
			return q
		}
	}
	return quirk{}
}
