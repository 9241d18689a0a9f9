package snmp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/gosnmp/gosnmp"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"google.golang.org/protobuf/proto"
)

// maxIncomplete bounds the problems listed per observation.
const maxIncomplete = 20

// poll is the state of one Poll call.
type poll struct {
	p        *Provider
	s        *session
	requests int
	firstErr *providers.TargetError
}

func (pl *poll) fail(te *providers.TargetError) {
	if pl.firstErr == nil && te != nil {
		pl.firstErr = te
	}
}

// problems collects what is missing from one table.
type problems struct {
	list []string
	more int
}

func (pr *problems) add(format string, args ...any) {
	if len(pr.list) >= maxIncomplete {
		pr.more++
		return
	}
	pr.list = append(pr.list, fmt.Sprintf(format, args...))
}

func (pr *problems) addErr(err error) { pr.add("%v", err) }

func (pr *problems) result() []string {
	if pr.more > 0 {
		return append(pr.list, fmt.Sprintf("and %d more", pr.more))
	}
	return pr.list
}

// colSet is a set of walked columns by root.
type colSet map[string]*column

// cells iterates a column's cells with their index; index decode errors
// go to pr.
func (cs colSet) each(root string, pr *problems, fn func(idx []uint32, v gosnmp.SnmpPDU) error) {
	c := cs[root]
	if c == nil {
		return
	}
	for _, v := range c.cells {
		idx, err := c.index(v)
		if err == nil {
			err = fn(idx, v)
		}
		if err != nil {
			pr.addErr(err)
		}
	}
}

// intRow calls fn for cells whose index is one integer (ifIndex and similar).
func (cs colSet) intRow(root string, pr *problems, fn func(i int32, v gosnmp.SnmpPDU) error) {
	cs.each(root, pr, func(idx []uint32, v gosnmp.SnmpPDU) error {
		if len(idx) != 1 || idx[0] > 1<<31-1 {
			return fmt.Errorf("%s: index %s is not one integer", v.Name, oidString(idx))
		}
		return fn(int32(idx[0]), v)
	})
}

// check notes column errors (and unfinished columns) of a table.
func (pl *poll) check(table string, cs colSet, pr *problems, roots ...string) {
	for _, r := range roots {
		c := cs[r]
		if c == nil {
			continue
		}
		if c.err != nil {
			te := pl.s.tableError(table, c)
			pl.fail(te)
			pr.add("walk %s: %v", r[1:], c.err)
		}
	}
}

var systemOIDs = []string{oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysContact, oidSysName, oidSysLocation}

var ifRoots = []string{
	colIfDescr, colIfType, colIfMtu, colIfSpeed, colIfPhysAddress, colIfAdminStatus, colIfOperStatus,
	colIfLastChange, colIfInDiscards, colIfInErrors, colIfOutDiscards, colIfOutErrors,
	colIfName, colIfHCInOctets, colIfHCInUcastPkts, colIfHCOutOctets, colIfHCOutUcastPkts,
	colIfHighSpeed, colIfAlias, colIfCounterDiscont,
}

var entRoots = []string{colEntDescr, colEntContainedIn, colEntClass, colEntName, colEntHardwareRev,
	colEntFirmwareRev, colEntSoftwareRev, colEntSerialNum, colEntMfgName, colEntModelName}

var lldpRoots = []string{colLldpLocPortIDSub, colLldpLocPortID, colLldpLocPortDesc,
	colLldpRemChassisSub, colLldpRemChassisID, colLldpRemPortIDSub, colLldpRemPortID, colLldpRemPortDesc,
	colLldpRemSysName, colLldpRemSysDesc, colLldpRemCapSup, colLldpRemCapEnabled, colLldpRemManIfSub}

var fdbRoots = []string{oidDot1dBasePortIfIndex, colDot1qTpFdbPort, colDot1qTpFdbStatus, oidDot1qVlanFdbID}

