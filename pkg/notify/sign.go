package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader carries the body's signature when a secret is set.
const SignatureHeader = "X-Bluegreen-Signature-256"

// Sign returns the value of SignatureHeader for body: "sha256=" and the
// lowercase hex HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header is the signature of body under secret,
// comparing in constant time: what a receiver written in Go calls on the
// raw body before decoding it.
func Verify(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	mac, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	want := hmac.New(sha256.New, secret)
	want.Write(body)
	return hmac.Equal(mac, want.Sum(nil))
}
