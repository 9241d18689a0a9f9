// Package topology builds the cable map of a site from what the collector
// knows: LLDP neighbours heard by switches (SNMP) and by agent hosts, FDB
// entries of switches, and the NIC MAC addresses servers' BMCs report.
//
// Build is a pure function of its input; the API gathers the input from
// ClickHouse.
//
// How a link is decided. Every piece of evidence proposes "server NIC N is
// plugged into switch S port P":
//
//   - lldp_switch: S hears on P a neighbour whose port id (subtype
//     mac_address) or chassis id is a MAC of the server, or whose system
//     name is the server's hostname, with the port id naming the NIC;
//   - fdb: S learned N's MAC on P, and P is an edge port (no switch heard
//     on it over LLDP, at most Rules.FDBMaxMACsPerPort MACs learned);
//   - lldp_host: an agent's host interface hears S port P; it confirms a
//     link found by the other evidence, or stands as a host link.
//
// For each NIC the fresh evidence of the kind that comes first in
// Rules.Precedence decides. Stale evidence (older than StaleAfter) is shown
// but decides only when there is nothing fresh, and the link is then
// marked stale. Evidence that points elsewhere, and two NICs decided onto
// one switch port, are flagged as conflicts.
package topology

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Evidence kinds.
const (
	LLDPSwitch = "lldp_switch"
	LLDPHost   = "lldp_host"
	FDB        = "fdb"
)

// DefaultPrecedence is the default order of evidence kinds.
var DefaultPrecedence = []string{LLDPSwitch, LLDPHost, FDB}

// Rules decide between disagreeing evidence.
type Rules struct {
	// Precedence orders evidence kinds, strongest first. Kinds not listed
	// never decide a link (they are still shown).
	Precedence []string
	// FDBMaxMACsPerPort: an FDB entry is evidence of a direct link only
	// on a port with at most this many MACs learned (default 4).
	FDBMaxMACsPerPort int
	// StaleAfter is the age past which evidence is stale; 0 never.
	StaleAfter time.Duration
}

// Server is a server and its NICs, as its BMC reports them.
type Server struct {
	Device     string
	Hostname   string
	ManagerMAC string
	NICs       []NIC
}

// NIC is one server network port.
type NIC struct {
	ID, Name, MAC string
}

// Switch is a switch and its port MACs.
type Switch struct {
	Device  string
	SysName string
	// PortMACs are the MACs of its interfaces (LLDP chassis ids are often
	// one of them).
	PortMACs []string
}

// Neighbor is one LLDP neighbour. Source "snmp" means Device is a switch;
// "lldp" means Device is an agent host interface ("agent/eth0").
type Neighbor struct {
	Device, Source, LocalPort string
	ChassisSubtype, ChassisID string
	PortSubtype, PortID       string
	SystemName                string
	// SeenAt is when the reporting device's neighbour table was last
	// observed.
	SeenAt time.Time
}

// FDBEntry is one learned MAC on a switch port.
type FDBEntry struct {
	Device, Port, MAC string
	VLAN              uint32
	SeenAt            time.Time
}

// Input is everything known about one site (or one device's
// surroundings).
type Input struct {
	Servers   []Server
	Switches  []Switch
	Neighbors []Neighbor
	FDB       []FDBEntry
	// Now is the time ages are measured from.
	Now time.Time
}

// Endpoint is one end of a link.
type Endpoint struct {
	// Kind is server, switch, host (an agent's interface) or unknown (an
	// LLDP neighbour that matches no known device).
	Kind   string `json:"kind"`
	Device string `json:"device"`
	Port   string `json:"port,omitempty"`
	MAC    string `json:"mac_address,omitempty"`
}

// Proof is one piece of evidence for a link.
type Proof struct {
	Kind string `json:"kind"`
	// Reporter is the device whose table showed it.
	Reporter   string    `json:"reporter"`
	Switch     string    `json:"switch"`
	Port       string    `json:"port"`
	Detail     string    `json:"detail"`
	SeenAt     time.Time `json:"seen_at"`
	AgeSeconds float64   `json:"age_seconds"`
	Stale      bool      `json:"stale"`
	// Agrees is false for evidence that points to another switch port
	// than the decided one.
	Agrees bool `json:"agrees"`
}