// run reads everything. It returns nil observations and an error when
// nothing could be read; otherwise the observations (the target status
// is added by Poll) and pl.firstErr set when something went missing.
func (pl *poll) run() ([]*racktrackv1.Observation, error) {
	pl.requests++
	sys, err := pl.s.get(systemOIDs)
	if err != nil {
		var te *providers.TargetError
		if errors.As(err, &te) && te.Kind == providers.KindProtocol {
			// An error-status on the system group: the agent answers,
			// so go on and let the tables speak.
			pl.fail(te)
			sys = nil
		} else {
			return nil, err
		}
	}
	maxReq := pl.p.maxRows/max(1, pl.p.cfg.MaxRepetitions)*maxRequestsMultiplier + 64

	roots := append(append(append(append(append([]string{}, ifRoots...), entRoots...), lldpRoots...), fdbRoots...), ipNetToPhysicalRoots...)
	// Fallback tables join the walk when the preferred one is empty: FDB
	// from BRIDGE-MIB when Q-BRIDGE-MIB has no entries, IP neighbours from
	// ipNetToMediaTable when ipNetToPhysicalTable has none.
	fallbacks := map[string][]string{
		colDot1qTpFdbPort:             {colDot1dTpFdbPort, colDot1dTpFdbStatus},
		colIPNetToPhysicalPhysAddress: ipNetToMediaRoots,
	}
	cols, fatal := pl.s.walk(roots, fallbacks, pl.p.cfg.MaxRepetitions, pl.p.maxRows, maxReq, &pl.requests)
	cs := colSet{}
	for _, c := range cols {
		cs[c.root] = c
	}
	// unfinished notes a table some of whose columns the fatal error cut off.
	unfinished := func(table string, pr *problems, roots ...string) {
		if fatal == nil {
			return
		}
		for _, r := range roots {
			if c := cs[r]; c != nil && !c.done {
				pr.add("walk %s: %v", table, fatal)
				return
			}
		}
	}
	var te *providers.TargetError
	if fatal != nil {
		if !errors.As(fatal, &te) {
			te = pl.s.targetError("walk", providers.KindProtocol, fatal)
		}
		pl.fail(te)
	}

	useDot1d := cs[colDot1dTpFdbPort] != nil
	useMedia := cs[colIPNetToMediaPhysAddress] != nil

	// Walk errors first: they explain the decode problems that follow.
	invPr, ifPr, lldpPr, fdbPr, ipnPr := &problems{}, &problems{}, &problems{}, &problems{}, &problems{}
	pl.check("entities", cs, invPr, entRoots...)
	unfinished("entities", invPr, entRoots...)
	pl.check("interfaces", cs, ifPr, ifRoots...)
	unfinished("interfaces", ifPr, ifRoots...)
	pl.check("lldp", cs, lldpPr, lldpRoots...)
	unfinished("lldp", lldpPr, lldpRoots...)
	pl.check("fdb", cs, fdbPr, fdbRoots...)
	if useDot1d {
		pl.check("fdb", cs, fdbPr, colDot1dTpFdbPort, colDot1dTpFdbStatus)
	}
	unfinished("fdb", fdbPr, append(fdbRoots, colDot1dTpFdbPort, colDot1dTpFdbStatus)...)
	ipnRoots := append(append([]string{}, ipNetToPhysicalRoots...), ipNetToMediaRoots...) // media only when walked
	pl.check(ipNeighborTable, cs, ipnPr, ipnRoots...)
	unfinished(ipNeighborTable, ipnPr, ipnRoots...)

	inv := pl.inventory(sys, cs, invPr)
	ifs, names := pl.interfaces(sys, cs, ifPr, fatal == nil)
	nbrs := pl.lldp(cs, names, lldpPr)
	fdb := pl.fdb(cs, names, useDot1d, fdbPr)
	ipns := pl.ipNeighbors(cs, names, useMedia, ipnPr)

	obs := func(pr *problems) *racktrackv1.Observation {
		inc := pr.result()
		return &racktrackv1.Observation{Source: racktrackv1.Source_SOURCE_SNMP, Target: pl.p.target, Complete: len(inc) == 0, Incomplete: inc}
	}
	o1 := obs(invPr)
	o1.Payload = &racktrackv1.Observation_SwitchInventory{SwitchInventory: inv}
	o2 := obs(ifPr)
	o2.Payload = &racktrackv1.Observation_Interfaces{Interfaces: &racktrackv1.InterfaceTable{Interfaces: ifs}}
	o3 := obs(lldpPr)
	o3.Payload = &racktrackv1.Observation_LldpNeighbors{LldpNeighbors: &racktrackv1.LLDPNeighborTable{Neighbors: nbrs}}
	o4 := obs(fdbPr)
	o4.Payload = &racktrackv1.Observation_Fdb{Fdb: &racktrackv1.FDBTable{Entries: fdb}}
	out := []*racktrackv1.Observation{o1, o2, o3, o4}
	// The neighbour table is reported by agents that have one: rows, or a
	// problem with the table itself. An agent without it (both tables
	// empty) sends none, which is neither an error nor incomplete.
	if len(ipns) > 0 || len(ipnPr.list) > 0 {
		o5 := obs(ipnPr)
		o5.Payload = &racktrackv1.Observation_IpNeighbors{IpNeighbors: &racktrackv1.IPNeighborTable{Neighbors: ipns}}
		out = append(out, o5)
	}
	// Problems found only by decoding (wrong types) have no TargetError yet.
	if pl.firstErr == nil {
		for _, o := range out {
			if len(o.Incomplete) > 0 {
				pl.fail(pl.s.targetError("decode", providers.KindDecode, errors.New(o.Incomplete[0])))
				break
			}
		}
	}
	return out, nil
}

