package publish_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/agent/publish"
	"github.com/racktrack/racktrack/agent/spool"
	"github.com/racktrack/racktrack/internal/secret"
)

// The names the test PKI's server certificate is valid for, besides 127.0.0.1.
const brokerDNSName = "kafka.racktrack.test"

const (
	saslUser     = "agent-7"
	saslPassword = "Brk-pw/7f3c1e9a" // the broker's, and the client's when right
	wrongPW      = "Wrong-pw/0b8d42" // the client's when wrong
)

// testPKI is a CA with one server certificate (127.0.0.1 and brokerDNSName)
// and one client certificate, the CA and client files written to a temp dir.
type testPKI struct {
	caFile, clientCertFile, clientKeyFile string
	caPool                                *x509.CertPool
	server, client                        tls.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "racktrack test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		caFile:         filepath.Join(dir, "ca.pem"),
		clientCertFile: filepath.Join(dir, "agent.pem"),
		clientKeyFile:  filepath.Join(dir, "agent-key.pem"),
		caPool:         x509.NewCertPool(),
	}
	p.caPool.AddCert(caCert)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP, names []string) (tls.Certificate, []byte, []byte) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     names,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c, certPEM, keyPEM
	}
	p.server, _, _ = leaf(2, "kafka", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{brokerDNSName})
	var certPEM, keyPEM []byte
	p.client, certPEM, keyPEM = leaf(3, "agent-7", x509.ExtKeyUsageClientAuth, nil, nil)
	writeFile(t, p.clientCertFile, certPEM)
	writeFile(t, p.clientKeyFile, keyPEM)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// brokerTLS is how the kfake broker terminates connections.
type brokerTLS int

const (
	plaintext brokerTLS = iota
	serverTLS           // server certificate only
	mutualTLS           // and a client certificate signed by the CA is required
)

// broker starts a one-broker kfake cluster with the topic, TLS as given and,
// if mech is set, SASL with one superuser (saslUser, saslPassword).
func broker(t *testing.T, p *testPKI, mode brokerTLS, mech string) []string {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(2, topic)}
	switch mode {
	case serverTLS:
		opts = append(opts, kfake.TLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.server}}))
	case mutualTLS:
		opts = append(opts, kfake.TLS(&tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{p.server},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    p.caPool,
		}))
	}
	if mech != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(mech, saslUser, saslPassword))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// syncBuffer is a log sink that the publisher writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLines decodes the JSON log lines written so far.