// Link is one cable.
type Link struct {
	A Endpoint `json:"a"`
	B Endpoint `json:"b"`
	// DecidedBy is the evidence kind that decided the link.
	DecidedBy string  `json:"decided_by"`
	Evidence  []Proof `json:"evidence"`
	// Stale is true when only stale evidence supports the link.
	Stale     bool     `json:"stale"`
	Conflict  bool     `json:"conflict"`
	Conflicts []string `json:"conflicts,omitempty"`
}

// NormalizeMAC returns m as lower-case colon-separated hex
// (aa:bb:cc:dd:ee:ff), accepting '-', '.', ':' or no separators; anything
// else is returned lower-cased.
func NormalizeMAC(m string) string {
	var hex []byte
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c >= 'A' && c <= 'F':
			hex = append(hex, c+'a'-'A')
		case c == ':' || c == '-' || c == '.':
		default:
			return strings.ToLower(m)
		}
	}
	if len(hex) != 12 {
		return strings.ToLower(m)
	}
	out := make([]byte, 0, 17)
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hex[i], hex[i+1])
	}
	return string(out)
}

type nicRef struct {
	server *Server
	nic    NIC
}

type portKey struct{ sw, port string }

type candidate struct {
	port  portKey
	proof Proof
}

// Build computes the links. They are ordered by the A side, then B.
func Build(in Input, rules Rules) []Link {
	if rules.FDBMaxMACsPerPort <= 0 {
		rules.FDBMaxMACsPerPort = 4
	}
	rank := map[string]int{}
	for i, k := range rules.Precedence {
		rank[k] = i + 1
	}
	age := func(t time.Time) (float64, bool) {
		a := in.Now.Sub(t)
		return a.Seconds(), rules.StaleAfter > 0 && a > rules.StaleAfter
	}

	byMAC := map[string]nicRef{}
	serverByMAC := map[string]*Server{}
	serverByName := map[string]*Server{}
	for i := range in.Servers {
		s := &in.Servers[i]
		for _, n := range s.NICs {
			if m := NormalizeMAC(n.MAC); m != "" {
				byMAC[m] = nicRef{server: s, nic: n}
				serverByMAC[m] = s
			}
		}
		if m := NormalizeMAC(s.ManagerMAC); m != "" {
			serverByMAC[m] = s
		}
		if s.Hostname != "" {
			serverByName[strings.ToLower(s.Hostname)] = s
		}
	}
	switchByName := map[string]*Switch{}
	switchByMAC := map[string]*Switch{}
	for i := range in.Switches {
		sw := &in.Switches[i]
		switchByName[strings.ToLower(sw.Device)] = sw
		if sw.SysName != "" {
			switchByName[strings.ToLower(sw.SysName)] = sw
		}
		for _, m := range sw.PortMACs {
			if m = NormalizeMAC(m); m != "" {
				switchByMAC[m] = sw
			}
		}
	}
	isSwitch := func(n Neighbor) *Switch {
		if sw := switchByName[strings.ToLower(n.SystemName)]; sw != nil && n.SystemName != "" {
			return sw
		}
		if n.ChassisSubtype == "mac_address" {
			return switchByMAC[NormalizeMAC(n.ChassisID)]
		}
		return nil
	}
	nicByPortID := func(s *Server, portID string) (NIC, bool) {
		for _, n := range s.NICs {
			if portID != "" && (n.Name == portID || n.ID == portID) {
				return n, true
			}
		}
		return NIC{}, false
	}
	// resolve finds the server NIC an LLDP neighbour (heard by a switch)
	// is.
	resolve := func(n Neighbor) (nicRef, bool) {
		if n.PortSubtype == "mac_address" {
			if r, ok := byMAC[NormalizeMAC(n.PortID)]; ok {
				return r, true
			}
		}
		var s *Server
		if n.ChassisSubtype == "mac_address" {
			s = serverByMAC[NormalizeMAC(n.ChassisID)]
		}
		if s == nil && n.SystemName != "" {
			s = serverByName[strings.ToLower(n.SystemName)]
		}
		if s == nil {
			return nicRef{}, false
		}
		if nic, ok := nicByPortID(s, n.PortID); ok {
			return nicRef{server: s, nic: nic}, true
		}
		if r, ok := byMAC[NormalizeMAC(n.ChassisID)]; ok && r.server == s {
			return r, true
		}
		return nicRef{}, false
	}

	cands := map[string][]candidate{} // by server/nic
	refs := map[string]nicRef{}
	nicKey := func(r nicRef) string { return r.server.Device + "\x00" + r.nic.ID }
	uplinks := map[portKey]bool{}
	var links []Link
	var hosts []Neighbor

	for _, n := range in.Neighbors {
		if n.Source != "snmp" {
			hosts = append(hosts, n)
			continue
		}
		pk := portKey{n.Device, n.LocalPort}
		a, stale := age(n.SeenAt)
		detail := fmt.Sprintf("chassis %s (%s), port %s (%s), system %q", n.ChassisID, n.ChassisSubtype, n.PortID, n.PortSubtype, n.SystemName)
		if sw := isSwitch(n); sw != nil {
			uplinks[pk] = true
			continue
		}
		r, ok := resolve(n)
		if !ok {
			links = append(links, Link{
				A:         Endpoint{Kind: "unknown", Device: cmp.Or(n.SystemName, n.ChassisID), Port: n.PortID},
				B:         Endpoint{Kind: "switch", Device: n.Device, Port: n.LocalPort},
				DecidedBy: LLDPSwitch,
				Evidence:  []Proof{{Kind: LLDPSwitch, Reporter: n.Device, Switch: n.Device, Port: n.LocalPort, Detail: detail, SeenAt: n.SeenAt, AgeSeconds: a, Stale: stale, Agrees: true}},
				Stale:     stale,
			})
			continue
		}
		k := nicKey(r)
		refs[k] = r
		cands[k] = append(cands[k], candidate{port: pk, proof: Proof{Kind: LLDPSwitch, Reporter: n.Device, Switch: n.Device,
			Port: n.LocalPort, Detail: detail, SeenAt: n.SeenAt, AgeSeconds: a, Stale: stale}})
	}

	macsOn := map[portKey]map[string]bool{}
	for _, e := range in.FDB {
		pk := portKey{e.Device, e.Port}
		if macsOn[pk] == nil {
			macsOn[pk] = map[string]bool{}
		}
		macsOn[pk][NormalizeMAC(e.MAC)] = true
	}
	for _, e := range in.FDB {
		pk := portKey{e.Device, e.Port}
		r, ok := byMAC[NormalizeMAC(e.MAC)]
		if !ok || uplinks[pk] || len(macsOn[pk]) > rules.FDBMaxMACsPerPort {
			continue
		}
		k := nicKey(r)
		refs[k] = r
		a, stale := age(e.SeenAt)
		cands[k] = append(cands[k], candidate{port: pk, proof: Proof{Kind: FDB, Reporter: e.Device, Switch: e.Device, Port: e.Port,
			Detail: fmt.Sprintf("MAC %s learned on VLAN %d (%d MACs on the port)", NormalizeMAC(e.MAC), e.VLAN, len(macsOn[pk])),
			SeenAt: e.SeenAt, AgeSeconds: a, Stale: stale}})
	}

	// Decide each NIC.
	keys := make([]string, 0, len(cands))
	for k := range cands {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	byPort := map[portKey][]int{} // decided links per switch port
	for _, k := range keys {
		cs := cands[k]
		best := -1
		for i, c := range cs {
			if rank[c.proof.Kind] == 0 {
				continue
			}
			if best < 0 || better(c, cs[best], rank) {
				best = i
			}
		}
		if best < 0 {
			continue // only evidence kinds that never decide
		}
		chosen := cs[best]
		r := refs[k]
		l := Link{
			A:         Endpoint{Kind: "server", Device: r.server.Device, Port: r.nic.ID, MAC: NormalizeMAC(r.nic.MAC)},
			B:         Endpoint{Kind: "switch", Device: chosen.port.sw, Port: chosen.port.port},
			DecidedBy: chosen.proof.Kind,
			Stale:     chosen.proof.Stale,
		}
		for _, c := range cs {
			p := c.proof
			p.Agrees = c.port == chosen.port
			l.Evidence = append(l.Evidence, p)
			if !p.Agrees && !p.Stale {
				l.Conflict = true
				l.Conflicts = append(l.Conflicts, fmt.Sprintf("%s evidence from %s puts %s %s on %s port %s",
					p.Kind, p.Reporter, r.server.Device, r.nic.ID, c.port.sw, c.port.port))
			}
		}
		byPort[chosen.port] = append(byPort[chosen.port], len(links))
		links = append(links, l)
	}
	for pk, idx := range byPort {
		if len(idx) < 2 {
			continue
		}
		var who []string
		for _, i := range idx {
			who = append(who, links[i].A.Device+" "+links[i].A.Port)
		}
		slices.Sort(who)
		for _, i := range idx {
			links[i].Conflict = true
			links[i].Conflicts = append(links[i].Conflicts, fmt.Sprintf("%s port %s is claimed by %s", pk.sw, pk.port, strings.Join(who, " and ")))
		}
	}

	// Host interfaces: confirm the link on that switch port, or stand
	// alone.
	for _, n := range hosts {
		sw := isSwitch(n)
		swName := cmp.Or(n.SystemName, n.ChassisID)
		if sw != nil {
			swName = sw.Device
		}
		port := n.PortID
		a, stale := age(n.SeenAt)
		p := Proof{Kind: LLDPHost, Reporter: n.Device, Switch: swName, Port: port, SeenAt: n.SeenAt, AgeSeconds: a, Stale: stale,
			Detail: fmt.Sprintf("%s hears chassis %s, port %s (%s), system %q", n.Device, n.ChassisID, n.PortID, n.PortSubtype, n.SystemName), Agrees: true}
		found := false
		for _, i := range byPort[portKey{swName, port}] {
			links[i].Evidence = append(links[i].Evidence, p)
			found = true
		}
		if found {
			continue
		}
		links = append(links, Link{
			A:         Endpoint{Kind: "host", Device: n.Device, Port: n.LocalPort},
			B:         Endpoint{Kind: "switch", Device: swName, Port: port},
			DecidedBy: LLDPHost,
			Evidence:  []Proof{p},
			Stale:     stale,
		})
	}
	for i := range links {
		slices.SortStableFunc(links[i].Evidence, func(a, b Proof) int {
			return cmp.Or(cmp.Compare(rankOf(rank, a.Kind), rankOf(rank, b.Kind)), cmp.Compare(a.Reporter, b.Reporter), cmp.Compare(a.Port, b.Port))
		})
	}
	slices.SortFunc(links, func(a, b Link) int {
		return cmp.Or(cmp.Compare(a.A.Device, b.A.Device), cmp.Compare(a.A.Port, b.A.Port),
			cmp.Compare(a.B.Device, b.B.Device), cmp.Compare(a.B.Port, b.B.Port))
	})
	return links
}

// better reports whether c should decide over d: fresh beats stale, then
// precedence, then the newer.
func better(c, d candidate, rank map[string]int) bool {
	if c.proof.Stale != d.proof.Stale {
		return !c.proof.Stale
	}
	if rc, rd := rank[c.proof.Kind], rank[d.proof.Kind]; rc != rd {
		return rc < rd
	}
	return c.proof.SeenAt.After(d.proof.SeenAt)
}

func rankOf(rank map[string]int, kind string) int {
	if r := rank[kind]; r > 0 {
		return r
	}
	return len(rank) + 1
}
