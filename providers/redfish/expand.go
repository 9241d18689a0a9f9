package redfish

import (
	"strconv"
	"sync/atomic"
)

// expandPlan says how this provider uses $expand on one BMC. It is shared
// by the goroutines of a poll, so the one mutable bit is atomic.
type expandPlan struct {
	// mode is "" (no $expand), "." (expand everything outside Links) or
	// "*" (everything; used only when "." is not offered).
	mode string
	// levels is set when $levels is supported; maxLevels bounds it.
	levels    bool
	maxLevels int
	// refused is set when the BMC rejected an expanded request despite
	// advertising support; later requests go without $expand.
	refused atomic.Bool
}

// planExpand decides from the service root's
// ProtocolFeaturesSupported.ExpandQuery, the configured mode and the quirk.
func planExpand(root *serviceRoot, mode string, q quirk) *expandPlan {
	e := &expandPlan{}
	if root == nil || mode == ExpandOff || q.NoExpand {
		return e
	}
	eq := root.ProtocolFeaturesSupported.ExpandQuery
	switch {
	case eq.NoLinks:
		e.mode = "."
	case eq.ExpandAll:
		e.mode = "*"
	default:
		return e
	}
	e.levels = eq.Levels && eq.MaxLevels > 1
	e.maxLevels = max(int(eq.MaxLevels), 1)
	if q.MaxExpandLevels > 0 {
		e.maxLevels = min(e.maxLevels, q.MaxExpandLevels)
	}
	return e
}

// query returns the query string (without "?") asking for depth levels of
// expansion, or "" when expansion is off. depth 0 asks for none.
func (e *expandPlan) query(depth int) string {
	if e == nil || e.mode == "" || depth < 1 || e.refused.Load() {
		return ""
	}
	n := 1
	if e.levels {
		n = min(depth, e.maxLevels)
	}
	if n <= 1 {
		return "$expand=" + e.mode
	}
	return "$expand=" + e.mode + "($levels=" + strconv.Itoa(n) + ")"
}
