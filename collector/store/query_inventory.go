package store

import (
	"context"
	"strings"
	"time"
)

// where builds a WHERE clause from column = value conditions, skipping
// empty values, plus extra raw conditions.
type where struct {
	conds []string
	args  []any
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.conds = append(w.conds, col+" = ?")
		w.args = append(w.args, v)
	}
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Provenance says where a current-state fact came from.
type Provenance struct {
	Rack, AgentID, Source string
	Sequence              uint64
	ObservedAt            time.Time
}

// Component is one part of a server or switch.
type Component struct {
	Site, Device, Component, Type, ID string
	Name, Manufacturer, Model         string
	SerialNumber, FirmwareVersion     string
	Health                            string
	// Facts are every field the agent reported for the component.
	Facts map[string]string
	Provenance
}

// Components returns the present components of a device, ordered by
// component key.
func (s *Store) Components(ctx context.Context, site, device string) ([]Component, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, `SELECT site, device, component, type, id, name, manufacturer, model,
		serial_number, firmware_version, health, facts.key, facts.value,
		rack, agent_id, source, sequence, observed_at
		FROM `+s.t("components")+` FINAL
		WHERE site = ? AND device = ? AND present = 1 ORDER BY component`, site, device)
	if err != nil {
		return nil, s.opError("select components", err)
	}
	defer rows.Close()
	out := []Component{}
	for rows.Next() {
		var (
			c          Component
			keys, vals []string
		)
		if err := rows.Scan(&c.Site, &c.Device, &c.Component, &c.Type, &c.ID, &c.Name, &c.Manufacturer, &c.Model,
			&c.SerialNumber, &c.FirmwareVersion, &c.Health, &keys, &vals,
			&c.Rack, &c.AgentID, &c.Source, &c.Sequence, &c.ObservedAt); err != nil {
			return nil, s.opError("select components", err)
		}
		c.ObservedAt = c.ObservedAt.UTC()
		c.Facts = make(map[string]string, len(keys))
		for i, k := range keys {
			c.Facts[k] = vals[i]
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select components", err)
	}
	return out, nil
}

// HistoryFilter selects history rows. Site is required; Device narrows to
// one device; From and To bound observed_at (From inclusive, To
// exclusive; zero means unbounded). After continues a previous page.
type HistoryFilter struct {
	Site, Device string
	From, To     time.Time
	Limit        int
	After        *HistoryCursor
}

// HistoryCursor is the position of the last row of a page.
type HistoryCursor struct {
	ObservedAt                     time.Time
	Device, Kind, Component, Field string
}

// History returns changes, oldest first, at most f.Limit (default 1000).
func (s *Store) History(ctx context.Context, f HistoryFilter) ([]ChangeRow, error) {
	w := &where{}
	w.eq("site", f.Site)
	w.eq("device", f.Device)
	if !f.From.IsZero() {
		w.add("observed_at >= toDateTime(?)", f.From.Unix())
	}
	if !f.To.IsZero() {
		w.add("observed_at < toDateTime(?)", f.To.Unix())
	}
	if a := f.After; a != nil {
		w.add("(observed_at, device, kind, component, field) > (toDateTime(?), ?, ?, ?, ?)",
			a.ObservedAt.Unix(), a.Device, a.Kind, a.Component, a.Field)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, `SELECT site, device, observed_at, kind, component, field, change,
		from_value, to_value, rack, agent_id, source, target, sequence, prev_observed_at
		FROM `+s.t("changes")+` FINAL`+w.sql()+`
		ORDER BY observed_at, device, kind, component, field LIMIT `+itoa(limit), w.args...)
	if err != nil {
		return nil, s.opError("select changes", err)
	}
	defer rows.Close()
	out := []ChangeRow{}
	for rows.Next() {
		var c ChangeRow
		if err := rows.Scan(&c.Site, &c.Device, &c.ObservedAt, &c.Kind, &c.Component, &c.Field, &c.Change,
			&c.From, &c.To, &c.Rack, &c.AgentID, &c.Source, &c.Target, &c.Sequence, &c.PrevObservedAt); err != nil {
			return nil, s.opError("select changes", err)
		}
		c.ObservedAt = c.ObservedAt.UTC()
		if c.PrevObservedAt.Unix() == 0 {
			c.PrevObservedAt = time.Time{}
		} else {
			c.PrevObservedAt = c.PrevObservedAt.UTC()
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select changes", err)
	}
	return out, nil
}
