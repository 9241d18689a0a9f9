package redfishsim

import (
	"errors"
	"strconv"
	"strings"
)

// expandQuery is a parsed $expand value (DSP0266 "Query parameters").
type expandQuery struct {
	mode   byte // '*' all hyperlinks, '.' those outside Links, '~' those inside Links
	levels int
	// explicitLevels is set when the client sent $levels.
	explicitLevels bool
}

var (
	errExpandSyntax   = errors.New("malformed $expand")
	errExpandNoLevels = errors.New("$levels is not supported")
)

// parseExpand parses "*", "." or "~", optionally followed by "($levels=N)".
func parseExpand(v string) (expandQuery, error) {
	if v == "" {
		return expandQuery{}, errExpandSyntax
	}
	q := expandQuery{mode: v[0], levels: 1}
	if q.mode != '*' && q.mode != '.' && q.mode != '~' {
		return expandQuery{}, errExpandSyntax
	}
	rest := v[1:]
	if rest == "" {
		return q, nil
	}
	inner, ok := strings.CutPrefix(rest, "($levels=")
	if !ok || !strings.HasSuffix(inner, ")") {
		return expandQuery{}, errExpandSyntax
	}
	n, err := strconv.Atoi(strings.TrimSuffix(inner, ")"))
	if err != nil || n < 1 {
		return expandQuery{}, errExpandSyntax
	}
	q.levels, q.explicitLevels = n, true
	return q, nil
}

// allows reports whether the profile's advertised support covers q.
func (e expandSupport) allows(q expandQuery) error {
	switch q.mode {
	case '*':
		if !e.ExpandAll {
			return errExpandSyntax
		}
	case '.':
		if !e.NoLinks {
			return errExpandSyntax
		}
	case '~':
		if !e.Links {
			return errExpandSyntax
		}
	}
	if q.explicitLevels && !e.Levels {
		return errExpandNoLevels
	}
	if q.levels > max(e.MaxLevels, 1) {
		return errExpandNoLevels
	}
	return nil
}

// expand returns v with references replaced by the resources they point at,
// down to q.levels. lookup finds a resource by path. v itself is never
// modified: expanded parts are copies.
func expand(v any, q expandQuery, levels int, inLinks bool, lookup func(string) (map[string]any, bool)) any {
	switch x := v.(type) {
	case map[string]any:
		if id, ok := x["@odata.id"].(string); ok && len(x) == 1 && levels > 0 && wants(q.mode, inLinks) {
			if target, ok := lookup(stripFragment(id)); ok && !strings.Contains(id, "#") {
				return expand(target, q, levels-1, false, lookup)
			}
			return x
		}
		out := make(map[string]any, len(x))
		for k, child := range x {
			out[k] = expand(child, q, levels, inLinks || k == "Links", lookup)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, child := range x {
			out[i] = expand(child, q, levels, inLinks, lookup)
		}
		return out
	}
	return v
}

func wants(mode byte, inLinks bool) bool {
	switch mode {
	case '.':
		return !inLinks
	case '~':
		return inLinks
	}
	return true
}

func stripFragment(p string) string {
	if i := strings.IndexByte(p, '#'); i >= 0 {
		return p[:i]
	}
	return p
}
