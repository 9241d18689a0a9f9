package api

import (
	"net/http"
	"time"

	"github.com/racktrack/racktrack/collector/inventory"
	"github.com/racktrack/racktrack/collector/store"
)

// Change is one entry of GET /api/v1/history.
type Change struct {
	Site       string    `json:"site"`
	Device     string    `json:"device"`
	ObservedAt time.Time `json:"observed_at"`
	// Kind is the payload kind the change was seen in.
	Kind string `json:"kind"`
	// Change is device_appeared, component_appeared, component_removed
	// or field_changed.
	Change    string `json:"change"`
	Component string `json:"component,omitempty"`
	Field     string `json:"field,omitempty"`
	From      string `json:"from"`
	To        string `json:"to"`
	// Description says it in words.
	Description string `json:"description"`
	// PreviousObservedAt is when the state before the change was last
	// observed: the change happened between then and ObservedAt.
	PreviousObservedAt *time.Time `json:"previous_observed_at,omitempty"`
	Source             string     `json:"source"`
	AgentID            string     `json:"agent_id"`
	Target             string     `json:"target"`
	Sequence           uint64     `json:"sequence"`
}

// History is the body of GET /api/v1/history.
type History struct {
	Changes    []Change `json:"changes"`
	Count      int      `json:"count"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	p := parse(r, "site", "device", "from", "to", "limit", "cursor")
	f := store.HistoryFilter{Site: p.required("site"), Device: p.str("device"), From: p.time("from"), To: p.time("to")}
	limit := p.limit()
	var after store.HistoryCursor
	if p.cursor(&after) {
		f.After = &after
	}
	if p.badRequest(w) {
		return
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		writeError(w, http.StatusBadRequest, "query parameter \"from\" must be before \"to\"")
		return
	}
	f.Limit = limit + 1
	rows, err := h.opts.Store.History(r.Context(), f)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := History{}
	if len(rows) > limit {
		rows = rows[:limit]
		c := rows[limit-1]
		out.NextCursor = encodeCursor(store.HistoryCursor{ObservedAt: c.ObservedAt, Device: c.Device, Kind: c.Kind, Component: c.Component, Field: c.Field})
	}
	out.Changes = make([]Change, len(rows))
	out.Count = len(rows)
	for i, c := range rows {
		ch := Change{Site: c.Site, Device: c.Device, ObservedAt: c.ObservedAt, Kind: c.Kind, Change: c.Change,
			Component: c.Component, Field: c.Field, From: c.From, To: c.To,
			Description: inventory.Describe(inventory.Change{Kind: inventory.ChangeKind(c.Change), Component: c.Component,
				Field: c.Field, From: c.From, To: c.To}, c.Site, c.Device, c.ObservedAt),
			Source: c.Source, AgentID: c.AgentID, Target: c.Target, Sequence: c.Sequence}
		if !c.PrevObservedAt.IsZero() {
			t := c.PrevObservedAt
			ch.PreviousObservedAt = &t
		}
		out.Changes[i] = ch
	}
	writeJSON(w, http.StatusOK, out)
}

// Target is one polled target in GET /api/v1/targets.
type Target struct {
	Site                string     `json:"site"`
	AgentID             string     `json:"agent_id"`
	Target              string     `json:"target"`
	Rack                string     `json:"rack"`
	Reachable           bool       `json:"reachable"`
	Operation           string     `json:"operation,omitempty"`
	Error               string     `json:"error,omitempty"`
	ErrorKind           string     `json:"error_kind,omitempty"`
	LatencyMs           uint32     `json:"latency_ms"`
	ConsecutiveFailures uint32     `json:"consecutive_failures"`
	NextAttempt         *time.Time `json:"next_attempt,omitempty"`
	Requests            uint32     `json:"requests"`
	Provenance          Provenance `json:"provenance"`
}

// TargetList is the body of GET /api/v1/targets.
type TargetList struct {
	Targets    []Target `json:"targets"`
	Count      int      `json:"count"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

func (h *Handler) targets(w http.ResponseWriter, r *http.Request) {
	p := parse(r, "site", "agent", "reachable", "limit", "cursor")
	f := store.TargetFilter{Site: p.str("site"), AgentID: p.str("agent"), Reachable: p.boolean("reachable")}
	limit := p.limit()
	var after store.TargetCursor
	if p.cursor(&after) {
		f.After = &after
	}
	if p.badRequest(w) {
		return
	}
	f.Limit = limit + 1
	list, err := h.opts.Store.TargetStatuses(r.Context(), f)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := TargetList{}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		out.NextCursor = encodeCursor(store.TargetCursor{AgentID: last.AgentID, Target: last.Target})
	}
	out.Targets = make([]Target, len(list))
	out.Count = len(list)
	for i, t := range list {
		x := Target{Site: t.Site, AgentID: t.AgentID, Target: t.Target, Rack: t.Rack, Reachable: t.Reachable,
			Operation: t.Operation, Error: t.Error, ErrorKind: t.ErrorKind, LatencyMs: t.LatencyMs,
			ConsecutiveFailures: t.ConsecutiveFailures, Requests: t.Requests,
			Provenance: h.provenance(t.Source, t.AgentID, t.Target, t.Sequence, t.ObservedAt)}
		if !t.NextAttempt.IsZero() {
			na := t.NextAttempt
			x.NextAttempt = &na
		}
		out.Targets[i] = x
	}
	writeJSON(w, http.StatusOK, out)
}
