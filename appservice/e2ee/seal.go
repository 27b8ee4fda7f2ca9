package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealPrefix versions the sealed form of the secrets kept in bb_meta.
const sealPrefix = "sealed1:"

// sealKey is the AES-256 key for secrets bizbots keeps beside the crypto
// store (the bots' cross-signing keys and passwords): derived from the
// pickle key, so whoever can read the Olm state can read these and no one
// else.
func (c *Crypto) sealKey() []byte {
	m := hmac.New(sha256.New, c.opts.PickleKey)
	m.Write([]byte("bizbots sealed secrets"))
	return m.Sum(nil)
}

// seal encrypts plain with AES-GCM under the seal key, bound to name (the
// bb_meta key), so a sealed value moved to another key does not open.
func (c *Crypto) seal(name string, plain []byte) (string, error) {
	aead, err := newAEAD(c.sealKey())
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, plain, []byte(name))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// errUnseal means a sealed secret does not open: another pickle key (the
// as_token or encryption.pickle_key changed) or a damaged value.
var errUnseal = errors.New("cannot decrypt the stored secret: was the pickle key (encryption.pickle_key, or else the as_token) changed?")

func (c *Crypto) unseal(name, sealed string) ([]byte, error) {
	b64, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, errUnseal
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errUnseal
	}
	aead, err := newAEAD(c.sealKey())
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize() {
		return nil, errUnseal
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(name))
	if err != nil {
		return nil, errUnseal
	}
	return plain, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return cipher.NewGCM(block)
}
