package switchsim

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/racktrack/racktrack/providers/snmp/internal/ber"
)

// ErrSyntax is wrapped by ParseSnmprec for lines that are not
// OID|TAG|VALUE records it understands.
var ErrSyntax = errors.New("snmprec syntax")

// Value is one typed SNMP value: its BER tag and contents octets.
type Value struct {
	Tag     byte
	Content []byte
}

// Integer returns an INTEGER value.
func Integer(n int64) Value { return Value{ber.TagInteger, ber.IntContent(n)} }

// OctetString returns an OCTET STRING value.
func OctetString(s string) Value { return Value{ber.TagOctetString, []byte(s)} }

// Octets returns an OCTET STRING value of raw octets.
func Octets(b []byte) Value { return Value{ber.TagOctetString, append([]byte(nil), b...)} }

// Counter32 returns a Counter32 value.
func Counter32(n uint32) Value { return Value{ber.TagCounter32, ber.UintContent(uint64(n))} }

// Gauge32 returns a Gauge32 value.
func Gauge32(n uint32) Value { return Value{ber.TagGauge32, ber.UintContent(uint64(n))} }

// TimeTicks returns a TimeTicks value (centiseconds).
func TimeTicks(n uint32) Value { return Value{ber.TagTimeTicks, ber.UintContent(uint64(n))} }

// Counter64 returns a Counter64 value.
func Counter64(n uint64) Value { return Value{ber.TagCounter64, ber.UintContent(n)} }

// ObjectID returns an OBJECT IDENTIFIER value from dotted form.
func ObjectID(oid string) (Value, error) {
	o, err := ParseOID(oid)
	if err != nil {
		return Value{}, err
	}
	c, err := ber.OIDContent(o)
	if err != nil {
		return Value{}, err
	}
	return Value{ber.TagOID, c}, nil
}

// IPAddress returns an IpAddress value from dotted-quad form.
func IPAddress(s string) (Value, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return Value{}, fmt.Errorf("not an IPv4 address: %q", s)
	}
	b := a.As4()
	return Value{ber.TagIPAddress, b[:]}, nil
}

// Record is one line of a recording: an OID and its value.
type Record struct {
	OID   []uint32
	Value Value
}

// ParseOID parses dotted form (leading dot optional).
func ParseOID(s string) ([]uint32, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, fmt.Errorf("%w: empty OID", ErrSyntax)
	}
	parts := strings.Split(s, ".")
	out := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: bad OID %q", ErrSyntax, s)
		}
		out[i] = uint32(n)
	}
	if len(out) < 2 || out[0] > 2 {
		return nil, fmt.Errorf("%w: bad OID %q", ErrSyntax, s)
	}
	return out, nil
}