func (s *syncBuffer) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(s.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// securedPublisher runs a publisher for cfg over sp, logging JSON at debug
// level into the returned buffer. stop ends Run and closes the writer; it
// also runs at cleanup.
func securedPublisher(t *testing.T, cfg config.KafkaConfig, sp *spool.Spool) (reg *prometheus.Registry, logs *syncBuffer, stop func()) {
	t.Helper()
	reg = prometheus.NewRegistry()
	logs = &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := publish.New(cfg, sp, publish.Options{
		Logger: log, Registerer: reg,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("publish.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("publisher Run: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("publisher Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return reg, logs, stop
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// clientSecurity is what the agent is configured with.
type clientSecurity struct {
	tls      func(p *testPKI) *config.TLSConfig // nil: plaintext
	mech     string                             // "": no SASL
	password string
}

// kafkaConfig builds the agent's Kafka config; the SASL password goes to a
// file, with the trailing newline an editor leaves.
func (cs clientSecurity) kafkaConfig(t *testing.T, p *testPKI, brokers []string) config.KafkaConfig {
	t.Helper()
	cfg := config.KafkaConfig{Brokers: brokers, Topic: topic, Compression: "snappy", WriteTimeout: 3 * time.Second}
	if cs.tls != nil {
		cfg.TLS = cs.tls(p)
	}
	if cs.mech != "" {
		pwFile := filepath.Join(t.TempDir(), "kafka-password")
		writeFile(t, pwFile, []byte(cs.password+"\n"))
		cfg.SASL = &config.SASL{Mechanism: cs.mech, Username: saslUser, Password: secret.Ref{File: pwFile}}
	}
	return cfg
}

// mechanism builds a kafka-go SASL mechanism independently of the
// publisher, for the verifying reader.
func mechanism(t *testing.T, mech, user, pass string) sasl.Mechanism {
	t.Helper()
	var algo scram.Algorithm
	switch mech {
	case "":
		return nil
	case "PLAIN":
		return plain.Mechanism{Username: user, Password: pass}
	case "SCRAM-SHA-256":
		algo = scram.SHA256
	case "SCRAM-SHA-512":
		algo = scram.SHA512
	default:
		t.Fatalf("mechanism %q", mech)
	}
	m, err := scram.Mechanism(algo, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readBack consumes want records from the topic with a consumer-group
// reader secured by tc and mech, and returns them as "key=value". MaxWait
// is short because Close waits for the fetch in flight, which the broker
// holds for up to MaxWait (10 s by default) when there is nothing new.
func readBack(t *testing.T, brokers []string, tc *tls.Config, mech sasl.Mechanism, want int) []string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, GroupID: "security-check", MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		Dialer: &kafka.Dialer{Timeout: 10 * time.Second, TLS: tc, SASLMechanism: mech, ClientID: "security-check"},
	})
	defer r.Close()
	var got []string
	for len(got) < want {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			t.Fatalf("read back after %d of %d messages: %v", len(got), want, err)
		}
		got = append(got, string(m.Key)+"="+string(m.Value))
	}
	return got
}

func wantRecords(from, n int) []string {
	var want []string
	for i := from; i < from+n; i++ {
		want = append(want, fmt.Sprintf("s/t%d=v%d", i%7, i))
	}
	slices.Sort(want)
	return want
}

func caOnly(p *testPKI) *config.TLSConfig { return &config.TLSConfig{CAFile: p.caFile} }

func mutual(p *testPKI) *config.TLSConfig {
	return &config.TLSConfig{CAFile: p.caFile, CertFile: p.clientCertFile, KeyFile: p.clientKeyFile}
}

// assertNoPassword fails if either password shows up in the publisher's log.
func assertNoPassword(t *testing.T, logs *syncBuffer) {
	t.Helper()
	out := logs.String()
	for _, pw := range []string{saslPassword, wrongPW} {
		if strings.Contains(out, pw) {
			t.Errorf("publisher log contains the SASL password %q:\n%s", pw, out)
		}
	}
}

// TestSecureDelivery: with the right TLS material and SASL credentials the
// publisher delivers every spooled record, and a reader secured the same way
// reads exactly those keys and values back.
func TestSecureDelivery(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		name   string
		broker brokerTLS
		mech   string // broker SASL mechanism; the client uses the same
		tls    func(p *testPKI) *config.TLSConfig
		// readerTLS is the verifying reader's TLS (nil: plaintext).
		readerTLS func(p *testPKI) *tls.Config
	}{
		{
			name: "tls ca_file", broker: serverTLS, tls: caOnly,
			readerTLS: func(p *testPKI) *tls.Config { return &tls.Config{RootCAs: p.caPool} },
		},
		{
			name: "tls server_name", broker: serverTLS,
			tls: func(p *testPKI) *config.TLSConfig {
				return &config.TLSConfig{CAFile: p.caFile, ServerName: brokerDNSName}
			},
			readerTLS: func(p *testPKI) *tls.Config { return &tls.Config{RootCAs: p.caPool, ServerName: brokerDNSName} },
		},
		{
			name: "tls insecure_skip_verify", broker: serverTLS,
			tls:       func(*testPKI) *config.TLSConfig { return &config.TLSConfig{InsecureSkipVerify: true} },
			readerTLS: func(p *testPKI) *tls.Config { return &tls.Config{RootCAs: p.caPool} },
		},
		{
			name: "mtls", broker: mutualTLS, tls: mutual,
			readerTLS: func(p *testPKI) *tls.Config {
				return &tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.client}}
			},
		},
		{name: "sasl PLAIN", mech: "PLAIN"},
		{name: "sasl SCRAM-SHA-256", mech: "SCRAM-SHA-256"},
		{name: "sasl SCRAM-SHA-512", mech: "SCRAM-SHA-512"},
		{
			name: "tls + SCRAM-SHA-512", broker: serverTLS, mech: "SCRAM-SHA-512", tls: caOnly,
			readerTLS: func(p *testPKI) *tls.Config { return &tls.Config{RootCAs: p.caPool} },
		},
		{
			name: "mtls + SCRAM-SHA-256", broker: mutualTLS, mech: "SCRAM-SHA-256", tls: mutual,
			readerTLS: func(p *testPKI) *tls.Config {
				return &tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.client}}
			},
		},
	}
	const n = 40
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			brokers := broker(t, p, tc.broker, tc.mech)
			sp := newSpool(t)
			cs := clientSecurity{tls: tc.tls, mech: tc.mech, password: saslPassword}
			reg, logs, stop := securedPublisher(t, cs.kafkaConfig(t, p, brokers), sp)
			appendN(t, sp, 1, n)
			waitFor(t, 10*time.Second, "the records to be acknowledged", func() bool { return drained(sp) })
			stop()

			if got := counter(t, reg, "racktrack_agent_published_records_total"); got != n {
				t.Errorf("published_records_total = %v, want %d", got, n)
			}
			if got := counter(t, reg, "racktrack_agent_kafka_errors_total"); got != 0 {
				t.Errorf("kafka_errors_total = %v, want 0", got)
			}
			var rtls *tls.Config
			if tc.readerTLS != nil {
				rtls = tc.readerTLS(p)
				rtls.MinVersion = tls.VersionTLS12
			}
			got := readBack(t, brokers, rtls, mechanism(t, tc.mech, saslUser, saslPassword), n)
			slices.Sort(got)
			if want := wantRecords(1, n); !slices.Equal(got, want) {
				t.Errorf("topic holds\n%q\nwant\n%q", got, want)
			}
			assertNoPassword(t, logs)
		})
	}
}