// inventory builds the switch inventory from the system group and
// entPhysicalTable.
func (pl *poll) inventory(sys *gosnmp.SnmpPacket, cs colSet, pr *problems) *racktrackv1.SwitchInventory {
	inv := &racktrackv1.SwitchInventory{}
	if sys != nil {
		for _, v := range sys.Variables {
			if absent(v) {
				continue
			}
			var err error
			switch v.Name {
			case oidSysDescr:
				inv.SysDescr, err = asText(v)
			case oidSysObjectID:
				inv.SysObjectId, err = asOID(v)
			case oidSysUpTime:
				inv.SysUptimeCentiseconds, err = asUint(v)
			case oidSysContact:
				inv.SysContact, err = asText(v)
			case oidSysName:
				inv.SysName, err = asText(v)
			case oidSysLocation:
				inv.SysLocation, err = asText(v)
			}
			if err != nil {
				pr.addErr(err)
			}
		}
	}
	ents := map[int32]*racktrackv1.Entity{}
	row := func(i int32) *racktrackv1.Entity {
		e := ents[i]
		if e == nil {
			e = &racktrackv1.Entity{Index: i}
			ents[i] = e
		}
		return e
	}
	text := func(root string, set func(e *racktrackv1.Entity, s string)) {
		cs.intRow(root, pr, func(i int32, v gosnmp.SnmpPDU) error {
			s, err := asText(v)
			if err == nil {
				set(row(i), s)
			}
			return err
		})
	}
	text(colEntDescr, func(e *racktrackv1.Entity, s string) { e.Descr = s })
	text(colEntName, func(e *racktrackv1.Entity, s string) { e.Name = s })
	text(colEntHardwareRev, func(e *racktrackv1.Entity, s string) { e.HardwareRev = s })
	text(colEntFirmwareRev, func(e *racktrackv1.Entity, s string) { e.FirmwareRev = s })
	text(colEntSoftwareRev, func(e *racktrackv1.Entity, s string) { e.SoftwareRev = s })
	text(colEntSerialNum, func(e *racktrackv1.Entity, s string) { e.SerialNumber = s })
	text(colEntMfgName, func(e *racktrackv1.Entity, s string) { e.Manufacturer = s })
	text(colEntModelName, func(e *racktrackv1.Entity, s string) { e.Model = s })
	cs.intRow(colEntContainedIn, pr, func(i int32, v gosnmp.SnmpPDU) error {
		n, err := asInt(v)
		if err == nil {
			row(i).ContainedIn = int32(n)
		}
		return err
	})
	cs.intRow(colEntClass, pr, func(i int32, v gosnmp.SnmpPDU) error {
		n, err := asInt(v)
		if err == nil {
			row(i).Class = entityClass(n)
		}
		return err
	})
	for _, i := range sortedKeys(ents) {
		inv.Entities = append(inv.Entities, ents[i])
	}
	inv.ContentHash = inventoryHash(inv)
	return inv
}

