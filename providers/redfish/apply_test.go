package redfish

import (
	"context"
	"errors"
	"strings"
	"testing"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

func TestApply(t *testing.T) {
	e := startEnv(t, "127.0.3.121", []redfishsim.Server{
		redfishsim.GenerateServer("lab", "r10", 0, redfishsim.ProfileDell),
		redfishsim.GenerateServer("lab", "r10", 1, redfishsim.ProfileOpenBMC), // ResetType in ActionInfo
	})
	dell, obmc := e.sim.BMCs()[0], e.sim.BMCs()[1]
	providersByBMC := map[*redfishsim.BMC]*Provider{
		dell: newProvider(t, dell.Name, e.config(dell.URL)),
		obmc: newProvider(t, obmc.Name, e.config(obmc.URL)),
	}
	oldTag := dell.Server().AssetTag

	tests := []struct {
		name     string
		bmc      *redfishsim.BMC
		op       *racktrackv1.Operation
		applied  bool
		observed string
		kind     providers.ErrorKind
		check    func(redfishsim.Server) bool
	}{
		{"asset tag", dell, &racktrackv1.Operation{Kind: OpAssetTag, Field: "AssetTag", From: oldTag, To: "RT-0001"}, true, "RT-0001", "",
			func(s redfishsim.Server) bool { return s.AssetTag == "RT-0001" }},
		{"asset tag stale from", dell, &racktrackv1.Operation{Kind: OpAssetTag, From: oldTag, To: "RT-0002"}, false, "RT-0001", providers.KindProtocol,
			func(s redfishsim.Server) bool { return s.AssetTag == "RT-0001" }},
		{"power off", dell, &racktrackv1.Operation{Kind: OpReset, From: "On", To: "ForceOff"}, true, "Off", "",
			func(s redfishsim.Server) bool { return s.PowerState == "Off" }},
		{"reset type not allowed", dell, &racktrackv1.Operation{Kind: OpReset, To: "Explode"}, false, "Off", providers.KindUnsupported,
			func(s redfishsim.Server) bool { return s.PowerState == "Off" }},
		{"power on", dell, &racktrackv1.Operation{Kind: OpReset, To: "On"}, true, "On", "",
			func(s redfishsim.Server) bool { return s.PowerState == "On" }},
		{"reset via ActionInfo", obmc, &racktrackv1.Operation{Kind: OpReset, To: "GracefulShutdown"}, true, "Off", "",
			func(s redfishsim.Server) bool { return s.PowerState == "Off" }},
		{"boot override", dell, &racktrackv1.Operation{Kind: OpBootOverride, Field: "Boot", From: "None", To: "Pxe"}, true, "Pxe", "",
			func(s redfishsim.Server) bool {
				return s.Boot == redfishsim.BootOverride{Target: "Pxe", Enabled: "Once"}
			}},
		{"boot continuous", obmc, &racktrackv1.Operation{Kind: OpBootOverride, To: "Hdd", Params: map[string]string{"enabled": "Continuous"}}, true, "Hdd", "",
			func(s redfishsim.Server) bool {
				return s.Boot == redfishsim.BootOverride{Target: "Hdd", Enabled: "Continuous"}
			}},
		{"boot target not allowed", dell, &racktrackv1.Operation{Kind: OpBootOverride, To: "Floppy"}, false, "Pxe", providers.KindUnsupported,
			func(s redfishsim.Server) bool { return s.Boot.Target == "Pxe" }},
		{"indicator", dell, &racktrackv1.Operation{Kind: OpIndicatorLED, From: "Off", To: "Blinking"}, true, "Blinking", "",
			func(s redfishsim.Server) bool { return s.IndicatorLED == "Blinking" }},
		{"bios attribute staged", dell, &racktrackv1.Operation{Kind: OpBIOSAttribute, Field: "ProcTurboMode", From: "Enabled", To: "Disabled"}, true, "Disabled", "",
			func(s redfishsim.Server) bool {
				return s.BIOSPending["ProcTurboMode"] == "Disabled" && s.BIOSAttributes["ProcTurboMode"] == "Enabled"
			}},
		{"bios applies at reset", dell, &racktrackv1.Operation{Kind: OpReset, To: "GracefulRestart"}, true, "On", "",
			func(s redfishsim.Server) bool { return s.BIOSAttributes["ProcTurboMode"] == "Disabled" }},
		{"bios unknown attribute", dell, &racktrackv1.Operation{Kind: OpBIOSAttribute, Field: "Overclock", To: "Max"}, false, "", providers.KindUnsupported,
			func(redfishsim.Server) bool { return true }},
		{"unknown kind", dell, &racktrackv1.Operation{Kind: "redfish.paint", To: "red"}, false, "", providers.KindUnsupported,
			func(redfishsim.Server) bool { return true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.bmc.RecentRequests())
			res, err := providersByBMC[tc.bmc].Apply(context.Background(), tc.op)
			if res == nil || res.Applied != tc.applied || res.Observed != tc.observed || res.Operation != tc.op {
				t.Fatalf("result %v (err %v), want applied %v observed %q", res, err, tc.applied, tc.observed)
			}
			if tc.kind == "" {
				if err != nil || res.Error != "" {
					t.Fatalf("Apply: %v", err)
				}
			} else {
				te := targetError(t, err)
				if te.Kind != tc.kind || res.Error != err.Error() {
					t.Fatalf("kind %q (%v), want %q; result error %q", te.Kind, err, tc.kind, res.Error)
				}
				// Refused operations send no change.
				for _, r := range tc.bmc.RecentRequests()[before:] {
					if !strings.HasPrefix(r, "GET ") && !strings.HasPrefix(r, "POST /redfish/v1/SessionService") {
						t.Fatalf("refused operation sent %q", r)
					}
				}
			}
			if !tc.check(tc.bmc.Server()) {
				t.Fatalf("simulated server after %s: %+v", tc.name, tc.bmc.Server())
			}
		})
	}
	if _, err := providersByBMC[dell].Apply(context.Background(), &racktrackv1.Operation{Kind: OpAssetTag, From: "X", To: "Y"}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("stale from: %v, want ErrPrecondition", err)
	}
	// The next poll sees the changes.
	res, err := providersByBMC[dell].Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sys := res.Observations[0].GetServerInventory().GetSystem()
	if sys.AssetTag != "RT-0001" || sys.PowerState != "On" {
		t.Fatalf("poll after changes: asset tag %q power %q", sys.AssetTag, sys.PowerState)
	}
}
