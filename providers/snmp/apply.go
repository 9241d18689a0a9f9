package snmp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

// Operation kinds Apply implements.
const (
	// OpIfAlias sets IF-MIB ifAlias of the interface whose ifIndex is in
	// Operation.Field ("12" or "ifAlias.12") to Operation.To.
	OpIfAlias = "snmp.if_alias"
	// OpIfAdminStatus sets IF-MIB ifAdminStatus to Operation.To: "up",
	// "down" or "testing" (or 1, 2, 3). Field is the ifIndex.
	OpIfAdminStatus = "snmp.if_admin_status"
)

// ErrConflict is returned by Apply when the device no longer shows the
// operation's From value: the change was computed against stale data.
var ErrConflict = errors.New("device value differs from the change's from value")

// Apply performs one change operation with SET, then reads the value back
// and reports what the device shows. SETs are refused unless the session
// is SNMPv3 authPriv or the target sets allow_set_without_authpriv. When
// op.From is set, the current value must match it first.
func (p *Provider) Apply(ctx context.Context, op *racktrackv1.Operation) (*racktrackv1.OperationResult, error) {
	res := &racktrackv1.OperationResult{Operation: op}
	fail := func(result string, err error) (*racktrackv1.OperationResult, error) {
		p.metrics.sets.WithLabelValues(result).Inc()
		var te *providers.TargetError
		if errors.As(err, &te) {
			p.metrics.errors.WithLabelValues(string(te.Kind)).Inc()
		}
		res.Error = err.Error()
		return res, err
	}
	var column string
	var value func(to string) (gosnmp.SnmpPDU, error)
	var show func(v gosnmp.SnmpPDU) (string, error)
	switch op.GetKind() {
	case OpIfAlias:
		column = instIfAlias
		value = func(to string) (gosnmp.SnmpPDU, error) {
			if len(to) > 64 {
				return gosnmp.SnmpPDU{}, fmt.Errorf("ifAlias is at most 64 octets, got %d", len(to))
			}
			return gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: to}, nil
		}
		show = asText
	case OpIfAdminStatus:
		column = instIfAdminStatus
		value = func(to string) (gosnmp.SnmpPDU, error) {
			n, err := adminStatusValue(to)
			return gosnmp.SnmpPDU{Type: gosnmp.Integer, Value: n}, err
		}
		show = func(v gosnmp.SnmpPDU) (string, error) {
			n, err := asInt(v)
			return ifStatus(n), err
		}
	default:
		return fail("refused", &providers.TargetError{Provider: "snmp", Target: p.target, Operation: op.GetKind(),
			Kind: providers.KindUnsupported, Err: providers.ErrUnsupported})
	}
	ifIndex, err := operationIndex(op.GetField())
	if err != nil {
		return fail("refused", &providers.TargetError{Provider: "snmp", Target: p.target, Operation: op.GetKind(),
			Kind: providers.KindUnsupported, Err: err})
	}
	oid := column + "." + strconv.Itoa(ifIndex)
	opName := "SET " + strings.TrimPrefix(oid, ".")
	pdu, err := value(op.GetTo())
	if err != nil {
		return fail("refused", &providers.TargetError{Provider: "snmp", Target: p.target, Operation: opName,
			Kind: providers.KindUnsupported, Err: err})
	}
	pdu.Name = oid
	authPriv := p.cfg.Version == "3" && p.cfg.securityLevel() == AuthPriv
	if !authPriv && !p.cfg.AllowSetWithoutAuthPriv {
		return fail("refused", &providers.TargetError{Provider: "snmp", Target: p.target, Operation: opName,
			Kind: providers.KindUnsupported, Err: ErrSetNotAllowed})
	}

	s, err := p.open(ctx)
	if err != nil {
		return fail("failed", err)
	}
	defer p.finish(s)
	read := func() (string, error) {
		r, err := s.get([]string{oid})
		if err != nil {
			return "", err
		}
		if len(r.Variables) != 1 || absent(r.Variables[0]) {
			return "", s.targetError("GET "+oid[1:], providers.KindProtocol, fmt.Errorf("no instance %s (ifIndex %d does not exist)", oid[1:], ifIndex))
		}
		v, err := show(r.Variables[0])
		if err != nil {
			return "", s.targetError("GET "+oid[1:], providers.KindDecode, err)
		}
		return v, nil
	}
	before, err := read()
	if err != nil {
		return fail("failed", err)
	}
	if op.GetFrom() != "" && !sameValue(op.GetKind(), before, op.GetFrom()) {
		res.Observed = before
		return fail("refused", s.targetError(opName, providers.KindProtocol,
			fmt.Errorf("%w: device shows %q, change expected %q", ErrConflict, before, op.GetFrom())))
	}
	if _, err := s.set([]gosnmp.SnmpPDU{pdu}); err != nil {
		if after, rerr := read(); rerr == nil {
			res.Observed = after
		}
		return fail("failed", err)
	}
	after, err := read()
	if err != nil {
		return fail("failed", err)
	}
	res.Observed = after
	if !sameValue(op.GetKind(), after, op.GetTo()) {
		return fail("failed", s.targetError(opName, providers.KindProtocol,
			fmt.Errorf("SET accepted but the device reads back %q, want %q", after, op.GetTo())))
	}
	res.Applied = true
	p.metrics.sets.WithLabelValues("applied").Inc()
	p.log.Info("applied", "operation", op.GetKind(), "field", op.GetField(), "observed", after)
	return res, nil
}

// operationIndex accepts "12" or "ifAlias.12" / "ifAdminStatus.12".
func operationIndex(field string) (int, error) {
	f := field
	if i := strings.LastIndexByte(f, '.'); i >= 0 {
		f = f[i+1:]
	}
	n, err := strconv.Atoi(f)
	if err != nil || n < 1 || n > 1<<31-1 {
		return 0, fmt.Errorf("field %q is not an ifIndex", field)
	}
	return n, nil
}

func adminStatusValue(to string) (int, error) {
	switch strings.ToLower(to) {
	case "up", "1":
		return 1, nil
	case "down", "2":
		return 2, nil
	case "testing", "3":
		return 3, nil
	}
	return 0, fmt.Errorf("ifAdminStatus must be up, down or testing, got %q", to)
}

// sameValue compares a read-back value with a requested one.
func sameValue(kind, observed, want string) bool {
	if kind == OpIfAdminStatus {
		a, err1 := adminStatusValue(observed)
		b, err2 := adminStatusValue(want)
		return err1 == nil && err2 == nil && a == b
	}
	return observed == want
}