// inventoryHash digests the inventory without uptime (which changes every
// poll) so "unchanged" is a string comparison.
func inventoryHash(inv *racktrackv1.SwitchInventory) string {
	c := proto.Clone(inv).(*racktrackv1.SwitchInventory)
	c.SysUptimeCentiseconds = 0
	c.ContentHash = ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func sortedKeys[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// interfaces builds the IF-MIB table. names maps ifIndex to the port name
// (ifName, else ifDescr) for the LLDP and FDB tables.
func (pl *poll) interfaces(sys *gosnmp.SnmpPacket, cs colSet, pr *problems, walkComplete bool) ([]*racktrackv1.Interface, map[int32]string) {
	rows := map[int32]*racktrackv1.Interface{}
	row := func(i int32) *racktrackv1.Interface {
		r := rows[i]
		if r == nil {
			r = &racktrackv1.Interface{IfIndex: i}
			rows[i] = r
		}
		return r
	}
	text := func(root string, set func(r *racktrackv1.Interface, s string)) {
		cs.intRow(root, pr, func(i int32, v gosnmp.SnmpPDU) error {
			s, err := asText(v)
			if err == nil {
				set(row(i), s)
			}
			return err
		})
	}
	integer := func(root string, set func(r *racktrackv1.Interface, n int64)) {
		cs.intRow(root, pr, func(i int32, v gosnmp.SnmpPDU) error {
			n, err := asInt(v)
			if err == nil {
				set(row(i), n)
			}
			return err
		})
	}
	unsigned := func(root string, set func(i int32, r *racktrackv1.Interface, n uint64)) {
		cs.intRow(root, pr, func(i int32, v gosnmp.SnmpPDU) error {
			n, err := asUint(v)
			if err == nil {
				set(i, row(i), n)
			}
			return err
		})
	}
	text(colIfDescr, func(r *racktrackv1.Interface, s string) { r.Descr = s })
	text(colIfName, func(r *racktrackv1.Interface, s string) { r.Name = s })
	text(colIfAlias, func(r *racktrackv1.Interface, s string) { r.Alias = s })
	integer(colIfType, func(r *racktrackv1.Interface, n int64) { r.IfType = int32(n) })
	integer(colIfMtu, func(r *racktrackv1.Interface, n int64) { r.Mtu = int32(n) })
	integer(colIfAdminStatus, func(r *racktrackv1.Interface, n int64) { r.AdminStatus = ifStatus(n) })
	integer(colIfOperStatus, func(r *racktrackv1.Interface, n int64) { r.OperStatus = ifStatus(n) })
	cs.intRow(colIfPhysAddress, pr, func(i int32, v gosnmp.SnmpPDU) error {
		b, err := asBytes(v)
		if err == nil {
			row(i).MacAddress = formatMAC(b)
		}
		return err
	})
	highSpeed := map[int32]uint64{}
	unsigned(colIfHighSpeed, func(i int32, _ *racktrackv1.Interface, n uint64) { highSpeed[i] = n })
	unsigned(colIfSpeed, func(i int32, r *racktrackv1.Interface, n uint64) {
		if _, ok := highSpeed[i]; !ok {
			r.SpeedMbps = n / 1_000_000
		}
	})
	for i, n := range highSpeed {
		row(i).SpeedMbps = n
	}
	unsigned(colIfLastChange, func(_ int32, r *racktrackv1.Interface, n uint64) { r.LastChangeCentiseconds = n })

	// Counters: Counter64 where the agent has them, Counter32 (extended
	// across polls) where it has not; the 32-bit instances are fetched
	// with GET for just the rows that lack a 64-bit one.
	type reading struct {
		ifIndex int32
		name    string
		raw     uint64
		wide    bool
		set     func(r *racktrackv1.Interface, n uint64)
	}
	var readings []reading
	raw := func(root, name string, wide bool, set func(r *racktrackv1.Interface, n uint64)) map[int32]bool {
		have := map[int32]bool{}
		unsigned(root, func(i int32, _ *racktrackv1.Interface, n uint64) {
			have[i] = true
			readings = append(readings, reading{i, name, n, wide, set})
		})
		return have
	}
	raw(colIfInErrors, "inErrors", false, func(r *racktrackv1.Interface, n uint64) { r.InErrors = n })
	raw(colIfOutErrors, "outErrors", false, func(r *racktrackv1.Interface, n uint64) { r.OutErrors = n })
	raw(colIfInDiscards, "inDiscards", false, func(r *racktrackv1.Interface, n uint64) { r.InDiscards = n })
	raw(colIfOutDiscards, "outDiscards", false, func(r *racktrackv1.Interface, n uint64) { r.OutDiscards = n })
	hc := []struct {
		hcRoot, root, name string
		set                func(r *racktrackv1.Interface, n uint64)
	}{
		{colIfHCInOctets, colIfInOctets, "inOctets", func(r *racktrackv1.Interface, n uint64) { r.InOctets = n }},
		{colIfHCOutOctets, colIfOutOctets, "outOctets", func(r *racktrackv1.Interface, n uint64) { r.OutOctets = n }},
		{colIfHCInUcastPkts, colIfInUcastPkts, "inUcastPkts", func(r *racktrackv1.Interface, n uint64) { r.InUnicastPackets = n }},
		{colIfHCOutUcastPkts, colIfOutUcastPkts, "outUcastPkts", func(r *racktrackv1.Interface, n uint64) { r.OutUnicastPackets = n }},
	}
	var missing []string
	narrow := map[string]int{} // 32-bit column root -> index in hc
	for k, h := range hc {
		narrow[h.root] = k
		have := raw(h.hcRoot, h.name, true, h.set)
		for i := range rows {
			if !have[i] {
				missing = append(missing, h.root+"."+strconv.Itoa(int(i)))
			}
		}
	}
	sort.Slice(missing, func(i, j int) bool { return compareOID(missing[i], missing[j]) < 0 })
	if !walkComplete {
		missing = nil
	}
	for start := 0; start < len(missing); start += maxOIDsPerRequest {
		batch := missing[start:min(len(missing), start+maxOIDsPerRequest)]
		pl.requests++
		resp, err := pl.s.get(batch)
		if err != nil {
			var te *providers.TargetError
			if errors.As(err, &te) {
				pl.fail(te)
			}
			pr.add("GET 32-bit counters: %v", err)
			walkComplete = false
			break
		}
		for _, v := range resp.Variables {
			if absent(v) {
				continue
			}
			n, err := asUint(v)
			if err != nil {
				pr.addErr(err)
				continue
			}
			dot := len(v.Name) - 1
			for dot > 0 && v.Name[dot] != '.' {
				dot--
			}
			k, ok := narrow[v.Name[:dot]]
			i, perr := strconv.ParseInt(v.Name[dot+1:], 10, 32)
			if ok && perr == nil && rows[int32(i)] != nil {
				readings = append(readings, reading{int32(i), hc[k].name, n, false, hc[k].set})
			}
		}
	}

	var uptime uint64
	haveUptime := false
	if sys != nil {
		for _, v := range sys.Variables {
			if v.Name == oidSysUpTime && !absent(v) {
				if n, err := asUint(v); err == nil {
					uptime, haveUptime = n, true
				}
			}
		}
	}
	discontRaw := map[int32]uint64{}
	unsigned(colIfCounterDiscont, func(i int32, _ *racktrackv1.Interface, n uint64) { discontRaw[i] = n })

	pl.p.mu.Lock()
	pass := pl.p.counters.begin(uptime, haveUptime)
	discont := map[int32]bool{}
	for i, n := range discontRaw {
		discont[i] = pass.discontinuity(i, n)
	}
	for _, r := range readings {
		if r.wide {
			r.set(rows[r.ifIndex], pass.counter64(r.ifIndex, r.name, r.raw))
		} else {
			r.set(rows[r.ifIndex], pass.counter32(r.ifIndex, r.name, r.raw, discont[r.ifIndex]))
		}
	}
	if walkComplete {
		pass.end()
	}
	pl.p.mu.Unlock()
	pl.p.metrics.counterWraps.Add(float64(pass.wraps))
	pl.p.metrics.counterResets.Add(float64(pass.resets))

	names := map[int32]string{}
	out := make([]*racktrackv1.Interface, 0, len(rows))
	for _, i := range sortedKeys(rows) {
		r := rows[i]
		out = append(out, r)
		if r.Name != "" {
			names[i] = r.Name
		} else {
			names[i] = r.Descr
		}
	}
	return out, names
}

// lldp builds the neighbour table from lldpLocPortTable, lldpRemTable and
// lldpRemManAddrTable.
func (pl *poll) lldp(cs colSet, ifNames map[int32]string, pr *problems) []*racktrackv1.LLDPNeighbor {
	type locPort struct {
		subtype int64
		id      []byte
		desc    string
	}
	loc := map[int32]*locPort{}
	lrow := func(i int32) *locPort {
		l := loc[i]
		if l == nil {
			l = &locPort{}
			loc[i] = l
		}
		return l
	}
	cs.intRow(colLldpLocPortIDSub, pr, func(i int32, v gosnmp.SnmpPDU) error {
		n, err := asInt(v)
		if err == nil {
			lrow(i).subtype = n
		}
		return err
	})
	cs.intRow(colLldpLocPortID, pr, func(i int32, v gosnmp.SnmpPDU) error {
		b, err := asBytes(v)
		if err == nil {
			lrow(i).id = b
		}
		return err
	})
	cs.intRow(colLldpLocPortDesc, pr, func(i int32, v gosnmp.SnmpPDU) error {
		s, err := asText(v)
		if err == nil {
			lrow(i).desc = s
		}
		return err
	})
	localName := func(port int32) string {
		l := loc[port]
		if l != nil {
			if l.subtype == 5 && len(l.id) > 0 { // interfaceName
				return displayString(l.id)
			}
			if l.desc != "" {
				return l.desc
			}
			if len(l.id) > 0 {
				_, s := decodePortID(l.subtype, l.id)
				return s
			}
		}
		return ifNames[port]
	}

	type remote struct {
		n                   *racktrackv1.LLDPNeighbor
		chassisSub, portSub int64
		chassis, port       []byte
	}
	rems := map[lldpRemKey]*remote{}
	rrow := func(k lldpRemKey) *remote {
		r := rems[k]
		if r == nil {
			r = &remote{n: &racktrackv1.LLDPNeighbor{LocalPortIndex: int32(k.localPort)}, chassisSub: -1, portSub: -1}
			rems[k] = r
		}
		return r
	}
	rem := func(root string, fn func(r *remote, v gosnmp.SnmpPDU) error) {
		cs.each(root, pr, func(idx []uint32, v gosnmp.SnmpPDU) error {
			if len(idx) != 3 {
				return fmt.Errorf("%s: lldpRemTable index %s is not timeMark.localPort.remIndex", v.Name, oidString(idx))
			}
			return fn(rrow(lldpRemKey{idx[0], idx[1], idx[2]}), v)
		})
	}
	rem(colLldpRemChassisSub, func(r *remote, v gosnmp.SnmpPDU) (err error) { r.chassisSub, err = asInt(v); return })
	rem(colLldpRemChassisID, func(r *remote, v gosnmp.SnmpPDU) (err error) { r.chassis, err = asBytes(v); return })
	rem(colLldpRemPortIDSub, func(r *remote, v gosnmp.SnmpPDU) (err error) { r.portSub, err = asInt(v); return })
	rem(colLldpRemPortID, func(r *remote, v gosnmp.SnmpPDU) (err error) { r.port, err = asBytes(v); return })
	rem(colLldpRemPortDesc, func(r *remote, v gosnmp.SnmpPDU) (err error) { r.n.PortDescription, err = asText(v); return })
	rem(colLldpRemSysName, func(r *remote, v gosnmp.SnmpPDU) (err error) { r.n.SystemName, err = asText(v); return })
	rem(colLldpRemSysDesc, func(r *remote, v gosnmp.SnmpPDU) (err error) { r.n.SystemDescription, err = asText(v); return })
	rem(colLldpRemCapSup, func(r *remote, v gosnmp.SnmpPDU) error {
		b, err := asBytes(v)
		r.n.Capabilities = decodeCapabilities(b)
		return err
	})
	rem(colLldpRemCapEnabled, func(r *remote, v gosnmp.SnmpPDU) error {
		b, err := asBytes(v)
		r.n.EnabledCapabilities = decodeCapabilities(b)
		return err
	})
	cs.each(colLldpRemManIfSub, pr, func(idx []uint32, v gosnmp.SnmpPDU) error {
		k, addr, err := decodeManAddrIndex(idx)
		if err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
		if r := rems[k]; r != nil {
			r.n.ManagementAddresses = append(r.n.ManagementAddresses, addr)
		}
		return nil
	})

	keys := make([]lldpRemKey, 0, len(rems))
	for k := range rems {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.localPort != b.localPort {
			return a.localPort < b.localPort
		}
		if a.remIndex != b.remIndex {
			return a.remIndex < b.remIndex
		}
		return a.timeMark < b.timeMark
	})
	out := make([]*racktrackv1.LLDPNeighbor, 0, len(keys))
	for _, k := range keys {
		r := rems[k]
		if r.chassisSub >= 0 || r.chassis != nil {
			r.n.ChassisIdSubtype, r.n.ChassisId = decodeChassisID(r.chassisSub, r.chassis)
		}
		if r.portSub >= 0 || r.port != nil {
			r.n.PortIdSubtype, r.n.PortId = decodePortID(r.portSub, r.port)
		}
		r.n.LocalPort = localName(int32(k.localPort))
		out = append(out, r.n)
	}
	return out
}

// fdb builds the forwarding table, mapping bridge ports to ifIndex and
// FDB ids to VLANs.
func (pl *poll) fdb(cs colSet, ifNames map[int32]string, dot1d bool, pr *problems) []*racktrackv1.FDBEntry {
	basePort := map[int32]int32{}
	cs.intRow(oidDot1dBasePortIfIndex, pr, func(i int32, v gosnmp.SnmpPDU) error {
		n, err := asInt(v)
		if err == nil {
			basePort[i] = int32(n)
		}
		return err
	})
	vlanOf := map[uint32]uint32{}
	cs.each(oidDot1qVlanFdbID, pr, func(idx []uint32, v gosnmp.SnmpPDU) error {
		if len(idx) != 2 {
			return fmt.Errorf("%s: dot1qVlanCurrentTable index %s is not timeMark.vlan", v.Name, oidString(idx))
		}
		n, err := asUint(v)
		if err != nil {
			return err
		}
		if _, ok := vlanOf[uint32(n)]; !ok {
			vlanOf[uint32(n)] = idx[1]
		}
		return nil
	})
	portRoot, statusRoot := colDot1qTpFdbPort, colDot1qTpFdbStatus
	if dot1d {
		portRoot, statusRoot = colDot1dTpFdbPort, colDot1dTpFdbStatus
	}
	type key struct {
		fdb uint32
		mac string
	}
	entries := map[key]*racktrackv1.FDBEntry{}
	var order []key
	entry := func(idx []uint32, name string) (*racktrackv1.FDBEntry, error) {
		fdbID, mac, err := decodeFDBIndex(idx, !dot1d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		k := key{fdbID, mac}
		e := entries[k]
		if e == nil {
			vlan := fdbID
			if v, ok := vlanOf[fdbID]; ok {
				vlan = v
			}
			e = &racktrackv1.FDBEntry{Vlan: vlan, MacAddress: mac}
			entries[k] = e
			order = append(order, k)
		}
		return e, nil
	}
	cs.each(portRoot, pr, func(idx []uint32, v gosnmp.SnmpPDU) error {
		e, err := entry(idx, v.Name)
		if err != nil {
			return err
		}
		n, err := asInt(v)
		if err != nil {
			return err
		}
		e.BridgePort = int32(n)
		if ifi, ok := basePort[e.BridgePort]; ok {
			e.IfIndex = ifi
			e.PortName = ifNames[ifi]
		}
		return nil
	})
	cs.each(statusRoot, pr, func(idx []uint32, v gosnmp.SnmpPDU) error {
		e, err := entry(idx, v.Name)
		if err != nil {
			return err
		}
		n, err := asInt(v)
		if err != nil {
			return err
		}
		e.Status = fdbStatus(n)
		return nil
	})
	out := make([]*racktrackv1.FDBEntry, 0, len(order))
	for _, k := range order {
		out = append(out, entries[k])
	}
	return out
}
