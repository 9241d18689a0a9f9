package snmp

// Numeric OIDs of the MIB objects read (Debian ships no IF-MIB or LLDP-MIB
// files, and the provider needs none).
const (
	oidSysDescr    = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID = ".1.3.6.1.2.1.1.2.0"
	oidSysUpTime   = ".1.3.6.1.2.1.1.3.0"
	oidSysContact  = ".1.3.6.1.2.1.1.4.0"
	oidSysName     = ".1.3.6.1.2.1.1.5.0"
	oidSysLocation = ".1.3.6.1.2.1.1.6.0"

	oidIfEntry  = ".1.3.6.1.2.1.2.2.1"      // IF-MIB ifEntry
	oidIfXEntry = ".1.3.6.1.2.1.31.1.1.1"   // IF-MIB ifXEntry
	oidEntPhys  = ".1.3.6.1.2.1.47.1.1.1.1" // ENTITY-MIB entPhysicalEntry

	oidLldpLocPortEntry = ".1.0.8802.1.1.2.1.3.7.1" // LLDP-MIB lldpLocPortEntry
	oidLldpRemEntry     = ".1.0.8802.1.1.2.1.4.1.1" // LLDP-MIB lldpRemEntry
	oidLldpRemManAddr   = ".1.0.8802.1.1.2.1.4.2.1" // LLDP-MIB lldpRemManAddrEntry

	oidDot1dBasePortIfIndex = ".1.3.6.1.2.1.17.1.4.1.2"   // BRIDGE-MIB
	oidDot1dTpFdbEntry      = ".1.3.6.1.2.1.17.4.3.1"     // BRIDGE-MIB dot1dTpFdbEntry
	oidDot1qTpFdbEntry      = ".1.3.6.1.2.1.17.7.1.2.2.1" // Q-BRIDGE-MIB dot1qTpFdbEntry
	oidDot1qVlanFdbID       = ".1.3.6.1.2.1.17.7.1.4.2.1.3"
)

// ifTable / ifXTable columns.
const (
	colIfDescr        = oidIfEntry + ".2"
	colIfType         = oidIfEntry + ".3"
	colIfMtu          = oidIfEntry + ".4"
	colIfSpeed        = oidIfEntry + ".5"
	colIfPhysAddress  = oidIfEntry + ".6"
	colIfAdminStatus  = oidIfEntry + ".7"
	colIfOperStatus   = oidIfEntry + ".8"
	colIfLastChange   = oidIfEntry + ".9"
	colIfInOctets     = oidIfEntry + ".10"
	colIfInUcastPkts  = oidIfEntry + ".11"
	colIfInDiscards   = oidIfEntry + ".13"
	colIfInErrors     = oidIfEntry + ".14"
	colIfOutOctets    = oidIfEntry + ".16"
	colIfOutUcastPkts = oidIfEntry + ".17"
	colIfOutDiscards  = oidIfEntry + ".19"
	colIfOutErrors    = oidIfEntry + ".20"

	colIfName             = oidIfXEntry + ".1"
	colIfHCInOctets       = oidIfXEntry + ".6"
	colIfHCInUcastPkts    = oidIfXEntry + ".7"
	colIfHCOutOctets      = oidIfXEntry + ".10"
	colIfHCOutUcastPkts   = oidIfXEntry + ".11"
	colIfHighSpeed        = oidIfXEntry + ".15"
	colIfAlias            = oidIfXEntry + ".18"
	colIfCounterDiscont   = oidIfXEntry + ".19"
	colEntDescr           = oidEntPhys + ".2"
	colEntContainedIn     = oidEntPhys + ".4"
	colEntClass           = oidEntPhys + ".5"
	colEntName            = oidEntPhys + ".7"
	colEntHardwareRev     = oidEntPhys + ".8"
	colEntFirmwareRev     = oidEntPhys + ".9"
	colEntSoftwareRev     = oidEntPhys + ".10"
	colEntSerialNum       = oidEntPhys + ".11"
	colEntMfgName         = oidEntPhys + ".12"
	colEntModelName       = oidEntPhys + ".13"
	colLldpLocPortIDSub   = oidLldpLocPortEntry + ".2"
	colLldpLocPortID      = oidLldpLocPortEntry + ".3"
	colLldpLocPortDesc    = oidLldpLocPortEntry + ".4"
	colLldpRemChassisSub  = oidLldpRemEntry + ".4"
	colLldpRemChassisID   = oidLldpRemEntry + ".5"
	colLldpRemPortIDSub   = oidLldpRemEntry + ".6"
	colLldpRemPortID      = oidLldpRemEntry + ".7"
	colLldpRemPortDesc    = oidLldpRemEntry + ".8"
	colLldpRemSysName     = oidLldpRemEntry + ".9"
	colLldpRemSysDesc     = oidLldpRemEntry + ".10"
	colLldpRemCapSup      = oidLldpRemEntry + ".11"
	colLldpRemCapEnabled  = oidLldpRemEntry + ".12"
	colLldpRemManIfSub    = oidLldpRemManAddr + ".3"
	colDot1qTpFdbPort     = oidDot1qTpFdbEntry + ".2"
	colDot1qTpFdbStatus   = oidDot1qTpFdbEntry + ".3"
	colDot1dTpFdbPort     = oidDot1dTpFdbEntry + ".2"
	colDot1dTpFdbStatus   = oidDot1dTpFdbEntry + ".3"
	instIfAlias           = colIfAlias
	instIfAdminStatus     = colIfAdminStatus
	maxDefaultRows        = 262144
	maxRequestsMultiplier = 4
)
