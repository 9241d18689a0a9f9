package redfish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"syscall"

	"github.com/stmcginnis/gofish/schemas"

	"github.com/racktrack/racktrack/providers"
)

// classify maps an error from a request to the kind an operator acts on.
// Only typed errors are inspected (errors.As / errors.Is), never text.
func classify(err error) providers.ErrorKind {
	var rf *schemas.Error
	if errors.As(err, &rf) {
		switch rf.HTTPReturnedStatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return providers.KindAuth
		case http.StatusNotImplemented:
			return providers.KindUnsupported
		}
		return providers.KindHTTP
	}
	var (
		de      *decodeError
		syn     *json.SyntaxError
		typ     *json.UnmarshalTypeError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		record  tls.RecordHeaderError
		alert   tls.AlertError
		netErr  net.Error
		unsup   *unsupportedError
	)
	switch {
	case errors.As(err, &unsup), errors.Is(err, providers.ErrUnsupported):
		return providers.KindUnsupported
	case errors.As(err, &de), errors.As(err, &syn), errors.As(err, &typ):
		return providers.KindDecode
	case errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &record), errors.As(err, &alert):
		return providers.KindTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// Canceled: the poll was abandoned (agent stopping) before the
		// BMC answered; for the operator that is a missing answer.
		return providers.KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ECONNRESET):
		return providers.KindRefused
	case errors.As(err, &netErr) && netErr.Timeout():
		return providers.KindTimeout
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return providers.KindRefused
	}
	return providers.KindProtocol
}

// unsupportedError is an operation the BMC does not offer (no such
// action, value not in AllowableValues).
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }

// targetError wraps err as a *providers.TargetError for this provider,
// taking the operation from the innermost *opError.
func (p *Provider) targetError(err error, fallbackOp string) *providers.TargetError {
	var te *providers.TargetError
	if errors.As(err, &te) {
		return te
	}
	op := fallbackOp
	inner := err
	var oe *opError
	if errors.As(err, &oe) {
		op, inner = oe.Op, oe.Err
	}
	return &providers.TargetError{
		Provider:  "redfish",
		Target:    p.target,
		Operation: op,
		Kind:      classify(err),
		Err:       inner,
	}
}
