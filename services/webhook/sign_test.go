package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/services/webhook"
)

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signed(t *testing.T, secrets []string, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	sig, err := webhook.Sign(secrets, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestSignatures(t *testing.T) {
	secret, other := mustSecret(t), mustSecret(t)
	body := []byte(`{"type":"message"}`)
	now := time.Now()
	good := signed(t, []string{secret}, "msg_1", now, body)
	if err := webhook.Verify(secret, good, body, now, webhook.DefaultTolerance); err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
	if err := webhook.Verify(other, good, body, now, webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
		t.Fatalf("wrong secret: want ErrBadSignature, got %v", err)
	}
	if err := webhook.Verify(secret, good, []byte(`{"type":"messagE"}`), now, webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
		t.Fatalf("tampered body: want ErrBadSignature, got %v", err)
	}
	stale := signed(t, []string{secret}, "msg_1", now.Add(-10*time.Minute), body)
	if err := webhook.Verify(secret, stale, body, now, webhook.DefaultTolerance); !errors.Is(err, webhook.ErrStale) {
		t.Fatalf("stale timestamp: want ErrStale, got %v", err)
	}
	// A replay with a fresh timestamp but the old signature fails too.
	replay := good.Clone()
	replay.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Add(time.Minute).Unix(), 10))
	if err := webhook.Verify(secret, replay, body, now, webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
		t.Fatalf("re-stamped replay: want ErrBadSignature, got %v", err)
	}
	if err := webhook.Verify(secret, http.Header{}, body, now, webhook.DefaultTolerance); !errors.Is(err, webhook.ErrMissingHeaders) {
		t.Fatalf("no headers: want ErrMissingHeaders, got %v", err)
	}
	// While rotating, both secrets sign; a receiver holding either accepts.
	rotated := signed(t, []string{other, secret}, "msg_2", now, body)
	if n := len(strings.Fields(rotated.Get(webhook.HeaderSignature))); n != 2 {
		t.Fatalf("rotation header has %d signatures, want 2", n)
	}
	for _, s := range []string{secret, other} {
		if err := webhook.Verify(s, rotated, body, now, webhook.DefaultTolerance); err != nil {
			t.Fatalf("rotated signature refused for one of the secrets: %v", err)
		}
	}
}

// The signature is the documented one, so a business can check it with
// any HMAC library: a fixed vector.
func TestSignatureVector(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sig, err := webhook.Sign([]string{secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
}

func TestSecretsChecked(t *testing.T) {
	for _, s := range []string{"", "secret", "whsec_!!!", "whsec_c2hvcnQ="} {
		if webhook.CheckSecret(s) == nil {
			t.Errorf("secret %q accepted", s)
		}
	}
}
