package redfish

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/stmcginnis/gofish/schemas"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

// Operation kinds Apply understands (Operation.kind).
const (
	// OpReset runs ComputerSystem.Reset; to is a ResetType (On, ForceOff,
	// GracefulShutdown, GracefulRestart, ForceRestart, PowerCycle, Nmi, ...)
	// and must be among the values the BMC allows. Observed is PowerState.
	OpReset = "redfish.reset"
	// OpBootOverride sets Boot.BootSourceOverrideTarget to to (Pxe, Hdd,
	// Cd, BiosSetup, None, ...); params["enabled"] is Once (default),
	// Continuous or Disabled. Observed is the override target.
	OpBootOverride = "redfish.boot_override"
	// OpAssetTag sets the system's AssetTag.
	OpAssetTag = "redfish.asset_tag"
	// OpIndicatorLED sets IndicatorLED (Lit, Blinking, Off); on systems
	// that only have LocationIndicatorActive, Lit/Blinking mean true and
	// Off false (true and false are accepted too).
	OpIndicatorLED = "redfish.indicator_led"
	// OpBIOSAttribute stages BIOS attribute field = to in the Bios
	// settings object; it takes effect at the next reset. Observed is the
	// staged value read back from the settings object.
	OpBIOSAttribute = "redfish.bios_attribute"
)

// ErrPrecondition is returned by Apply when Operation.from is set and the
// device shows a different value: the change was approved against a state
// that no longer holds, so nothing is sent.
var ErrPrecondition = errors.New("device value differs from the operation's from value")

// readBackTimeout bounds how long Apply waits for a reset to show in
// PowerState.
const readBackTimeout = 30 * time.Second

// Apply performs one change operation and reads the result back from the
// BMC. It always returns an OperationResult (applied, observed, error
// text); the error is a *providers.TargetError when the operation failed.
func (p *Provider) Apply(ctx context.Context, op *racktrackv1.Operation) (*racktrackv1.OperationResult, error) {
	res := &racktrackv1.OperationResult{Operation: op}
	fail := func(err error, opName string) (*racktrackv1.OperationResult, error) {
		te := p.targetError(err, opName)
		res.Error = te.Error()
		return res, te
	}
	if err := p.acquire(ctx); err != nil {
		return fail(err, op.GetKind())
	}
	defer p.release()
	if p.closed {
		return fail(ErrClosed, op.GetKind())
	}
	switch op.GetKind() {
	case OpReset, OpBootOverride, OpAssetTag, OpIndicatorLED, OpBIOSAttribute:
	default:
		return fail(fmt.Errorf("%w: %q", providers.ErrUnsupported, op.GetKind()), op.GetKind())
	}
	if err := p.conn.connect(ctx); err != nil {
		return fail(err, "connect")
	}
	v := p.conn.view(ctx)
	sys, err := p.system(v)
	if err != nil {
		return fail(err, "read system")
	}
	var observed string
	switch op.GetKind() {
	case OpReset:
		observed, err = p.applyReset(ctx, v, sys, op)
	case OpBootOverride:
		observed, err = p.applyBoot(v, sys, op)
	case OpAssetTag:
		observed, err = p.applyAssetTag(v, sys, op)
	case OpIndicatorLED:
		observed, err = p.applyLED(v, sys, op)
	case OpBIOSAttribute:
		observed, err = p.applyBIOS(v, sys, op)
	}
	res.Observed = observed
	if err != nil {
		return fail(err, op.GetKind())
	}
	res.Applied = true
	p.logger.Info("redfish: change applied", "change", op.GetKind(), "field", op.GetField(), "to", op.GetTo(), "observed", observed)
	return res, nil
}

// system reads the first ComputerSystem through gofish, bound to v so its
// actions go through the provider's transport.
func (p *Provider) system(v view) (*schemas.ComputerSystem, error) {
	root := p.conn.rootSnapshot()
	var page collectionPage
	if err := getJSON(v, root.Systems.ID, &page); err != nil {
		return nil, err
	}
	if len(page.Members) == 0 {
		return nil, &unsupportedError{msg: "no ComputerSystem"}
	}
	var ref odataRef
	if err := decode(page.Members[0], &ref); err != nil {
		return nil, err
	}
	return getObject[schemas.ComputerSystem](v, ref.ID)
}

