package redfishsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
)

func readBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var body map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return nil, false
	}
	return body, true
}

func propertyError(w http.ResponseWriter, msgID, prop string, value any) {
	msg := fmt.Sprintf("The property %s is not a known property of the resource.", prop)
	if msgID == "Base.1.8.PropertyValueNotInList" {
		msg = fmt.Sprintf("The value %v for the property %s is not in the list of acceptable values.", value, prop)
	}
	writeError(w, http.StatusBadRequest, msgID, msg)
}

// patch applies PATCH to the writable properties the simulator models:
// AssetTag, IndicatorLED and Boot override on the system; AssetTag and
// IndicatorLED on the chassis; Attributes on the BIOS settings object.
func (b *BMC) patch(w http.ResponseWriter, r *http.Request, p string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mockup != nil {
		b.patchMockupLocked(w, p, body)
		return
	}
	sp := b.spec()
	sys := rootPath + "/Systems/" + sp.systemID
	ch := rootPath + "/Chassis/" + sp.chassisID
	next := b.server.Clone()
	switch p {
	case sys, ch:
		for k, v := range body {
			switch k {
			case "AssetTag":
				s, ok := v.(string)
				if !ok || len(s) > 64 {
					propertyError(w, "Base.1.8.PropertyValueNotInList", k, v)
					return
				}
				next.AssetTag = s
			case "IndicatorLED":
				s, _ := v.(string)
				if !slices.Contains([]string{"Lit", "Blinking", "Off"}, s) {
					propertyError(w, "Base.1.8.PropertyValueNotInList", k, v)
					return
				}
				next.IndicatorLED = s
			case "Boot":
				if p != sys {
					propertyError(w, "Base.1.8.PropertyUnknown", k, v)
					return
				}
				boot, ok := v.(map[string]any)
				if !ok {
					propertyError(w, "Base.1.8.PropertyValueNotInList", k, v)
					return
				}
				for bk, bv := range boot {
					s, _ := bv.(string)
					switch bk {
					case "BootSourceOverrideTarget":
						if !slices.Contains(bootTargets, any(s)) {
							propertyError(w, "Base.1.8.PropertyValueNotInList", bk, bv)
							return
						}
						next.Boot.Target = s
					case "BootSourceOverrideEnabled":
						if !slices.Contains([]string{"Disabled", "Once", "Continuous"}, s) {
							propertyError(w, "Base.1.8.PropertyValueNotInList", bk, bv)
							return
						}
						next.Boot.Enabled = s
					default:
						propertyError(w, "Base.1.8.PropertyUnknown", bk, bv)
						return
					}
				}
			default:
				propertyError(w, "Base.1.8.PropertyUnknown", k, v)
				return
			}
		}
	case sys + "/Bios/Settings":
		for k, v := range body {
			if k != "Attributes" {
				propertyError(w, "Base.1.8.PropertyUnknown", k, v)
				return
			}
			attrs, ok := v.(map[string]any)
			if !ok {
				propertyError(w, "Base.1.8.PropertyValueNotInList", k, v)
				return
			}
			if next.BIOSPending == nil {
				next.BIOSPending = map[string]string{}
			}
			for ak, av := range attrs {
				s, ok := av.(string)
				if _, known := next.BIOSAttributes[ak]; !known || !ok {
					propertyError(w, "Base.1.8.PropertyUnknown", ak, av)
					return
				}
				next.BIOSPending[ak] = s
			}
		}
	default:
		writeError(w, http.StatusMethodNotAllowed, "Base.1.8.OperationNotAllowed", "PATCH is not allowed on "+p+".")
		return
	}
	b.server = next
	b.tree = buildTree(&b.server, b.IP.String())
	w.WriteHeader(http.StatusNoContent)
}

// patchMockupLocked merges top-level properties into a mockup resource.
func (b *BMC) patchMockupLocked(w http.ResponseWriter, p string, body map[string]any) {
	res, ok := b.mockup[p]
	if !ok {
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "The resource at the URI "+p+" was not found.")
		return
	}
	for k := range body {
		if _, known := res[k]; !known {
			propertyError(w, "Base.1.8.PropertyUnknown", k, body[k])
			return
		}
	}
	next := maps.Clone(b.mockup)
	merged := maps.Clone(res)
	maps.Copy(merged, body)
	next[p] = merged
	b.mockup = next
	w.WriteHeader(http.StatusNoContent)
}

// post runs the actions the simulator models: ComputerSystem.Reset and
// Manager.Reset.
func (b *BMC) post(w http.ResponseWriter, r *http.Request, p string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	sp := b.spec()
	switch p {
	case rootPath + "/Systems/" + sp.systemID + "/Actions/ComputerSystem.Reset":
		rt, _ := body["ResetType"].(string)
		if !slices.Contains(resetTypes, any(rt)) {
			propertyError(w, "Base.1.8.PropertyValueNotInList", "ResetType", body["ResetType"])
			return
		}
		next := b.server.Clone()
		switch rt {
		case "On":
			next.PowerState = "On"
		case "ForceOff", "GracefulShutdown":
			next.PowerState = "Off"
		case "GracefulRestart", "ForceRestart", "PowerCycle":
			next.PowerState = "On"
		}
		if rt != "Nmi" && rt != "ForceOff" && rt != "GracefulShutdown" && len(next.BIOSPending) > 0 {
			// Pending BIOS settings take effect at the next boot.
			maps.Copy(next.BIOSAttributes, next.BIOSPending)
			next.BIOSPending = nil
		}
		b.server = next
		b.tree = buildTree(&b.server, b.IP.String())
		w.WriteHeader(http.StatusNoContent)
	case rootPath + "/Managers/" + sp.managerID + "/Actions/Manager.Reset":
		// A BMC restart ends every session.
		clear(b.sessions)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusNotFound, "Base.1.8.ActionNotSupported", "The action at "+p+" is not supported.")
	}
}
