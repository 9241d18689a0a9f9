package switchsim

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/racktrack/racktrack/providers/snmp/internal/ber"
)

// usmStats sub-identifiers under 1.3.6.1.6.3.15.1.1 (RFC 3414).
const (
	statUnsupportedSecLevels = 1
	statNotInTimeWindows     = 2
	statUnknownUserNames     = 3
	statUnknownEngineIDs     = 4
	statWrongDigests         = 5
	statDecryptionErrors     = 6
)

// usmUser is a user with keys localized to the agent's engine ID.
type usmUser struct {
	User
	newHash func() hash.Hash
	macLen  int
	authKey []byte
	privKey []byte // AES key of 16, 24 or 32 octets
}

func newUSMUser(u User, engineID []byte) (*usmUser, error) {
	uu := &usmUser{User: u}
	authProtos := map[string]struct {
		p      gosnmp.SnmpV3AuthProtocol
		h      func() hash.Hash
		macLen int
	}{
		"MD5": {gosnmp.MD5, md5.New, 12}, "SHA": {gosnmp.SHA, sha1.New, 12},
		"SHA224": {gosnmp.SHA224, sha256.New224, 16}, "SHA256": {gosnmp.SHA256, sha256.New, 24},
		"SHA384": {gosnmp.SHA384, sha512.New384, 32}, "SHA512": {gosnmp.SHA512, sha512.New, 48},
	}
	privProtos := map[string]gosnmp.SnmpV3PrivProtocol{
		"AES": gosnmp.AES, "AES192": gosnmp.AES192, "AES256": gosnmp.AES256,
		"AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
	}
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:  string(engineID),
		UserName:               u.Name,
		AuthenticationProtocol: gosnmp.NoAuth,
		PrivacyProtocol:        gosnmp.NoPriv,
	}
	if u.AuthProtocol != "" {
		ap, ok := authProtos[u.AuthProtocol]
		if !ok {
			return nil, fmt.Errorf("unsupported auth protocol %q", u.AuthProtocol)
		}
		sp.AuthenticationProtocol, sp.AuthenticationPassphrase = ap.p, u.AuthPassword
		uu.newHash, uu.macLen = ap.h, ap.macLen
	}
	if u.PrivProtocol != "" {
		if u.AuthProtocol == "" {
			return nil, fmt.Errorf("privacy needs authentication")
		}
		pp, ok := privProtos[u.PrivProtocol]
		if !ok {
			return nil, fmt.Errorf("unsupported priv protocol %q", u.PrivProtocol)
		}
		sp.PrivacyProtocol, sp.PrivacyPassphrase = pp, u.PrivPassword
	}
	// Key localization (RFC 3414 A.2, RFC 7860, and the AES key
	// extensions) as gosnmp implements it for its own engine.
	if err := sp.InitSecurityKeys(); err != nil {
		return nil, err
	}
	uu.authKey, uu.privKey = sp.SecretKey, sp.PrivacyKey
	return uu, nil
}

func (u *usmUser) mac(msg []byte) []byte {
	m := hmac.New(u.newHash, u.authKey)
	m.Write(msg)
	return m.Sum(nil)[:u.macLen]
}

// offset returns where sub (a subslice of msg) starts inside msg.
func offset(msg, sub []byte) int { return cap(msg) - cap(sub) }

// usmParams is the decoded msgSecurityParameters of a request.
type usmParams struct {
	engineID   []byte
	boots      uint32
	time       uint32
	user       string
	authParams []byte
	privParams []byte
}

func parseUSM(b []byte) (*usmParams, error) {
	seq, _, err := ber.Expect(b, ber.TagSequence)
	if err != nil {
		return nil, err
	}
	p := &usmParams{}
	if p.engineID, seq, err = ber.Expect(seq, ber.TagOctetString); err != nil {
		return nil, err
	}
	for _, dst := range []*uint32{&p.boots, &p.time} {
		var c []byte
		if c, seq, err = ber.Expect(seq, ber.TagInteger); err != nil {
			return nil, err
		}
		n, err := ber.ParseInt(c)
		if err != nil || n < 0 || n > 1<<31-1 {
			return nil, ber.ErrMalformed
		}
		*dst = uint32(n)
	}
	var user []byte
	if user, seq, err = ber.Expect(seq, ber.TagOctetString); err != nil {
		return nil, err
	}
	p.user = string(user)
	if p.authParams, seq, err = ber.Expect(seq, ber.TagOctetString); err != nil {
		return nil, err
	}
	if p.privParams, _, err = ber.Expect(seq, ber.TagOctetString); err != nil {
		return nil, err
	}
	return p, nil
}

func (a *Agent) engineTime() (boots, secs uint32) {
	return 1, uint32(time.Since(a.boot) / time.Second)
}