// getObject is schemas.GetObject with decode errors naming the request.
func getObject[T any, PT schemas.GenericSchemaObjectPointer[T]](v view, uri string) (*T, error) {
	obj, err := schemas.GetObject[T, PT](v, uri)
	if err != nil {
		var oe *opError
		if !errors.As(err, &oe) {
			err = &opError{Op: opName("GET", uri), Err: &decodeError{Err: err}}
		}
		return nil, err
	}
	return obj, nil
}

func precondition(op *racktrackv1.Operation, current string) error {
	if op.GetFrom() != "" && op.GetFrom() != current {
		return fmt.Errorf("%w: device shows %q, operation expects %q", ErrPrecondition, current, op.GetFrom())
	}
	return nil
}

// mismatch reports a read-back that does not show the requested value.
func mismatch(field, want, got string) error {
	return fmt.Errorf("read-back: %s is %q, want %q", field, got, want)
}

// expectedPower is the PowerState a reset type leads to, if any.
func expectedPower(rt string) string {
	switch rt {
	case "On", "ForceOn", "ForceRestart", "GracefulRestart", "PowerCycle":
		return "On"
	case "ForceOff", "GracefulShutdown":
		return "Off"
	}
	return ""
}

func (p *Provider) applyReset(ctx context.Context, v view, sys *schemas.ComputerSystem, op *racktrackv1.Operation) (string, error) {
	if err := precondition(op, string(sys.PowerState)); err != nil {
		return string(sys.PowerState), err
	}
	allowed, err := sys.GetSupportedResetTypes()
	if err != nil {
		return string(sys.PowerState), err
	}
	rt := schemas.ResetType(op.GetTo())
	if len(allowed) > 0 && !slices.Contains(allowed, rt) {
		return string(sys.PowerState), &unsupportedError{msg: fmt.Sprintf("reset type %q not allowed; the BMC allows %v", rt, allowed)}
	}
	if _, err := sys.Reset(rt); err != nil {
		return string(sys.PowerState), err
	}
	want := expectedPower(op.GetTo())
	rctx, cancel := context.WithTimeout(ctx, readBackTimeout)
	defer cancel()
	rv := view{c: v.c, ctx: rctx}
	for {
		now, err := getObject[schemas.ComputerSystem](rv, sys.ODataID)
		if err != nil {
			return "", err
		}
		state := string(now.PowerState)
		if want == "" || state == want {
			return state, nil
		}
		if err := sleepCtx(rctx, time.Second); err != nil {
			return state, mismatch("PowerState", want, state)
		}
	}
}

func (p *Provider) applyBoot(v view, sys *schemas.ComputerSystem, op *racktrackv1.Operation) (string, error) {
	current := string(sys.Boot.BootSourceOverrideTarget)
	if err := precondition(op, current); err != nil {
		return current, err
	}
	target := schemas.BootSource(op.GetTo())
	if allowed := sys.Boot.AllowableBootSourceOverrideTargetValues; len(allowed) > 0 && !slices.Contains(allowed, target) {
		return current, &unsupportedError{msg: fmt.Sprintf("boot target %q not allowed; the BMC allows %v", target, allowed)}
	}
	enabled := op.GetParams()["enabled"]
	if enabled == "" {
		enabled = "Once"
	}
	if !slices.Contains([]string{"Once", "Continuous", "Disabled"}, enabled) {
		return current, &unsupportedError{msg: fmt.Sprintf("params.enabled %q: want Once, Continuous or Disabled", enabled)}
	}
	// A minimal body: PATCHing gofish's whole Boot struct would echo
	// read-only annotations back to the BMC.
	body := map[string]any{"Boot": map[string]string{
		"BootSourceOverrideTarget":  string(target),
		"BootSourceOverrideEnabled": enabled,
	}}
	if err := sys.Patch(sys.ODataID, body); err != nil {
		return current, err
	}
	now, err := getObject[schemas.ComputerSystem](v, sys.ODataID)
	if err != nil {
		return "", err
	}
	got := string(now.Boot.BootSourceOverrideTarget)
	if got != op.GetTo() {
		return got, mismatch("Boot.BootSourceOverrideTarget", op.GetTo(), got)
	}
	return got, nil
}

