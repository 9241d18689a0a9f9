package snmp

// counterState extends 32-bit interface counters to 64 bits across polls
// and notices discontinuities. A Counter32 that reads lower than on the
// previous poll wrapped (2^32 is added to its running high part) unless
// the agent restarted (sysUpTime went back) or the interface declared a
// discontinuity (ifCounterDiscontinuityTime changed): then the count
// starts again from the raw value. Counter64 values pass through; one
// going back counts as a reset.
type counterState struct {
	uptime   uint64
	seen     bool
	counters map[counterKey]*counterHist
	discont  map[int32]uint64
}

type counterKey struct {
	ifIndex int32
	name    string
}

type counterHist struct {
	last uint64
	high uint64
}

func newCounterState() *counterState {
	return &counterState{counters: map[counterKey]*counterHist{}, discont: map[int32]uint64{}}
}

// counterPass is one poll's view of the history: whether the agent
// restarted since the last poll, and the wraps and resets seen.
type counterPass struct {
	st        *counterState
	restarted bool
	wraps     int
	resets    int
	live      map[counterKey]bool
}

// begin starts a poll with the agent's sysUpTime (centiseconds).
func (c *counterState) begin(uptime uint64, haveUptime bool) *counterPass {
	pass := &counterPass{st: c, live: map[counterKey]bool{}}
	if haveUptime {
		if c.seen && uptime < c.uptime {
			pass.restarted = true
		}
		c.uptime, c.seen = uptime, true
	}
	return pass
}

// discontinuity records ifCounterDiscontinuityTime for an interface and
// reports whether it changed since the last poll.
func (p *counterPass) discontinuity(ifIndex int32, t uint64) bool {
	old, ok := p.st.discont[ifIndex]
	p.st.discont[ifIndex] = t
	return ok && old != t
}

// counter32 returns the 64-bit extension of a 32-bit counter reading.
func (p *counterPass) counter32(ifIndex int32, name string, raw uint64, reset bool) uint64 {
	k := counterKey{ifIndex, name}
	p.live[k] = true
	h, ok := p.st.counters[k]
	if !ok {
		p.st.counters[k] = &counterHist{last: raw}
		return raw
	}
	switch {
	case reset || p.restarted:
		p.resets++
		h.high = 0
	case raw < h.last:
		h.high += 1 << 32
		p.wraps++
	}
	h.last = raw
	return h.high + raw
}

// counter64 passes a 64-bit reading through, counting a decrease as a reset.
func (p *counterPass) counter64(ifIndex int32, name string, raw uint64) uint64 {
	k := counterKey{ifIndex, name}
	p.live[k] = true
	h, ok := p.st.counters[k]
	if !ok {
		p.st.counters[k] = &counterHist{last: raw}
		return raw
	}
	if raw < h.last {
		p.resets++
	}
	h.last, h.high = raw, 0
	return raw
}

// end drops history of interfaces no longer present.
func (p *counterPass) end() {
	for k := range p.st.counters {
		if !p.live[k] {
			delete(p.st.counters, k)
		}
	}
}
