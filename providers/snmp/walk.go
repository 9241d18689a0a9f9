package snmp

import (
	"fmt"
	"strings"

	"github.com/gosnmp/gosnmp"
	"github.com/racktrack/racktrack/providers"
)

// maxOIDsPerRequest bounds the varbinds of one request (gosnmp.MaxOids).
const maxOIDsPerRequest = gosnmp.MaxOids

// column is one walked table column: the varbinds under root, in order,
// or the error that stopped it.
type column struct {
	root  string // with leading dot
	cells []gosnmp.SnmpPDU
	err   error // protocol error that ended this column early (rows kept)
	done  bool  // the walk of this column ended (at its end or with err)
}

// index returns the sub-identifiers of v's name after the column root.
func (c *column) index(v gosnmp.SnmpPDU) ([]uint32, error) {
	return parseOID(v.Name[len(c.root)+1:])
}

type walkState struct {
	col    *column
	prefix string
	cursor string
	done   bool
}

// walk reads many columns at once with GETBULK: every request carries the
// cursor of each unfinished column, so independent tables share round
// trips and the walk takes as many requests as the longest column needs.
//
// A column ends at endOfMibView, at the first OID outside its root, or
// with an error: a non-increasing OID (ErrNonIncreasing), more rows than
// maxRows (ErrEndlessWalk), or an error-status naming its varbind. Such
// errors stay on the column and the others go on. The returned error is
// a transport failure (timeout, authentication, undecodable reply) that
// ends the whole walk; the columns keep what was read before it.
//
// fallbacks maps a root to the columns of an alternative table, read
// only when that column ends empty without an error. They join the
// running walk, so a fallback table costs round trips only where it is
// longer than what is still being read. The returned columns include
// the fallback columns that were walked.
func (s *session) walk(roots []string, fallbacks map[string][]string, reps, maxRows, maxRequests int, requests *int) ([]*column, error) {
	var cols []*column
	var states []*walkState
	add := func(r string) {
		c := &column{root: r}
		cols = append(cols, c)
		states = append(states, &walkState{col: c, prefix: r + ".", cursor: r})
	}
	for _, r := range roots {
		add(r)
	}
	triggered := map[string]bool{}
	if reps < 1 {
		reps = 1
	}
	defer func() {
		for _, st := range states {
			st.col.done = st.done
		}
	}()
	batchLimit := maxOIDsPerRequest
	for {
		for i := 0; i < len(states); i++ {
			c := states[i].col
			if more, ok := fallbacks[c.root]; ok && states[i].done && c.err == nil && len(c.cells) == 0 && !triggered[c.root] {
				triggered[c.root] = true
				for _, r := range more {
					add(r)
				}
			}
		}
		var active []*walkState
		for _, st := range states {
			if !st.done {
				active = append(active, st)
			}
		}
		if len(active) == 0 {
			return cols, nil
		}
		if *requests >= maxRequests {
			for _, st := range active {
				st.col.err = fmt.Errorf("%w: more than %d requests", ErrEndlessWalk, maxRequests)
				st.done = true
			}
			return cols, nil
		}
		batch := active
		if len(batch) > batchLimit {
			batch = batch[:batchLimit]
		}
		oids := make([]string, len(batch))
		for i, st := range batch {
			oids[i] = st.cursor
		}
		*requests++
		p, err := s.getBulk(oids, uint32(reps))
		if err != nil {
			return cols, err
		}
		switch {
		case p.Error == gosnmp.TooBig:
			// Ask for less: fewer repetitions first, then fewer columns.
			switch {
			case reps > 1:
				reps /= 2
			case len(batch) > 1:
				batchLimit = max(1, len(batch)/2)
			default:
				batch[0].col.err = &StatusError{Status: p.Error, OID: oids[0]}
				batch[0].done = true
			}
			continue
		case p.Error != gosnmp.NoError:
			idx := int(p.ErrorIndex)
			if idx >= 1 && idx <= len(batch) {
				batch[idx-1].col.err = &StatusError{Status: p.Error, Index: idx, OID: oids[idx-1]}
				batch[idx-1].done = true
				continue
			}
			for i, st := range batch {
				st.col.err = &StatusError{Status: p.Error, Index: idx, OID: oids[i]}
				st.done = true
			}
			continue
		case len(p.Variables) == 0:
			for _, st := range batch {
				st.col.err = fmt.Errorf("%w: empty GETBULK response", ErrMalformed)
				st.done = true
			}
			continue
		}
		n := len(batch)
		for i, v := range p.Variables {
			st := batch[i%n]
			if st.done {
				continue
			}
			if v.Type == gosnmp.EndOfMibView || v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance {
				st.done = true
				continue
			}
			if compareOID(v.Name, st.cursor) <= 0 {
				st.col.err = fmt.Errorf("%w: asked for the successor of %s, got %s", ErrNonIncreasing, st.cursor, v.Name)
				st.done = true
				continue
			}
			if !strings.HasPrefix(v.Name, st.prefix) {
				st.done = true
				continue
			}
			st.col.cells = append(st.col.cells, v)
			st.cursor = v.Name
			if len(st.col.cells) > maxRows {
				st.col.err = fmt.Errorf("%w: more than %d rows under %s", ErrEndlessWalk, maxRows, st.col.root)
				st.done = true
			}
		}
	}
}

// tableError turns column errors of one table into a TargetError for the
// target status; nil when all columns are clean.
func (s *session) tableError(table string, cols ...*column) *providers.TargetError {
	for _, c := range cols {
		if c != nil && c.err != nil {
			return s.targetError("walk "+table+" "+strings.TrimPrefix(c.root, "."), providers.KindProtocol, c.err)
		}
	}
	return nil
}
