// Package ipam is the contract between racktrack and the intended state of
// a site: what should be racked, cabled and addressed. The collector's
// reconciler compares observations with a Source; drift fixes that adopt an
// observation go back through a Writer. Implementations live below: a
// read-only file tree (changed through Git review) and NetBox (the only
// code that talks to NetBox), each arriving with the intent issue.
package ipam

import (
	"context"
	"net/netip"
)

// Device is one intended server or switch.
type Device struct {
	Name     string
	Serial   string
	Site     string
	Rack     string
	Position int // rack unit, 0 when unknown
	Role     string
	Platform string
	Model    string
}

// Interface is one intended port of a device.
type Interface struct {
	Device string
	Name   string
	MAC    string // lower-case, colon separated; empty when not recorded
}

// Endpoint is one end of a cable.
type Endpoint struct {
	Device    string
	Interface string
}

// Cable joins two endpoints.
type Cable struct {
	A, B Endpoint
}

// Address is an intended IP address and what it is for.
type Address struct {
	Prefix    netip.Prefix // the address with its prefix length
	Device    string
	Interface string
	// Role is "oob" for BMC addresses, "primary" for the device's primary
	// address, empty otherwise.
	Role string
}

// Site is everything intended for one site.
type Site struct {
	Devices    []Device
	Interfaces []Interface
	Cables     []Cable
	Addresses  []Address
	Prefixes   []netip.Prefix
}

// Source reads intended state. Implementations must honour ctx on every
// network call and may be called concurrently.
type Source interface {
	Site(ctx context.Context, site string) (*Site, error)
}

// Writer changes intended state; only sources that are not reviewed
// through Git (NetBox) implement it. Every call is the application of an
// approved change request.
type Writer interface {
	Source
	SetSerial(ctx context.Context, device, serial string) error
	SetMAC(ctx context.Context, device, iface, mac string) error
	SetCable(ctx context.Context, c Cable) error
	// AllocateAddress returns the next free address in prefix and records
	// it for device/iface with role.
	AllocateAddress(ctx context.Context, prefix netip.Prefix, device, iface, role string) (netip.Prefix, error)
}
