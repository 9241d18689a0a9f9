package snmp_test

import (
	"context"
	"errors"
	"testing"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/snmp"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
)

// TestApply sets ifAlias and ifAdminStatus on the responder and checks
// the refusals.
func TestApply(t *testing.T) {
	site := demoSite(t, 4, 0)
	users := append([]switchsim.User{{Name: "viewer", AuthProtocol: "SHA", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123", ReadOnly: true}}, simUsers...)
	a := startAgent(t, site.Switches[0].Records, switchsim.Config{Community: "public", WriteCommunity: "private", Users: users})
	addr := a.Addr().String()
	authPriv := v3(t, addr, "shaaes", "SHA", "authpass123", "AES", "privpass123")
	v2Write := v2c(t, addr, "private")
	v2Allowed := v2Write
	v2Allowed.AllowSetWithoutAuthPriv = true
	authNoPriv := v3(t, addr, "shaonly", "SHA", "authpass123", "", "")
	readOnly := v3(t, addr, "viewer", "SHA", "authpass123", "AES", "privpass123")

	cases := []struct {
		name     string
		cfg      snmp.Config
		op       *racktrackv1.Operation
		applied  bool
		observed string
		kind     providers.ErrorKind
		want     error
		oid      string // checked in the agent's data afterwards
		value    switchsim.Value
	}{
		{name: "ifAlias over v3 authPriv", cfg: authPriv,
			op:      &racktrackv1.Operation{Kind: snmp.OpIfAlias, Field: "ifAlias.10003", From: "web-03:eno1", To: "web-03:eno1 (bond0)"},
			applied: true, observed: "web-03:eno1 (bond0)", oid: "1.3.6.1.2.1.31.1.1.1.18.10003", value: switchsim.OctetString("web-03:eno1 (bond0)")},
		{name: "ifAdminStatus down", cfg: authPriv,
			op:      &racktrackv1.Operation{Kind: snmp.OpIfAdminStatus, Field: "10005", From: "up", To: "down"},
			applied: true, observed: "down", oid: "1.3.6.1.2.1.2.2.1.7.10005", value: switchsim.Integer(2)},
		{name: "v2c refused by default", cfg: v2Write,
			op:   &racktrackv1.Operation{Kind: snmp.OpIfAlias, Field: "10006", To: "x"},
			kind: providers.KindUnsupported, want: snmp.ErrSetNotAllowed, oid: "1.3.6.1.2.1.31.1.1.1.18.10006", value: switchsim.OctetString("")},
		{name: "v3 authNoPriv refused by default", cfg: authNoPriv,
			op:   &racktrackv1.Operation{Kind: snmp.OpIfAlias, Field: "10006", To: "x"},
			kind: providers.KindUnsupported, want: snmp.ErrSetNotAllowed},
		{name: "v2c allowed by config", cfg: v2Allowed,
			op:      &racktrackv1.Operation{Kind: snmp.OpIfAdminStatus, Field: "10007", To: "2"},
			applied: true, observed: "down", oid: "1.3.6.1.2.1.2.2.1.7.10007", value: switchsim.Integer(2)},
		{name: "stale from value", cfg: authPriv,
			op:       &racktrackv1.Operation{Kind: snmp.OpIfAlias, Field: "10001", From: "somebody else", To: "x"},
			observed: "web-01:eno1", kind: providers.KindProtocol, want: snmp.ErrConflict,
			oid: "1.3.6.1.2.1.31.1.1.1.18.10001", value: switchsim.OctetString("web-01:eno1")},
		{name: "agent refuses the user", cfg: readOnly,
			op:   &racktrackv1.Operation{Kind: snmp.OpIfAlias, Field: "10009", To: "x"},
			kind: providers.KindProtocol, want: &snmp.StatusError{}},
		{name: "no such interface", cfg: authPriv,
			op:   &racktrackv1.Operation{Kind: snmp.OpIfAlias, Field: "999", To: "x"},
			kind: providers.KindProtocol},
		{name: "bad admin status", cfg: authPriv,
			op:   &racktrackv1.Operation{Kind: snmp.OpIfAdminStatus, Field: "10001", To: "sideways"},
			kind: providers.KindUnsupported},
		{name: "unknown operation", cfg: authPriv,
			op:   &racktrackv1.Operation{Kind: "snmp.reboot", Field: "0"},
			kind: providers.KindUnsupported, want: providers.ErrUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, tc.cfg, snmp.Options{})
			res, err := p.Apply(context.Background(), tc.op)
			if res == nil || res.Operation != tc.op {
				t.Fatalf("result = %v", res)
			}
			if res.Applied != tc.applied || res.Observed != tc.observed {
				t.Errorf("result = applied %v observed %q, want %v %q", res.Applied, res.Observed, tc.applied, tc.observed)
			}
			if tc.applied {
				if err != nil || res.Error != "" {
					t.Errorf("err = %v, %q", err, res.Error)
				}
			} else {
				var te *providers.TargetError
				if !errors.As(err, &te) || te.Kind != tc.kind || res.Error != err.Error() {
					t.Errorf("err = %v (%q), want kind %s", err, res.Error, tc.kind)
				}
				if se, ok := tc.want.(*snmp.StatusError); ok {
					if !errors.As(err, &se) || se.Status != 6 {
						t.Errorf("err = %v, want noAccess status", err)
					}
				} else if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("err = %v, want %v", err, tc.want)
				}
			}
			if tc.oid != "" {
				oid, _ := switchsim.ParseOID(tc.oid)
				if v, ok := a.Data().Get(oid); !ok || v.Tag != tc.value.Tag || string(v.Content) != string(tc.value.Content) {
					t.Errorf("agent holds %v at %s, want %v", v, tc.oid, tc.value)
				}
			}
		})
	}
}
