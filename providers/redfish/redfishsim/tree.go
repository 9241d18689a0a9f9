package redfishsim

import (
	"fmt"
	"math"
)

// A tree is a Redfish service as JSON objects keyed by URI path (no
// trailing slash). A tree is never modified after it is built: a change
// builds a new one, so readers need no lock beyond fetching the pointer.
type tree map[string]map[string]any

const rootPath = "/redfish/v1"

func ref(p string) map[string]any { return map[string]any{"@odata.id": p} }

func refs(ps ...string) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		out[i] = ref(p)
	}
	return out
}

func status(health string) map[string]any {
	if health == "" {
		health = "OK"
	}
	return map[string]any{"State": "Enabled", "Health": health}
}

// add stores a resource, filling @odata.id and @odata.type.
func (t tree) add(path, odataType string, body map[string]any) {
	body["@odata.id"] = path
	body["@odata.type"] = odataType
	t[path] = body
}

// collection stores a resource collection whose members are at
// path/<id> for each id.
func (t tree) collection(path, odataType, name string, ids []string) {
	members := make([]string, len(ids))
	for i, id := range ids {
		members[i] = path + "/" + id
	}
	t.add(path, odataType, map[string]any{
		"Name":                name,
		"Members":             refs(members...),
		"Members@odata.count": len(members),
	})
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

// resetTypes are the ResetType values every profile allows.
var resetTypes = []any{"On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle", "Nmi"}

var bootTargets = []any{"None", "Pxe", "Hdd", "Cd", "Usb", "BiosSetup"}

// buildTree renders a server as the Redfish tree its profile serves. ip is
// the BMC's address.
func buildTree(s *Server, ip string) tree {
	sp := specFor(s.Profile)
	t := tree{}
	sys := rootPath + "/Systems/" + sp.systemID
	mgr := rootPath + "/Managers/" + sp.managerID
	ch := rootPath + "/Chassis/" + sp.chassisID

	t["/redfish"] = map[string]any{"v1": rootPath + "/"}
	root := map[string]any{
		"Id":             "RootService",
		"Name":           "Root Service",
		"RedfishVersion": "1.17.0",
		"UUID":           s.Manager.UUID,
		"Vendor":         sp.vendor,
		"Systems":        ref(rootPath + "/Systems"),
		"Chassis":        ref(rootPath + "/Chassis"),
		"Managers":       ref(rootPath + "/Managers"),
		"SessionService": ref(rootPath + "/SessionService"),
		"UpdateService":  ref(rootPath + "/UpdateService"),
		"Links":          map[string]any{"Sessions": ref(rootPath + "/SessionService/Sessions")},
	}
	if sp.product != "" {
		root["Product"] = sp.product
	}
	if sp.expand.any() {
		root["ProtocolFeaturesSupported"] = map[string]any{
			"ExpandQuery": map[string]any{
				"ExpandAll": sp.expand.ExpandAll, "Levels": sp.expand.Levels, "Links": sp.expand.Links,
				"NoLinks": sp.expand.NoLinks, "MaxLevels": sp.expand.MaxLevels,
			},
			"FilterQuery": false, "SelectQuery": false, "OnlyMemberQuery": false,
		}
	}
	t.add(rootPath, "#ServiceRoot.v1_15_0.ServiceRoot", root)
	t.add(rootPath+"/SessionService", "#SessionService.v1_1_8.SessionService", map[string]any{
		"Id": "SessionService", "Name": "Session Service", "ServiceEnabled": true,
		"SessionTimeout": 1800, "Sessions": ref(rootPath + "/SessionService/Sessions"),
	})

	// Systems.
	t.collection(rootPath+"/Systems", "#ComputerSystemCollection.ComputerSystemCollection", "Computer System Collection", []string{sp.systemID})
	var memGiB float64
	for _, d := range s.DIMMs {
		memGiB += float64(d.CapacityMiB) / 1024
	}
	cpuModel := ""
	if len(s.Processors) > 0 {
		cpuModel = s.Processors[0].Model
	}
	reset := map[string]any{"target": sys + "/Actions/ComputerSystem.Reset"}
	if sp.resetActionInfo {
		reset["@Redfish.ActionInfo"] = sys + "/ResetActionInfo"
		t.add(sys+"/ResetActionInfo", "#ActionInfo.v1_3_0.ActionInfo", map[string]any{
			"Id": "ResetActionInfo", "Name": "Reset Action Info",
			"Parameters": []any{map[string]any{"Name": "ResetType", "Required": true, "DataType": "String", "AllowableValues": resetTypes}},
		})
	} else {
		reset["ResetType@Redfish.AllowableValues"] = resetTypes
	}
	t.add(sys, "#ComputerSystem.v1_20_0.ComputerSystem", map[string]any{
		"Id": sp.systemID, "Name": "System",
		"HostName": s.Name, "Manufacturer": s.Manufacturer, "Model": s.Model, "SKU": s.SKU,
		"SerialNumber": s.SerialNumber, "PartNumber": s.PartNumber, "UUID": s.UUID, "AssetTag": s.AssetTag,
		"BiosVersion": s.BIOSVersion, "PowerState": s.PowerState, "IndicatorLED": s.IndicatorLED,
		"SystemType":       "Physical",
		"Status":           map[string]any{"State": "Enabled", "Health": orOK(s.Health), "HealthRollup": orOK(s.Health)},
		"ProcessorSummary": map[string]any{"Count": len(s.Processors), "Model": cpuModel},
		"MemorySummary":    map[string]any{"TotalSystemMemoryGiB": memGiB},
		"Boot": map[string]any{
			"BootSourceOverrideTarget":                         s.Boot.Target,
			"BootSourceOverrideEnabled":                        s.Boot.Enabled,
			"BootSourceOverrideTarget@Redfish.AllowableValues": bootTargets,
		},
		"Processors":         ref(sys + "/Processors"),
		"Memory":             ref(sys + "/Memory"),
		"Storage":            ref(sys + "/Storage"),
		"EthernetInterfaces": ref(sys + "/EthernetInterfaces"),
		"Bios":               ref(sys + "/Bios"),
		"Links":              map[string]any{"Chassis": refs(ch), "ManagedBy": refs(mgr)},
		"Actions":            map[string]any{"#ComputerSystem.Reset": reset},
	})
	t.add(sys+"/Bios", "#Bios.v1_2_0.Bios", map[string]any{
		"Id": "Bios", "Name": "BIOS Configuration Current Settings",
		"AttributeRegistry": "BiosAttributeRegistry.v1_0_0",
		"Attributes":        stringMap(s.BIOSAttributes),
		"@Redfish.Settings": map[string]any{"SettingsObject": ref(sys + "/Bios/Settings")},
	})
	t.add(sys+"/Bios/Settings", "#Bios.v1_2_0.Bios", map[string]any{
		"Id": "Settings", "Name": "BIOS Configuration Pending Settings", "Attributes": stringMap(s.BIOSPending),
	})

	nics := ids(s.NICs, func(n NIC) string { return n.ID })
	t.collection(sys+"/EthernetInterfaces", "#EthernetInterfaceCollection.EthernetInterfaceCollection", "System Ethernet Interfaces", nics)
	for _, n := range s.NICs {
		speed := any(n.SpeedMbps)
		if n.SpeedMbps == 0 {
			speed = nil
		}
		t.add(sys+"/EthernetInterfaces/"+n.ID, "#EthernetInterface.v1_9_0.EthernetInterface", map[string]any{
			"Id": n.ID, "Name": "System Ethernet Interface " + n.ID,
			"MACAddress": sp.mac.format(n.MACAddress), "PermanentMACAddress": sp.mac.format(n.MACAddress),
			"SpeedMbps": speed, "LinkStatus": n.LinkStatus, "InterfaceEnabled": true,
			"Status": status(""),
			"Links":  map[string]any{"NetworkDeviceFunctions": refs(ch + "/NetworkAdapters/" + n.AdapterID + "/NetworkDeviceFunctions/" + n.ID)},
		})
	}

	t.collection(sys+"/Processors", "#ProcessorCollection.ProcessorCollection", "Processors", ids(s.Processors, func(p Processor) string { return p.ID }))
	for _, p := range s.Processors {
		t.add(sys+"/Processors/"+p.ID, "#Processor.v1_18_0.Processor", map[string]any{
			"Id": p.ID, "Name": p.Socket, "Socket": p.Socket, "ProcessorType": "CPU",
			"Manufacturer": p.Manufacturer, "Model": p.Model, "TotalCores": p.Cores,
			"TotalThreads": p.Threads, "MaxSpeedMHz": p.MaxSpeedMHz, "Status": status(p.Health),
		})
	}
	t.collection(sys+"/Memory", "#MemoryCollection.MemoryCollection", "Memory", ids(s.DIMMs, func(d DIMM) string { return d.ID }))
	for _, d := range s.DIMMs {
		t.add(sys+"/Memory/"+d.ID, "#Memory.v1_17_0.Memory", map[string]any{
			"Id": d.ID, "Name": d.ID, "DeviceLocator": d.Slot, "CapacityMiB": d.CapacityMiB,
			"MemoryDeviceType": d.MemoryType, "OperatingSpeedMhz": d.SpeedMHz, "MemoryType": "DRAM",
			"Manufacturer": d.Manufacturer, "PartNumber": d.PartNumber, "SerialNumber": d.SerialNumber,
			"Status": status(d.Health),
		})
	}
	t.collection(sys+"/Storage", "#StorageCollection.StorageCollection", "Storage Collection", ids(s.Storage, func(c StorageController) string { return c.ID }))
	for _, c := range s.Storage {
		sp0 := sys + "/Storage/" + c.ID
		drives := make([]string, len(c.Drives))
		for i, d := range c.Drives {
			drives[i] = sp0 + "/Drives/" + d.ID
			t.add(drives[i], "#Drive.v1_17_0.Drive", map[string]any{
				"Id": d.ID, "Name": d.ID, "Manufacturer": d.Manufacturer, "Model": d.Model,
				"SerialNumber": d.SerialNumber, "CapacityBytes": d.CapacityBytes, "MediaType": d.MediaType,
				"Protocol": d.Protocol, "Revision": d.FirmwareVersion, "Status": status(d.Health),
			})
		}
		ctrl := map[string]any{
			"Name": c.Name, "Manufacturer": c.Manufacturer, "Model": c.Model,
			"FirmwareVersion": c.FirmwareVersion, "SerialNumber": c.SerialNumber, "Status": status(c.Health),
		}
		st := map[string]any{
			"Id": c.ID, "Name": c.Name, "Status": status(c.Health),
			"Drives": refs(drives...), "Drives@odata.count": len(drives),
			"Controllers": ref(sp0 + "/Controllers"),
		}
		if sp.inlineControllers {
			inline := map[string]any{"@odata.id": sp0 + "#/StorageControllers/0", "MemberId": "0"}
			for k, v := range ctrl {
				inline[k] = v
			}
			st["StorageControllers"] = []any{inline}
		}
		t.add(sp0, "#Storage.v1_15_0.Storage", st)
		t.collection(sp0+"/Controllers", "#StorageControllerCollection.StorageControllerCollection", "Storage Controllers", []string{"0"})
		ctrl["Id"] = "0"
		t.add(sp0+"/Controllers/0", "#StorageController.v1_7_0.StorageController", ctrl)
	}

	// Chassis.
	t.collection(rootPath+"/Chassis", "#ChassisCollection.ChassisCollection", "Chassis Collection", []string{sp.chassisID})
	chassis := map[string]any{
		"Id": sp.chassisID, "Name": "Computer System Chassis", "ChassisType": "RackMount",
		"Manufacturer": s.Manufacturer, "Model": s.Model, "SerialNumber": s.SerialNumber,
		"PartNumber": s.PartNumber, "SKU": s.SKU, "AssetTag": s.AssetTag, "PowerState": s.PowerState,
		"IndicatorLED": s.IndicatorLED, "Status": map[string]any{"State": "Enabled", "Health": orOK(s.Health), "HealthRollup": orOK(s.Health)},
		"Location": map[string]any{"Placement": map[string]any{
			"Rack": s.Rack, "RackOffset": s.RackUnit, "RackOffsetUnits": "EIA_310",
		}},
		"NetworkAdapters": ref(ch + "/NetworkAdapters"),
		"Links":           map[string]any{"ComputerSystems": refs(sys), "ManagedBy": refs(mgr)},
	}
	t.collection(ch+"/NetworkAdapters", "#NetworkAdapterCollection.NetworkAdapterCollection", "Network Adapters", ids(s.Adapters, func(a NetworkAdapter) string { return a.ID }))
	for _, a := range s.Adapters {
		ap := ch + "/NetworkAdapters/" + a.ID
		var funcs, ports []string
		for _, n := range s.NICs {
			if n.AdapterID != a.ID {
				continue
			}
			funcs = append(funcs, n.ID)
			ports = append(ports, n.ID)
			t.add(ap+"/NetworkDeviceFunctions/"+n.ID, "#NetworkDeviceFunction.v1_9_0.NetworkDeviceFunction", map[string]any{
				"Id": n.ID, "Name": n.ID, "NetDevFuncType": "Ethernet",
				"Ethernet": map[string]any{"MACAddress": sp.mac.format(n.MACAddress), "PermanentMACAddress": sp.mac.format(n.MACAddress)},
				"Status":   status(""),
			})
			link := "Down"
			if n.LinkStatus == "LinkUp" {
				link = "Up"
			}
			t.add(ap+"/Ports/"+n.ID, "#Port.v1_9_0.Port", map[string]any{
				"Id": n.ID, "Name": n.ID, "LinkStatus": link, "CurrentSpeedGbps": float64(n.SpeedMbps) / 1000,
				"Status": status(""),
			})
		}
		t.collection(ap+"/NetworkDeviceFunctions", "#NetworkDeviceFunctionCollection.NetworkDeviceFunctionCollection", "Network Device Functions", funcs)
		t.collection(ap+"/Ports", "#PortCollection.PortCollection", "Ports", ports)
		t.add(ap, "#NetworkAdapter.v1_9_0.NetworkAdapter", map[string]any{
			"Id": a.ID, "Name": a.Model, "Manufacturer": a.Manufacturer, "Model": a.Model,
			"SerialNumber": a.SerialNumber, "PartNumber": a.PartNumber, "Status": status(""),
			"Controllers":            []any{map[string]any{"FirmwarePackageVersion": a.FirmwareVersion}},
			"NetworkDeviceFunctions": ref(ap + "/NetworkDeviceFunctions"),
			"Ports":                  ref(ap + "/Ports"),
		})
	}
	if sp.legacy {
		chassis["Power"] = ref(ch + "/Power")
		chassis["Thermal"] = ref(ch + "/Thermal")
		psus := make([]any, len(s.PSUs))
		for i, p := range s.PSUs {
			psus[i] = map[string]any{
				"@odata.id": fmt.Sprintf("%s/Power#/PowerSupplies/%d", ch, i), "MemberId": p.ID,
				"Name": p.ID, "Manufacturer": p.Manufacturer, "Model": p.Model, "SerialNumber": p.SerialNumber,
				"PartNumber": p.PartNumber, "FirmwareVersion": p.FirmwareVersion,
				"PowerCapacityWatts": p.CapacityWatts, "Status": status(p.Health),
			}
		}
		t.add(ch+"/Power", "#Power.v1_7_1.Power", map[string]any{
			"Id": "Power", "Name": "Power",
			"PowerControl": []any{map[string]any{
				"@odata.id": ch + "/Power#/PowerControl/0", "MemberId": "0", "Name": "System Power Control",
				"PowerConsumedWatts": s.PowerConsumedWatts,
			}},
			"PowerSupplies": psus,
		})
		temps := make([]any, len(s.Temperatures))
		for i, tp := range s.Temperatures {
			temps[i] = map[string]any{
				"@odata.id": fmt.Sprintf("%s/Thermal#/Temperatures/%d", ch, i), "MemberId": fmt.Sprint(i),
				"Name": tp.Name, "ReadingCelsius": tp.Celsius, "UpperThresholdCritical": tp.UpperCritical,
				"PhysicalContext": tp.PhysicalContext, "Status": status(""),
			}
		}
		fans := make([]any, len(s.Fans))
		for i, f := range s.Fans {
			fans[i] = map[string]any{
				"@odata.id": fmt.Sprintf("%s/Thermal#/Fans/%d", ch, i), "MemberId": fmt.Sprint(i),
				"Name": f.Name, "Reading": f.RPM, "ReadingUnits": "RPM", "Status": status(""),
			}
		}
		t.add(ch+"/Thermal", "#Thermal.v1_7_1.Thermal", map[string]any{
			"Id": "Thermal", "Name": "Thermal", "Temperatures": temps, "Fans": fans,
		})
	}
	if sp.subsystems {
		chassis["PowerSubsystem"] = ref(ch + "/PowerSubsystem")
		chassis["ThermalSubsystem"] = ref(ch + "/ThermalSubsystem")
		chassis["EnvironmentMetrics"] = ref(ch + "/EnvironmentMetrics")
		chassis["Sensors"] = ref(ch + "/Sensors")
		t.add(ch+"/PowerSubsystem", "#PowerSubsystem.v1_1_0.PowerSubsystem", map[string]any{
			"Id": "PowerSubsystem", "Name": "Power Subsystem", "Status": status(""),
			"PowerSupplies": ref(ch + "/PowerSubsystem/PowerSupplies"),
		})
		t.collection(ch+"/PowerSubsystem/PowerSupplies", "#PowerSupplyCollection.PowerSupplyCollection", "Power Supplies", ids(s.PSUs, func(p PSU) string { return p.ID }))
		for _, p := range s.PSUs {
			t.add(ch+"/PowerSubsystem/PowerSupplies/"+p.ID, "#PowerSupply.v1_5_0.PowerSupply", map[string]any{
				"Id": p.ID, "Name": p.ID, "Manufacturer": p.Manufacturer, "Model": p.Model,
				"SerialNumber": p.SerialNumber, "PartNumber": p.PartNumber, "FirmwareVersion": p.FirmwareVersion,
				"PowerCapacityWatts": p.CapacityWatts, "Status": status(p.Health),
			})
		}
		var sensors []string
		readings := make([]any, len(s.Temperatures))
		for i, tp := range s.Temperatures {
			id := fmt.Sprintf("Temp%d", i)
			sensors = append(sensors, id)
			readings[i] = map[string]any{
				"DataSourceUri": ch + "/Sensors/" + id, "DeviceName": tp.Name,
				"PhysicalContext": tp.PhysicalContext, "Reading": tp.Celsius,
			}
			t.add(ch+"/Sensors/"+id, "#Sensor.v1_7_0.Sensor", map[string]any{
				"Id": id, "Name": tp.Name, "Reading": tp.Celsius, "ReadingUnits": "Cel", "ReadingType": "Temperature",
				"PhysicalContext": tp.PhysicalContext, "Status": status(""),
				"Thresholds": map[string]any{"UpperCritical": map[string]any{"Reading": tp.UpperCritical}},
			})
		}
		fanIDs := make([]string, len(s.Fans))
		for i, f := range s.Fans {
			fanIDs[i] = f.Name
			sid := "Fan" + fmt.Sprint(i)
			sensors = append(sensors, sid)
			t.add(ch+"/Sensors/"+sid, "#Sensor.v1_7_0.Sensor", map[string]any{
				"Id": sid, "Name": f.Name, "Reading": f.RPM, "ReadingUnits": "RPM", "ReadingType": "Rotational",
				"PhysicalContext": "Fan", "Status": status(""),
			})
			t.add(ch+"/ThermalSubsystem/Fans/"+f.Name, "#Fan.v1_5_0.Fan", map[string]any{
				"Id": f.Name, "Name": f.Name, "Status": status(""),
				"SpeedPercent": map[string]any{
					"DataSourceUri": ch + "/Sensors/" + sid,
					"Reading":       math.Round(f.RPM / 120), "SpeedRPM": f.RPM,
				},
			})
		}
		sensors = append(sensors, "TotalPower")
		t.add(ch+"/Sensors/TotalPower", "#Sensor.v1_7_0.Sensor", map[string]any{
			"Id": "TotalPower", "Name": "Total Power", "Reading": s.PowerConsumedWatts, "ReadingUnits": "W",
			"ReadingType": "Power", "PhysicalContext": "Chassis", "Status": status(""),
		})
		t.collection(ch+"/Sensors", "#SensorCollection.SensorCollection", "Sensors", sensors)
		t.collection(ch+"/ThermalSubsystem/Fans", "#FanCollection.FanCollection", "Fans", fanIDs)
		t.add(ch+"/ThermalSubsystem/ThermalMetrics", "#ThermalMetrics.v1_3_0.ThermalMetrics", map[string]any{
			"Id": "ThermalMetrics", "Name": "Thermal Metrics", "TemperatureReadingsCelsius": readings,
		})
		t.add(ch+"/ThermalSubsystem", "#ThermalSubsystem.v1_3_0.ThermalSubsystem", map[string]any{
			"Id": "ThermalSubsystem", "Name": "Thermal Subsystem", "Status": status(""),
			"Fans": ref(ch + "/ThermalSubsystem/Fans"), "ThermalMetrics": ref(ch + "/ThermalSubsystem/ThermalMetrics"),
		})
		t.add(ch+"/EnvironmentMetrics", "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics", map[string]any{
			"Id": "EnvironmentMetrics", "Name": "Chassis Environment Metrics",
			"PowerWatts": map[string]any{"DataSourceUri": ch + "/Sensors/TotalPower", "Reading": s.PowerConsumedWatts},
		})
	}
	t.add(ch, "#Chassis.v1_23_0.Chassis", chassis)

	// Managers.
	t.collection(rootPath+"/Managers", "#ManagerCollection.ManagerCollection", "Manager Collection", []string{sp.managerID})
	t.add(mgr, "#Manager.v1_19_0.Manager", map[string]any{
		"Id": sp.managerID, "Name": "Manager", "ManagerType": "BMC", "Manufacturer": s.Manufacturer,
		"Model": s.Manager.Model, "FirmwareVersion": s.Manager.FirmwareVersion, "UUID": s.Manager.UUID,
		"Status":             status(""),
		"EthernetInterfaces": ref(mgr + "/EthernetInterfaces"),
		"Links":              map[string]any{"ManagerForServers": refs(sys), "ManagerForChassis": refs(ch)},
		"Actions": map[string]any{"#Manager.Reset": map[string]any{
			"target": mgr + "/Actions/Manager.Reset", "ResetType@Redfish.AllowableValues": []any{"GracefulRestart"},
		}},
	})
	t.collection(mgr+"/EthernetInterfaces", "#EthernetInterfaceCollection.EthernetInterfaceCollection", "Manager Ethernet Interfaces", []string{"eth0"})
	t.add(mgr+"/EthernetInterfaces/eth0", "#EthernetInterface.v1_9_0.EthernetInterface", map[string]any{
		"Id": "eth0", "Name": "Manager Ethernet Interface", "HostName": s.Name + "-bmc",
		"MACAddress": sp.mac.format(s.Manager.MACAddress), "PermanentMACAddress": sp.mac.format(s.Manager.MACAddress),
		"SpeedMbps": 1000, "LinkStatus": "LinkUp", "InterfaceEnabled": true, "Status": status(""),
		"IPv4Addresses": []any{map[string]any{"Address": ip, "SubnetMask": "255.255.255.0", "AddressOrigin": "Static"}},
	})

	// Firmware inventory.
	t.add(rootPath+"/UpdateService", "#UpdateService.v1_11_0.UpdateService", map[string]any{
		"Id": "UpdateService", "Name": "Update Service", "ServiceEnabled": true,
		"FirmwareInventory": ref(rootPath + "/UpdateService/FirmwareInventory"),
	})
	t.collection(rootPath+"/UpdateService/FirmwareInventory", "#SoftwareInventoryCollection.SoftwareInventoryCollection", "Firmware Inventory", ids(s.Firmware, func(f FirmwareItem) string { return f.ID }))
	for _, f := range s.Firmware {
		t.add(rootPath+"/UpdateService/FirmwareInventory/"+f.ID, "#SoftwareInventory.v1_10_0.SoftwareInventory", map[string]any{
			"Id": f.ID, "Name": f.Name, "Version": f.Version, "Updateable": f.Updateable, "Status": status(""),
		})
	}
	return t
}

func orOK(h string) string {
	if h == "" {
		return "OK"
	}
	return h
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