// FormatOID renders sub-identifiers in dotted form without a leading dot.
func FormatOID(oid []uint32) string {
	var b strings.Builder
	for i, n := range oid {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

// CompareOID orders OIDs sub-identifier by sub-identifier.
func CompareOID(a, b []uint32) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// ParseSnmprec reads snmpsim's .snmprec format: one OID|TAG|VALUE per
// line, TAG the numeric BER tag (2 Integer, 4 OctetString, 5 Null,
// 6 ObjectIdentifier, 64 IpAddress, 65 Counter32, 66 Gauge32,
// 67 TimeTicks, 68 Opaque, 70 Counter64) with an optional "x" suffix for
// hex-encoded values. Blank lines and lines starting with # are skipped.
// snmpsim variation modules (TAG:module) are not supported.
func ParseSnmprec(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		rec, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseLine(text string) (Record, error) {
	oidText, rest, ok := strings.Cut(text, "|")
	if !ok {
		return Record{}, fmt.Errorf("%w: want OID|TAG|VALUE", ErrSyntax)
	}
	tagText, valText, ok := strings.Cut(rest, "|")
	if !ok {
		return Record{}, fmt.Errorf("%w: want OID|TAG|VALUE", ErrSyntax)
	}
	oid, err := ParseOID(oidText)
	if err != nil {
		return Record{}, err
	}
	if strings.Contains(tagText, ":") {
		return Record{}, fmt.Errorf("%w: variation module %q not supported", ErrSyntax, tagText)
	}
	isHex := strings.HasSuffix(tagText, "x")
	tagNum, err := strconv.ParseUint(strings.TrimSuffix(tagText, "x"), 10, 8)
	if err != nil {
		return Record{}, fmt.Errorf("%w: bad tag %q", ErrSyntax, tagText)
	}
	tag := byte(tagNum)
	var raw []byte
	if isHex {
		raw, err = hex.DecodeString(valText)
		if err != nil {
			return Record{}, fmt.Errorf("%w: bad hex value: %v", ErrSyntax, err)
		}
	}
	v := Value{Tag: tag}
	switch tag {
	case ber.TagInteger:
		if isHex {
			return Record{}, fmt.Errorf("%w: hex Integer", ErrSyntax)
		}
		n, err := strconv.ParseInt(valText, 10, 64)
		if err != nil {
			return Record{}, fmt.Errorf("%w: bad Integer %q", ErrSyntax, valText)
		}
		v.Content = ber.IntContent(n)
	case ber.TagOctetString, ber.TagOpaque:
		if isHex {
			v.Content = raw
		} else {
			v.Content = []byte(valText)
		}
	case ber.TagNull, ber.TagNoSuchObj, ber.TagNoSuchInst, ber.TagEndOfMib:
		v.Content = nil
	case ber.TagOID:
		o, err := ObjectID(valText)
		if err != nil {
			return Record{}, err
		}
		v = o
	case ber.TagIPAddress:
		if isHex {
			if len(raw) != 4 {
				return Record{}, fmt.Errorf("%w: IpAddress of %d octets", ErrSyntax, len(raw))
			}
			v.Content = raw
		} else {
			ip, err := IPAddress(valText)
			if err != nil {
				return Record{}, fmt.Errorf("%w: %v", ErrSyntax, err)
			}
			v = ip
		}
	case ber.TagCounter32, ber.TagGauge32, ber.TagTimeTicks, ber.TagCounter64:
		bits := 32
		if tag == ber.TagCounter64 {
			bits = 64
		}
		n, err := strconv.ParseUint(valText, 10, bits)
		if err != nil {
			return Record{}, fmt.Errorf("%w: bad unsigned %q", ErrSyntax, valText)
		}
		v.Content = ber.UintContent(n)
	default:
		return Record{}, fmt.Errorf("%w: unsupported tag %d", ErrSyntax, tag)
	}
	return Record{OID: oid, Value: v}, nil
}

// WriteSnmprec writes records in .snmprec format (OCTET STRINGs that are
// not plain printable text are written hex-encoded with the x suffix).
func WriteSnmprec(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	for _, r := range recs {
		if _, err := fmt.Fprintf(bw, "%s|%s\n", FormatOID(r.OID), formatValue(r.Value)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func formatValue(v Value) string {
	switch v.Tag {
	case ber.TagInteger:
		n, _ := ber.ParseInt(v.Content)
		return "2|" + strconv.FormatInt(n, 10)
	case ber.TagOctetString:
		if plainText(v.Content) {
			return "4|" + string(v.Content)
		}
		return "4x|" + hex.EncodeToString(v.Content)
	case ber.TagOID:
		o, _ := ber.ParseOID(v.Content)
		return "6|" + FormatOID(o)
	case ber.TagIPAddress:
		if len(v.Content) == 4 {
			return "64|" + netip.AddrFrom4([4]byte(v.Content)).String()
		}
		return "64x|" + hex.EncodeToString(v.Content)
	case ber.TagCounter32, ber.TagGauge32, ber.TagTimeTicks, ber.TagCounter64:
		n, _ := ber.ParseUint(v.Content)
		return strconv.Itoa(int(v.Tag)) + "|" + strconv.FormatUint(n, 10)
	case ber.TagNull:
		return "5|"
	}
	return strconv.Itoa(int(v.Tag)) + "x|" + hex.EncodeToString(v.Content)
}

func plainText(b []byte) bool {
	for _, c := range b {
		if c == '|' || c > unicode.MaxASCII || !unicode.IsPrint(rune(c)) {
			return false
		}
	}
	return true
}

// Dataset is the OID tree an agent serves, sorted for GETNEXT. It is safe
// for concurrent use; Set changes values in place.
type Dataset struct {
	mu   sync.RWMutex
	recs []Record
	idx  map[string]int
}

// NewDataset sorts records into a dataset. Duplicate OIDs are an error.
func NewDataset(recs []Record) (*Dataset, error) {
	sorted := append([]Record(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool { return CompareOID(sorted[i].OID, sorted[j].OID) < 0 })
	d := &Dataset{recs: sorted, idx: make(map[string]int, len(sorted))}
	for i, r := range sorted {
		k := FormatOID(r.OID)
		if _, dup := d.idx[k]; dup {
			return nil, fmt.Errorf("duplicate OID %s", k)
		}
		d.idx[k] = i
	}
	return d, nil
}

// Len is the number of objects.
func (d *Dataset) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.recs)
}

// Records returns a copy of the records in OID order.
func (d *Dataset) Records() []Record {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return append([]Record(nil), d.recs...)
}

// Get returns the value at exactly oid.
func (d *Dataset) Get(oid []uint32) (Value, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	i, ok := d.idx[FormatOID(oid)]
	if !ok {
		return Value{}, false
	}
	return d.recs[i].Value, true
}

// Next returns the first record after oid.
func (d *Dataset) Next(oid []uint32) (Record, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	i := sort.Search(len(d.recs), func(i int) bool { return CompareOID(d.recs[i].OID, oid) > 0 })
	if i == len(d.recs) {
		return Record{}, false
	}
	return d.recs[i], true
}

// First returns the first record of the tree.
func (d *Dataset) First() (Record, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if len(d.recs) == 0 {
		return Record{}, false
	}
	return d.recs[0], true
}

// Set replaces the value of an existing object (the tag may change, so
// tests can serve wrong types).
func (d *Dataset) Set(oid string, v Value) error {
	o, err := ParseOID(oid)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.idx[FormatOID(o)]
	if !ok {
		return fmt.Errorf("no object %s", oid)
	}
	d.recs[i].Value = v
	return nil
}

// Delete removes the objects under prefix (the prefix itself included),
// e.g. to truncate a table.
func (d *Dataset) Delete(prefix string) (int, error) {
	p, err := ParseOID(prefix)
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	kept := d.recs[:0]
	n := 0
	for _, r := range d.recs {
		if len(r.OID) >= len(p) && CompareOID(r.OID[:len(p)], p) == 0 {
			n++
			continue
		}
		kept = append(kept, r)
	}
	d.recs = kept
	d.idx = make(map[string]int, len(kept))
	for i, r := range kept {
		d.idx[FormatOID(r.OID)] = i
	}
	return n, nil
}
