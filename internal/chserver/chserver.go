// Package chserver runs a private clickhouse-server child process in a directory
// of its own, listening on free loopback ports.
//
// It is used by tests (through internal/testenv) and by the `racktrack demo`
// command. It knows about the process only: connecting to the server is the
// caller's business (native protocol on [Server.Addr]).
//
// The configuration written is the minimal one verified against Debian's
// clickhouse-server 18.16 and accepted by current ClickHouse releases.
package chserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is returned by [Start] when no clickhouse-server binary is
// found in PATH. Its text tells the reader how to install one.
var ErrNotInstalled = errors.New("clickhouse-server not found in PATH: run 'make setup'")

// Binary is the name of the executable looked up in PATH.
const Binary = "clickhouse-server"

const (
	// readyTimeout bounds how long one start waits for /ping to answer when
	// the caller's context has no earlier deadline.
	readyTimeout = 30 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// portAttempts is how many times Start picks fresh ports when the ones
	// it picked were taken before the server could bind them.
	portAttempts = 4
	// tailBytes is how much of the server's error output an error carries.
	tailBytes = 2048
)

// Options configure [Start].
type Options struct {
	// Dir holds the configuration, data and logs. It is created if missing
	// and is required. Reusing a directory reuses its data.
	Dir string
	// Logger receives lifecycle events. Nil discards them.
	Logger *slog.Logger
	// Stdout, when set, receives the child's stdout and stderr, and the server
	// is configured to copy its log to the console. Nil discards both; the
	// log files under Dir/log are written either way.
	Stdout io.Writer
}

// Server is a clickhouse-server child process bound to fixed loopback ports
// and a fixed directory. The process can be stopped and started again on the
// same ports and data (see [Server.Stop], [Server.Kill], [Server.Start]), which
// is how tests simulate a ClickHouse outage.
//
// The methods are safe for concurrent use.
type Server struct {
	dir      string
	log      *slog.Logger
	stdout   io.Writer
	tcpPort  int
	httpPort int
	iPort    int // interserver_http_port

	mu   sync.Mutex // serialises Start, Stop and Kill
	proc *process   // nil while stopped
}

// process is one run of the child. done is closed once Wait has returned; err
// is Wait's result and is read only after done is closed.
type process struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	stderr *tailWriter
	// logOffset is the error log's size before the child started, so only
	// what this run wrote is reported.
	logOffset int64
}

// Start writes config.xml and users.xml into opts.Dir, starts clickhouse-server
// on free loopback ports and returns once the server answers /ping.
//
// ctx bounds the start only; the process runs until [Server.Stop] or
// [Server.Kill], or until the calling process dies (the child gets
// SIGKILL through Pdeathsig). The caller must call Stop.
//
// Start fails with an error wrapping [ErrNotInstalled] when the binary is not
// in PATH. If the server exits before it is ready, the error carries the tail
// of its error log.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("chserver: start: Options.Dir is required")
	}
	if _, err := exec.LookPath(Binary); err != nil {
		return nil, fmt.Errorf("chserver: start: %w", ErrNotInstalled)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("chserver: start: resolve dir %q: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "log"), 0o755); err != nil {
		return nil, fmt.Errorf("chserver: start: create dir: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var stdout io.Writer
	if opts.Stdout != nil {
		stdout = &lockedWriter{w: opts.Stdout}
	}

	var lastErr error
	for attempt := 1; attempt <= portAttempts; attempt++ {
		ports, err := freePorts(3)
		if err != nil {
			return nil, fmt.Errorf("chserver: start: %w", err)
		}
		s := &Server{
			dir:      dir,
			log:      logger,
			stdout:   stdout,
			tcpPort:  ports[0],
			httpPort: ports[1],
			iPort:    ports[2],
		}
		if err := s.writeConfig(opts.Stdout != nil); err != nil {
			return nil, fmt.Errorf("chserver: start: %w", err)
		}
		err = s.Start(ctx)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
		logger.Debug("clickhouse-server port taken, picking new ports", "attempt", attempt, "err", err)
	}
	return nil, lastErr
}

// Addr returns the native-protocol address, "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tcpPort)) }

// HTTPAddr returns the HTTP interface address, "127.0.0.1:port".
func (s *Server) HTTPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort)) }

// Dir returns the server's absolute directory.
func (s *Server) Dir() string { return s.dir }

// PID returns the process id of the running child, or 0 while stopped.
// The child leads its own process group.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Running reports whether the child process is running (it may have exited on
// its own since; Stop and Start account for that).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.done:
		return false
	default:
		return true
	}
}

// Start starts the server again after [Server.Stop] or [Server.Kill], on the
// same ports and the same directory, so data written before survives. It
// returns once the server answers /ping. It does nothing if the server is
// running. ctx bounds the start only.
//
// It fails if another process took one of the ports meanwhile.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		select {
		case <-s.proc.done:
			// Exited on its own (crashed or was killed from outside).
			s.log.Warn("clickhouse-server had exited, starting it again", "pid", s.proc.cmd.Process.Pid, "err", s.proc.err)
			s.proc = nil
		default:
			return nil
		}
	}
	started := time.Now()
	p, err := s.spawn()
	if err != nil {
		return fmt.Errorf("chserver %s: %w", s.dir, err)
	}
	if err := s.waitReady(ctx, p); err != nil {
		s.terminate(p, 0)
		return fmt.Errorf("chserver %s: %w", s.dir, err)
	}
	s.proc = p
	s.log.Info("clickhouse-server started", "pid", p.cmd.Process.Pid, "addr", s.Addr(),
		"http_addr", s.HTTPAddr(), "dir", s.dir, "elapsed", time.Since(started))
	return nil
}