// handleV3 processes an SNMPv3 message as the authoritative engine.
func (a *Agent) handleV3(msg, body []byte, f Faults) []byte {
	hdr, body, err := ber.Expect(body, ber.TagSequence)
	if err != nil {
		return nil
	}
	var h [2]int64
	for i := range h {
		var c []byte
		if c, hdr, err = ber.Expect(hdr, ber.TagInteger); err != nil {
			return nil
		}
		if h[i], err = ber.ParseInt(c); err != nil {
			return nil
		}
	}
	msgID, maxSize := h[0], h[1]
	flagsC, hdr, err := ber.Expect(hdr, ber.TagOctetString)
	if err != nil || len(flagsC) != 1 {
		return nil
	}
	flags := flagsC[0]
	modelC, _, err := ber.Expect(hdr, ber.TagInteger)
	if err != nil {
		return nil
	}
	if model, err := ber.ParseInt(modelC); err != nil || model != 3 {
		return nil
	}
	authF, privF, reportable := flags&1 != 0, flags&2 != 0, flags&4 != 0
	if privF && !authF {
		return nil
	}
	secC, body, err := ber.Expect(body, ber.TagOctetString)
	if err != nil {
		return nil
	}
	usm, err := parseUSM(secC)
	if err != nil {
		return nil
	}
	// The request-id of a plaintext scoped PDU, for reports.
	reqID := int64(0)
	if !privF {
		if sp, _, err := ber.Expect(body, ber.TagSequence); err == nil {
			if _, rest, err := ber.Expect(sp, ber.TagOctetString); err == nil {
				if _, rest, err = ber.Expect(rest, ber.TagOctetString); err == nil {
					if r, err := parsePDU(rest); err == nil {
						reqID = r.id
					}
				}
			}
		}
	}
	report := func(stat int, user *usmUser) []byte {
		if !reportable {
			return nil
		}
		n := a.stats[stat].Add(1)
		return a.encodeV3(msgID, reqID, user, usm.user, false, pduReport, 0, 0,
			[][]byte{encodeVarbind([]uint32{1, 3, 6, 1, 6, 3, 15, 1, 1, uint32(stat), 0}, Counter32(n))}, nil)
	}
	if !bytes.Equal(usm.engineID, a.engineID) {
		return report(statUnknownEngineIDs, nil)
	}
	user := a.users[usm.user]
	if user == nil {
		return report(statUnknownUserNames, nil)
	}
	if (authF && user.newHash == nil) || (privF && user.privKey == nil) || (!authF && user.newHash != nil) {
		return report(statUnsupportedSecLevels, nil)
	}
	if authF {
		if len(usm.authParams) != user.macLen {
			return report(statWrongDigests, nil)
		}
		cp := append([]byte(nil), msg...)
		off := offset(msg, usm.authParams)
		for i := 0; i < user.macLen; i++ {
			cp[off+i] = 0
		}
		if subtle.ConstantTimeCompare(user.mac(cp), usm.authParams) != 1 {
			return report(statWrongDigests, nil)
		}
		boots, now := a.engineTime()
		diff := int64(now) - int64(usm.time)
		if usm.boots != boots || diff > 150 || diff < -150 {
			// Authenticated report, so the client can trust our clock.
			if !reportable {
				return nil
			}
			n := a.stats[statNotInTimeWindows].Add(1)
			return a.encodeV3(msgID, reqID, user, usm.user, false, pduReport, 0, 0,
				[][]byte{encodeVarbind([]uint32{1, 3, 6, 1, 6, 3, 15, 1, 1, statNotInTimeWindows, 0}, Counter32(n))}, nil)
		}
	}
	scoped := body
	if privF {
		ct, _, err := ber.Expect(body, ber.TagOctetString)
		if err != nil || len(usm.privParams) != 8 {
			return report(statDecryptionErrors, nil)
		}
		pt, err := aesCFB(user.privKey, usm.boots, usm.time, usm.privParams, ct, false)
		if err != nil {
			return report(statDecryptionErrors, nil)
		}
		scoped = pt
	}
	sp, _, err := ber.Expect(scoped, ber.TagSequence)
	if err != nil {
		if privF {
			return report(statDecryptionErrors, nil)
		}
		return nil
	}
	_, rest, err := ber.Expect(sp, ber.TagOctetString) // contextEngineID
	if err != nil {
		return decryptionOrDrop(privF, report)
	}
	ctxName, rest, err := ber.Expect(rest, ber.TagOctetString)
	if err != nil {
		return decryptionOrDrop(privF, report)
	}
	req, err := parsePDU(rest)
	if err != nil {
		return decryptionOrDrop(privF, report)
	}
	limit := maxDatagram
	if maxSize >= 484 && maxSize < int64(limit) {
		limit = int(maxSize)
	}
	pdu := a.process(req, f, !user.ReadOnly, limit-200-len(usm.user))
	if pdu == nil {
		return nil
	}
	return a.encodeV3(msgID, req.id, user, usm.user, privF, 0, 0, 0, nil, &scopedPDU{ctxName: ctxName, pdu: pdu})
}