func (p *Provider) applyAssetTag(v view, sys *schemas.ComputerSystem, op *racktrackv1.Operation) (string, error) {
	if err := precondition(op, sys.AssetTag); err != nil {
		return sys.AssetTag, err
	}
	sys.AssetTag = op.GetTo()
	if err := sys.Update(); err != nil {
		return "", err
	}
	now, err := getObject[schemas.ComputerSystem](v, sys.ODataID)
	if err != nil {
		return "", err
	}
	if now.AssetTag != op.GetTo() {
		return now.AssetTag, mismatch("AssetTag", op.GetTo(), now.AssetTag)
	}
	return now.AssetTag, nil
}

func (p *Provider) applyLED(v view, sys *schemas.ComputerSystem, op *racktrackv1.Operation) (string, error) {
	to := op.GetTo()
	if sys.IndicatorLED == "" && sys.LocationIndicatorActive != nil {
		cur := strconv.FormatBool(*sys.LocationIndicatorActive)
		var on bool
		switch to {
		case "Lit", "Blinking", "true":
			on = true
		case "Off", "false":
		default:
			return cur, &unsupportedError{msg: fmt.Sprintf("indicator %q: want Lit, Blinking, Off, true or false", to)}
		}
		if err := precondition(op, cur); err != nil {
			return cur, err
		}
		sys.LocationIndicatorActive = &on
		if err := sys.Update(); err != nil {
			return cur, err
		}
		now, err := getObject[schemas.ComputerSystem](v, sys.ODataID)
		if err != nil {
			return "", err
		}
		if now.LocationIndicatorActive == nil || *now.LocationIndicatorActive != on {
			return "", mismatch("LocationIndicatorActive", strconv.FormatBool(on), "unset or different")
		}
		return strconv.FormatBool(on), nil
	}
	cur := string(sys.IndicatorLED)
	if !slices.Contains([]string{"Lit", "Blinking", "Off"}, to) {
		return cur, &unsupportedError{msg: fmt.Sprintf("indicator %q: want Lit, Blinking or Off", to)}
	}
	if err := precondition(op, cur); err != nil {
		return cur, err
	}
	sys.IndicatorLED = schemas.IndicatorLED(to)
	if err := sys.Update(); err != nil {
		return cur, err
	}
	now, err := getObject[schemas.ComputerSystem](v, sys.ODataID)
	if err != nil {
		return "", err
	}
	if string(now.IndicatorLED) != to {
		return string(now.IndicatorLED), mismatch("IndicatorLED", to, string(now.IndicatorLED))
	}
	return to, nil
}

// biosSettings is the pending-settings object of a Bios resource.
type biosSettings struct {
	Attributes map[string]any
}

func (p *Provider) applyBIOS(v view, sys *schemas.ComputerSystem, op *racktrackv1.Operation) (string, error) {
	name := op.GetField()
	if name == "" {
		return "", &unsupportedError{msg: "bios attribute: field (the attribute name) is empty"}
	}
	bios, err := sys.Bios()
	if err != nil {
		return "", err
	}
	if bios == nil {
		return "", &unsupportedError{msg: "system has no Bios resource"}
	}
	cur, ok := bios.Attributes[name]
	if !ok {
		return "", &unsupportedError{msg: fmt.Sprintf("BIOS has no attribute %q", name)}
	}
	current := fmt.Sprint(cur)
	if err := precondition(op, current); err != nil {
		return current, err
	}
	if err := bios.UpdateBiosAttributes(schemas.SettingsAttributes{name: op.GetTo()}); err != nil {
		return current, err
	}
	// Read back what is staged (or, on BMCs that apply at once, current).
	settingsURI := bios.ODataID + "/Settings"
	var nav struct {
		Settings struct {
			SettingsObject odataRef
		} `json:"@Redfish.Settings"`
	}
	if err := getJSON(v, bios.ODataID, &nav); err != nil {
		return "", err
	}
	if nav.Settings.SettingsObject.ID != "" {
		settingsURI = nav.Settings.SettingsObject.ID
	} else {
		settingsURI = bios.ODataID
	}
	var staged biosSettings
	if err := getJSON(v, settingsURI, &staged); err != nil {
		return "", err
	}
	got := fmt.Sprint(staged.Attributes[name])
	if _, ok := staged.Attributes[name]; !ok || got != op.GetTo() {
		return got, mismatch("Bios attribute "+name, op.GetTo(), got)
	}
	return got, nil
}
