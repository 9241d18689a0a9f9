package redfish

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Redfish provider's Prometheus metrics. One Metrics is
// shared by every Redfish target of an agent, so the series carry no
// per-target labels (per-target state travels as TargetStatus
// observations). A nil *Metrics records nothing.
type Metrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	polls           *prometheus.CounterVec
	pollDuration    prometheus.Histogram
	sessions        prometheus.Counter
	relogins        prometheus.Counter
	retries         prometheus.Counter
	logouts         *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (when reg is
// not nil). It panics if they are already registered on reg, like
// prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_redfish_requests_total",
			Help: "HTTP requests sent to BMCs, by method and status code (\"error\" when no response).",
		}, []string{"method", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "racktrack_redfish_request_duration_seconds",
			Help:    "Time from sending a request to a BMC to reading the whole response.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_redfish_polls_total",
			Help: "Polls of BMCs by result: complete, partial, or the error kind.",
		}, []string{"result"}),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "racktrack_redfish_poll_duration_seconds",
			Help:    "Duration of one full poll of one BMC.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_redfish_sessions_created_total",
			Help: "Redfish sessions created (logins).",
		}),
		relogins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_redfish_relogins_total",
			Help: "Logins repeated because a BMC rejected a session token.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_redfish_retries_total",
			Help: "Requests retried after 503/429 or a dropped connection.",
		}),
		logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_redfish_logouts_total",
			Help: "Session logouts at close, by result (ok, error).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.requestDuration, m.polls, m.pollDuration, m.sessions, m.relogins, m.retries, m.logouts)
	}
	return m
}

func (m *Metrics) request(method, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(method, code).Inc()
	m.requestDuration.WithLabelValues(method).Observe(d.Seconds())
}

func (m *Metrics) poll(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.polls.WithLabelValues(result).Inc()
	m.pollDuration.Observe(d.Seconds())
}

func (m *Metrics) session() {
	if m != nil {
		m.sessions.Inc()
	}
}

func (m *Metrics) relogin() {
	if m != nil {
		m.relogins.Inc()
	}
}

func (m *Metrics) retry() {
	if m != nil {
		m.retries.Inc()
	}
}

func (m *Metrics) logout(ok bool) {
	if m == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "error"
	}
	m.logouts.WithLabelValues(r).Inc()
}