// TestSecureRejected: when the broker refuses the connection (untrusted
// certificate, missing client certificate, wrong password) nothing leaves
// the spool, each failed attempt is counted and logged, the error can be
// classified, and the password is in neither the log nor the error.
func TestSecureRejected(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		name   string
		broker brokerTLS
		mech   string
		client clientSecurity
		// classify reports whether the error returned by Flush is of the
		// expected kind.
		classify func(error) bool
	}{
		{
			name: "tls without ca_file (system roots)", broker: serverTLS,
			client:   clientSecurity{tls: func(*testPKI) *config.TLSConfig { return &config.TLSConfig{} }},
			classify: isUnknownAuthority,
		},
		{
			name: "tls server_name not in certificate", broker: serverTLS,
			client: clientSecurity{tls: func(p *testPKI) *config.TLSConfig {
				return &config.TLSConfig{CAFile: p.caFile, ServerName: "other.racktrack.test"}
			}},
			classify: isHostnameError,
		},
		{
			name: "mtls without client certificate", broker: mutualTLS,
			client:   clientSecurity{tls: caOnly},
			classify: isRemoteTLSAlert,
		},
		{
			name: "sasl PLAIN wrong password", mech: "PLAIN",
			client:   clientSecurity{mech: "PLAIN", password: wrongPW},
			classify: isAuthFailure,
		},
		{
			name: "sasl SCRAM-SHA-256 wrong password", mech: "SCRAM-SHA-256",
			client:   clientSecurity{mech: "SCRAM-SHA-256", password: wrongPW},
			classify: isAuthFailure,
		},
		{
			name: "sasl SCRAM-SHA-512 wrong password", mech: "SCRAM-SHA-512",
			client:   clientSecurity{mech: "SCRAM-SHA-512", password: wrongPW},
			classify: isAuthFailure,
		},
		{
			name: "tls + SCRAM-SHA-512 wrong password", broker: serverTLS, mech: "SCRAM-SHA-512",
			client:   clientSecurity{tls: caOnly, mech: "SCRAM-SHA-512", password: wrongPW},
			classify: isAuthFailure,
		},
		{
			name: "tls + SCRAM-SHA-512 without ca_file", broker: serverTLS, mech: "SCRAM-SHA-512",
			client: clientSecurity{
				tls:  func(*testPKI) *config.TLSConfig { return &config.TLSConfig{} },
				mech: "SCRAM-SHA-512", password: saslPassword,
			},
			classify: isUnknownAuthority,
		},
	}
	const n = 25
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			brokers := broker(t, p, tc.broker, tc.mech)
			sp := newSpool(t)
			cfg := tc.client.kafkaConfig(t, p, brokers)
			appendN(t, sp, 1, n) // before the publisher starts, so every batch holds all n
			reg, logs, stop := securedPublisher(t, cfg, sp)
			waitFor(t, 20*time.Second, "two failed produce attempts", func() bool {
				return counter(t, reg, "racktrack_agent_kafka_errors_total") >= 2
			})
			if got := sp.Stats().Records; got != n {
				t.Errorf("spool holds %d records after failed attempts, want all %d", got, n)
			}
			stop()
			if got := sp.Stats().Records; got != n {
				t.Errorf("spool holds %d records after the publisher stopped, want all %d", got, n)
			}
			if got := counter(t, reg, "racktrack_agent_published_records_total"); got != 0 {
				t.Errorf("published_records_total = %v, want 0", got)
			}

			var warns int
			for _, l := range logs.logLines(t) {
				if l["msg"] != "kafka produce failed; records kept in spool" {
					continue
				}
				warns++
				if l["level"] != "WARN" || l["records"] != float64(n) || l["err"] == "" {
					t.Errorf("log line %v: want level WARN, records %d and an err", l, n)
				}
			}
			if warns < 2 {
				t.Errorf("%d produce-failed log lines, want at least 2 (one per counted error):\n%s", warns, logs)
			}
			assertNoPassword(t, logs)

			// One bounded drain gives the error itself to classify.
			fp, err := publish.New(cfg, sp, publish.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fp.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ferr := fp.Flush(ctx)
			if ferr == nil || !tc.classify(ferr) {
				t.Errorf("Flush error %v (%s), not of the expected kind", ferr, errorChain(ferr))
			}
			if ferr != nil && (strings.Contains(ferr.Error(), saslPassword) || strings.Contains(ferr.Error(), wrongPW)) {
				t.Errorf("Flush error contains the SASL password: %v", ferr)
			}
			if got := sp.Stats().Records; got != n {
				t.Errorf("spool holds %d records after a failed Flush, want all %d", got, n)
			}
		})
	}
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

func isHostnameError(err error) bool {
	var he x509.HostnameError
	return errors.As(err, &he)
}

// isRemoteTLSAlert reports a TLS alert sent by the broker, here the
// "certificate required" that ends a handshake without a client certificate.
// crypto/tls reports received alerts as a *net.OpError with Op "remote
// error" around an unexported alert type (tls.AlertError is only for QUIC).
func isRemoteTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// isAuthFailure reports a rejected SASL exchange. kfake answers a wrong
// password by closing the connection, where a real broker sends error code
// SASL_AUTHENTICATION_FAILED; kafka-go reports the one as
// io.ErrUnexpectedEOF and the other as kafka.SASLAuthenticationFailed.
func isAuthFailure(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, kafka.SASLAuthenticationFailed)
}

// errorChain lists the dynamic types along err's Unwrap chain, for failure
// messages.
func errorChain(err error) string {
	var types []string
	for err != nil {
		types = append(types, fmt.Sprintf("%T", err))
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				types = append(types, "["+errorChain(e)+"]")
			}
			break
		}
		err = errors.Unwrap(err)
	}
	return strings.Join(types, " > ")
}