func decryptionOrDrop(privF bool, report func(int, *usmUser) []byte) []byte {
	if privF {
		return report(statDecryptionErrors, nil)
	}
	return nil
}

type scopedPDU struct {
	ctxName []byte
	pdu     []byte
}

// encodeV3 builds a response or report message. user nil sends it
// noAuthNoPriv; priv encrypts the scoped PDU with the user's key.
func (a *Agent) encodeV3(msgID, reqID int64, user *usmUser, userName string, priv bool, typ byte, status, index int, vbs [][]byte, sp *scopedPDU) []byte {
	var ctxName, pdu []byte
	if sp != nil {
		ctxName, pdu = sp.ctxName, sp.pdu
	} else {
		pdu = encodePDU(typ, reqID, status, index, vbs)
	}
	scoped := ber.AppendTLV(nil, ber.TagOctetString, a.engineID)
	scoped = ber.AppendTLV(scoped, ber.TagOctetString, ctxName)
	scoped = append(scoped, pdu...)
	scoped = ber.AppendTLV(nil, ber.TagSequence, scoped)

	boots, now := a.engineTime()
	flags := byte(0)
	var authPlaceholder, privParams []byte
	if user != nil && user.newHash != nil {
		flags |= 1
		authPlaceholder = make([]byte, user.macLen)
	}
	if priv && user != nil && user.privKey != nil {
		flags |= 2
		privParams = make([]byte, 8)
		binary.BigEndian.PutUint64(privParams, a.salt.Add(1))
		ct, err := aesCFB(user.privKey, boots, now, privParams, scoped, true)
		if err != nil {
			return nil
		}
		scoped = ber.AppendTLV(nil, ber.TagOctetString, ct)
	}
	usm := ber.AppendTLV(nil, ber.TagOctetString, a.engineID)
	usm = ber.AppendTLV(usm, ber.TagInteger, ber.IntContent(int64(boots)))
	usm = ber.AppendTLV(usm, ber.TagInteger, ber.IntContent(int64(now)))
	usm = ber.AppendTLV(usm, ber.TagOctetString, []byte(userName))
	usm = ber.AppendTLV(usm, ber.TagOctetString, authPlaceholder)
	usm = ber.AppendTLV(usm, ber.TagOctetString, privParams)
	usmSeq := ber.AppendTLV(nil, ber.TagSequence, usm)

	hdr := ber.AppendTLV(nil, ber.TagInteger, ber.IntContent(msgID))
	hdr = ber.AppendTLV(hdr, ber.TagInteger, ber.IntContent(maxDatagram))
	hdr = ber.AppendTLV(hdr, ber.TagOctetString, []byte{flags})
	hdr = ber.AppendTLV(hdr, ber.TagInteger, []byte{3})

	inner := ber.AppendTLV(nil, ber.TagInteger, []byte{3})
	inner = ber.AppendTLV(inner, ber.TagSequence, hdr)
	inner = ber.AppendTLV(inner, ber.TagOctetString, usmSeq)
	inner = append(inner, scoped...)
	msg := ber.AppendTLV(nil, ber.TagSequence, inner)
	if flags&1 != 0 {
		// Find the placeholder by parsing what was just built.
		body, _, _ := ber.Expect(msg, ber.TagSequence)
		_, body, _ = ber.Expect(body, ber.TagInteger)
		_, body, _ = ber.Expect(body, ber.TagSequence)
		sec, _, _ := ber.Expect(body, ber.TagOctetString)
		p, err := parseUSM(sec)
		if err != nil {
			return nil
		}
		copy(msg[offset(msg, p.authParams):], user.mac(msg))
	}
	return msg
}

// aesCFB en- or decrypts a scoped PDU (RFC 3826): AES in CFB-128 mode,
// IV = engineBoots || engineTime || salt.
func aesCFB(key []byte, boots, secs uint32, salt, in []byte, encrypt bool) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var iv [16]byte
	binary.BigEndian.PutUint32(iv[0:], boots)
	binary.BigEndian.PutUint32(iv[4:], secs)
	copy(iv[8:], salt)
	out := make([]byte, len(in))
	if encrypt {
		cipher.NewCFBEncrypter(block, iv[:]).XORKeyStream(out, in) //nolint:staticcheck // RFC 3826 mandates CFB
	} else {
		cipher.NewCFBDecrypter(block, iv[:]).XORKeyStream(out, in) //nolint:staticcheck // RFC 3826 mandates CFB
	}
	return out, nil
}