// Stop stops the server gracefully: SIGTERM, then SIGKILL if it has not exited
// within 10 s. It returns after the process has exited. Stop is idempotent; the
// server can be started again with [Server.Start].
//
// The error reports an exit other than a clean one after SIGTERM.
func (s *Server) Stop() error {
	return s.halt(stopTimeout)
}

// Kill stops the server abruptly with SIGKILL, as a crash would, and returns
// after the process has exited. Kill is idempotent; the server can be started
// again with [Server.Start].
func (s *Server) Kill() error {
	return s.halt(0)
}

// Restart stops the server gracefully and starts it again on the same ports
// and directory: [Server.Stop] followed by [Server.Start].
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start(ctx)
}

func (s *Server) halt(grace time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	err := s.terminate(p, grace)
	s.log.Info("clickhouse-server stopped", "pid", p.cmd.Process.Pid, "dir", s.dir, "graceful", grace > 0)
	if err != nil {
		return fmt.Errorf("chserver %s: stop: %w", s.dir, err)
	}
	return nil
}

// terminate signals p's process group and waits for p to exit. With grace 0 it
// sends SIGKILL at once. It returns the exit error unless the exit was the
// expected result of our signal.
func (s *Server) terminate(p *process, grace time.Duration) error {
	pgid := -p.cmd.Process.Pid
	select {
	case <-p.done:
		// Exited on its own before we asked.
		if p.err != nil {
			return fmt.Errorf("exited unexpectedly: %w%s", p.err, s.errTail(p, 0))
		}
		return nil
	default:
	}
	if grace > 0 {
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-p.done:
			return p.err // nil on a clean shutdown
		case <-timer.C:
			s.log.Warn("clickhouse-server ignored SIGTERM, killing", "pid", p.cmd.Process.Pid, "grace", grace)
		}
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	<-p.done
	return nil
}

// spawn starts the child and the goroutine that waits for it.
func (s *Server) spawn() (*process, error) {
	// Measured before the start: a child that fails fast may have written
	// its error before anyone looks.
	logOffset := fileSize(s.errLogPath())
	cmd := exec.Command(Binary, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	// Own process group so signals reach any helper the server forks, and
	// SIGKILL when the thread that started us dies. Go does not retire OS
	// threads of unlocked goroutines, so in practice this fires when the
	// calling process exits, including after a test binary panics.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr := &tailWriter{max: tailBytes}
	if s.stdout != nil {
		cmd.Stdout = s.stdout
		cmd.Stderr = io.MultiWriter(s.stdout, stderr)
	} else {
		cmd.Stderr = stderr
	}
	// Wait must not hang on output copying if a grandchild kept a pipe open.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", Binary, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), stderr: stderr, logOffset: logOffset}
	// Owned by the process value: it ends when the child exits, which
	// terminate guarantees before the process is dropped.
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// errPortTaken marks a start that failed because a port was in use.
var errPortTaken = errors.New("port already in use")

// waitReady polls /ping until it answers "Ok.", the child exits, or the
// deadline passes.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	errLogOffset := p.logOffset
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	url := "http://" + s.HTTPAddr() + "/ping"
	delay := 10 * time.Millisecond
	var lastErr error
	for {
		ok, err := ping(ctx, client, url)
		if ok {
			return nil
		}
		lastErr = err
		timer := time.NewTimer(delay)
		select {
		case <-p.done:
			timer.Stop()
			tail := s.errTail(p, errLogOffset)
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("%s exited before ready: %w: %v%s", Binary, errPortTaken, p.err, tail)
			}
			return fmt.Errorf("%s exited before ready: %w%s", Binary, p.err, tail)
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("wait for %s: %w (last: %v)%s", url, ctx.Err(), lastErr, s.errTail(p, errLogOffset))
		case <-timer.C:
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

func ping(ctx context.Context, client *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "Ok." {
		return false, fmt.Errorf("GET %s: %s: %q", url, resp.Status, body)
	}
	return true, nil
}

func (s *Server) errLogPath() string { return filepath.Join(s.dir, "log", "clickhouse-server.err.log") }

// errTail returns the end of the error log written since offset, and of the
// child's stderr, formatted to be appended to an error message.
func (s *Server) errTail(p *process, offset int64) string {
	var b strings.Builder
	if tail := readTail(s.errLogPath(), offset, tailBytes); tail != "" {
		fmt.Fprintf(&b, "\nerror log %s:\n%s", s.errLogPath(), tail)
	}
	if tail := strings.TrimSpace(p.stderr.String()); tail != "" {
		fmt.Fprintf(&b, "\nstderr:\n%s", tail)
	}
	return b.String()
}

// readTail returns at most n trailing bytes of path from offset on, or "" if
// the file cannot be read.
func readTail(path string, offset, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil || end <= offset {
		return ""
	}
	start := max(offset, end-n)
	buf := make([]byte, end-start)
	if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return strings.TrimSpace(string(buf))
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// freePorts returns n distinct loopback ports that were free a moment ago. The
// listeners are held together so the kernel cannot hand out one port twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// lockedWriter serialises writes from the child's stdout and stderr copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
