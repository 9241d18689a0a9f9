package redfishsim

import (
	"fmt"
	"strings"
)

// Profile names a vendor flavour of Redfish tree. The flavours are modelled
// loosely on what the named BMC families serve (resource ids, MAC
// spelling, $expand support, session limits, legacy or new thermal and
// power resources); they exist to exercise a client's tolerance, and are
// not captures of real firmware.
type Profile string

// The profiles the simulator knows.
const (
	ProfileGeneric    Profile = "generic"
	ProfileDell       Profile = "dell"       // iDRAC-like: System.Embedded.1, upper-case MACs
	ProfileHPE        Profile = "hpe"        // iLO-like: Systems/1, absolute session Location, legacy Thermal/Power only
	ProfileSupermicro Profile = "supermicro" // advertises $expand but fails it with 500, small session limit
	ProfileLenovo     Profile = "lenovo"     // XCC-like: dash-separated MACs
	ProfileOpenBMC    Profile = "openbmc"    // bmcweb-like: Systems/system, ThermalSubsystem/PowerSubsystem only
)

// Profiles lists every profile, in a stable order.
func Profiles() []Profile {
	return []Profile{ProfileGeneric, ProfileDell, ProfileHPE, ProfileSupermicro, ProfileLenovo, ProfileOpenBMC}
}

// ParseProfile returns the profile named s.
func ParseProfile(s string) (Profile, error) {
	for _, p := range Profiles() {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("redfishsim: unknown profile %q", s)
}

// expandSupport is what a service root advertises in
// ProtocolFeaturesSupported.ExpandQuery; the zero value is "no $expand".
type expandSupport struct {
	ExpandAll, Levels, Links, NoLinks bool
	MaxLevels                         int
}

func (e expandSupport) any() bool { return e.ExpandAll || e.Links || e.NoLinks }

// macStyle is how a profile spells MAC addresses.
type macStyle int

const (
	macLowerColon macStyle = iota
	macUpperColon
	macUpperDash
)

func (m macStyle) format(mac string) string {
	switch m {
	case macUpperColon:
		return strings.ToUpper(mac)
	case macUpperDash:
		return strings.ReplaceAll(strings.ToUpper(mac), ":", "-")
	}
	return mac
}

// profileSpec is the data behind a Profile.
type profileSpec struct {
	vendor, product                string
	systemID, managerID, chassisID string
	mac                            macStyle
	expand                         expandSupport
	maxSessions                    int
	// legacy serves Chassis/{id}/Thermal and Power; subsystems serves
	// ThermalSubsystem, PowerSubsystem and EnvironmentMetrics.
	legacy, subsystems bool
	// inlineControllers serves Storage.StorageControllers inline
	// (deprecated in Storage v1.15); otherwise only the Controllers
	// collection.
	inlineControllers bool
	// absoluteSessionLocation answers a login with a full URL in Location.
	absoluteSessionLocation bool
	// resetActionInfo lists ResetType values in an ActionInfo resource
	// instead of inline AllowableValues.
	resetActionInfo bool
	// brokenExpand answers every $expand request with 500 although the
	// service root advertises support.
	brokenExpand bool
}

var profileSpecs = map[Profile]profileSpec{
	ProfileGeneric: {
		vendor: "Racktrack", product: "Racktrack Redfish Simulator",
		systemID: "1", managerID: "1", chassisID: "1",
		expand:      expandSupport{ExpandAll: true, Levels: true, Links: true, NoLinks: true, MaxLevels: 3},
		maxSessions: 16, legacy: true, subsystems: true, inlineControllers: true,
	},
	ProfileDell: {
		vendor: "Dell", product: "Integrated Dell Remote Access Controller",
		systemID: "System.Embedded.1", managerID: "iDRAC.Embedded.1", chassisID: "System.Embedded.1",
		mac:         macUpperColon,
		expand:      expandSupport{ExpandAll: true, Levels: true, Links: true, NoLinks: true, MaxLevels: 2},
		maxSessions: 8, legacy: true, subsystems: true, inlineControllers: true,
	},
	ProfileHPE: {
		vendor: "HPE", product: "ProLiant DL360 Gen10 Plus",
		systemID: "1", managerID: "1", chassisID: "1",
		expand:      expandSupport{NoLinks: true, Levels: true, MaxLevels: 2},
		maxSessions: 10, legacy: true, inlineControllers: true, absoluteSessionLocation: true,
	},
	ProfileSupermicro: {
		vendor: "Supermicro", product: "",
		systemID: "1", managerID: "1", chassisID: "1",
		mac:          macUpperColon,
		expand:       expandSupport{ExpandAll: true, Levels: true, NoLinks: true, MaxLevels: 2},
		brokenExpand: true,
		maxSessions:  4, legacy: true, inlineControllers: true,
	},
	ProfileLenovo: {
		vendor: "Lenovo", product: "ThinkSystem SR650 V2",
		systemID: "1", managerID: "1", chassisID: "1",
		mac:         macUpperDash,
		expand:      expandSupport{ExpandAll: true, Levels: true, Links: true, NoLinks: true, MaxLevels: 3},
		maxSessions: 16, legacy: true, subsystems: true, inlineControllers: true,
	},
	ProfileOpenBMC: {
		vendor: "OpenBMC", product: "",
		systemID: "system", managerID: "bmc", chassisID: "chassis",
		expand:      expandSupport{ExpandAll: true, Levels: true, Links: true, NoLinks: true, MaxLevels: 6},
		maxSessions: 64, subsystems: true, resetActionInfo: true,
	},
}

func specFor(p Profile) profileSpec {
	if s, ok := profileSpecs[p]; ok {
		return s
	}
	return profileSpecs[ProfileGeneric]
}
