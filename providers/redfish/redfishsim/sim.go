// Package redfishsim is a Redfish BMC simulator for tests and demos: many
// BMCs, each an HTTPS server on its own loopback address, serving a vendor
// flavoured Redfish tree for one simulated server, with sessions, $expand,
// PATCH and reset actions, DMTF mockup directories and injectable faults.
//
// The simulator generates its own certificate authority at Start and a
// certificate per BMC naming the BMC's IP address, so clients verify TLS
// with CAPEM instead of skipping verification.
package redfishsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
)

// Default credentials, used when Options leaves them empty.
const (
	DefaultUsername = "admin"
	DefaultPassword = "redfish-sim"
)

// Options configure Start.
type Options struct {
	// Servers are the simulated servers, one BMC each.
	Servers []Server
	// Mockups are DMTF mockup directories, one BMC each, served after the
	// Servers' BMCs. A mockup is a directory in the DMTF mockup layout:
	// DIR/redfish/v1/index.json is the service root, one folder per URI.
	Mockups []string
	// FirstIP is the address of the first BMC; the next BMCs take the
	// following addresses. Default 127.0.1.1 (Linux routes all of 127/8 to
	// the loopback interface, so no configuration is needed).
	FirstIP netip.Addr
	// Port is the TCP port every BMC listens on; 0 picks a free port per BMC.
	Port int
	// Username and Password are the BMC credentials (DefaultUsername and
	// DefaultPassword when empty).
	Username string
	Password string
	// Logger receives one debug line per request; nil discards.
	Logger *slog.Logger
}

// Sim is a running set of simulated BMCs. Close stops it.
type Sim struct {
	ca     *authority
	bmcs   []*BMC
	logger *slog.Logger
	// done is closed by Close, ending injected delays early.
	done chan struct{}
	// wg tracks the Serve goroutines; Close waits for them.
	wg sync.WaitGroup
	// handlers counts running ServeHTTP calls (active), so Close can wait
	// for them; idle is signalled when active drops to zero.
	handlers  sync.Mutex
	idle      *sync.Cond
	active    int
	closeOnce sync.Once
	closeErr  error
}

// Start creates the CA, issues a certificate per BMC and starts listening.
// ctx bounds the start-up only; the BMCs serve until Close. On error every
// listener opened so far is closed.
func Start(ctx context.Context, opts Options) (*Sim, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Username == "" {
		opts.Username = DefaultUsername
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	if !opts.FirstIP.IsValid() {
		opts.FirstIP = netip.MustParseAddr("127.0.1.1")
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("redfishsim: port %d out of range", opts.Port)
	}
	ca, err := newAuthority("racktrack redfishsim CA")
	if err != nil {
		return nil, err
	}
	s := &Sim{ca: ca, logger: logger, done: make(chan struct{})}
	s.idle = sync.NewCond(&s.handlers)

	type source struct {
		server *Server
		mockup string
	}
	var sources []source
	for i := range opts.Servers {
		sources = append(sources, source{server: &opts.Servers[i]})
	}
	for _, m := range opts.Mockups {
		sources = append(sources, source{mockup: m})
	}
	ip := opts.FirstIP
	var lc net.ListenConfig
	for i, src := range sources {
		if err := ctx.Err(); err != nil {
			_ = s.Close()
			return nil, err
		}
		if i > 0 {
			ip = ip.Next()
			if !ip.IsValid() {
				_ = s.Close()
				return nil, errors.New("redfishsim: ran out of IP addresses")
			}
		}
		b := &BMC{
			IP:       ip,
			sim:      s,
			username: opts.Username,
			password: opts.Password,
			sessions: map[string]*session{},
		}
		if src.server != nil {
			b.server = src.server.Clone()
			b.Name = b.server.Name
			b.tree = buildTree(&b.server, ip.String())
		} else {
			mt, err := loadMockup(src.mockup)
			if err != nil {
				_ = s.Close()
				return nil, err
			}
			b.mockup = mt
			b.Name = "mockup-" + strconv.Itoa(i+1)
			b.server = mockupServer(mt, b.Name)
		}
		if b.Name == "" {
			b.Name = "bmc-" + strconv.Itoa(i+1)
		}
		cert, err := ca.leaf(ip, b.Name)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		b.cert.Store(cert)
		ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(ip, uint16(opts.Port)).String())
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("redfishsim: listen for %s: %w", b.Name, err)
		}
		b.Addr = ln.Addr().String()
		b.URL = "https://" + b.Addr
		b.srv = &http.Server{
			Handler:           b,
			TLSConfig:         b.tlsConfig(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
			ConnState:         b.trackConn,
			// HTTP/1.1 only, like most BMCs; it also keeps DropConnections exact.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		}
		s.bmcs = append(s.bmcs, b)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// ServeTLS returns http.ErrServerClosed once Close ran.
			if err := b.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("redfishsim: serve", "target", b.Addr, "err", err)
			}
		}()
		logger.Debug("redfishsim: BMC listening", "target", b.Addr, "name", b.Name)
	}
	return s, nil
}

// BMCs returns the simulated BMCs in the order of Options.Servers, then
// Options.Mockups.
func (s *Sim) BMCs() []*BMC { return s.bmcs }

// CAPEM returns the PEM certificate of the simulator's CA, which signed
// every BMC certificate.
func (s *Sim) CAPEM() []byte { return s.ca.pem }

// WriteCAFile writes the CA certificate in PEM to path (mode 0644).
func (s *Sim) WriteCAFile(path string) error {
	if err := os.WriteFile(path, s.ca.pem, 0o644); err != nil {
		return fmt.Errorf("redfishsim: write CA: %w", err)
	}
	return nil
}

// Close stops every BMC: listeners close, requests in flight (including
// injected delays) end, and Close returns once every goroutine the
// simulator started has returned. Close is idempotent.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		var errs []error
		for _, b := range s.bmcs {
			if b.srv == nil {
				continue
			}
			// Close, not Shutdown: a simulator must stop even when clients
			// keep connections open (Shutdown waits for them).
			if err := b.srv.Close(); err != nil {
				errs = append(errs, fmt.Errorf("redfishsim: close %s: %w", b.Addr, err))
			}
		}
		s.wg.Wait()
		// Handlers still running on connections Close just cut finish
		// promptly (delays watch s.done); wait for them.
		s.handlers.Lock()
		for s.active > 0 {
			s.idle.Wait()
		}
		s.handlers.Unlock()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// enter registers a running handler; it fails once Close has begun.
func (s *Sim) enter() bool {
	s.handlers.Lock()
	defer s.handlers.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.active++
	return true
}

func (s *Sim) leave() {
	s.handlers.Lock()
	defer s.handlers.Unlock()
	s.active--
	if s.active == 0 {
		s.idle.Broadcast()
	}
}

// WriteSummary prints one line per BMC (name, URL, serial) to w.
func (s *Sim) WriteSummary(w io.Writer) error {
	for _, b := range s.bmcs {
		srv := b.Server()
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", b.Name, b.URL, srv.SerialNumber, srv.Profile); err != nil {
			return err
		}
	}
	return nil
}
