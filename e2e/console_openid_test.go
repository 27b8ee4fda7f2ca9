package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/bizbots/bizbots/console"
	"github.com/bizbots/bizbots/e2e/harness"
)

// The console's OpenID sign-in against a real homeserver: a token Dendrite
// issued (request_token) is verified with Dendrite's openid/userinfo at
// its client address and names the user; a made-up one is refused.
func TestConsoleOpenIDWithDendrite(t *testing.T) {
	d := harness.Start(t, harness.Options{Federation: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.RegisterUser(ctx, "staffer", "staffer-password", false); err != nil {
		t.Fatal(err)
	}
	u, err := d.Login(ctx, "staffer", "staffer-password")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		Server      string `json:"matrix_server_name"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := d.Do(ctx, http.MethodPost, "/_matrix/client/v3/user/"+url.PathEscape(u.UserID)+"/openid/request_token", u.AccessToken, map[string]any{}, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Server != d.ServerName || tok.AccessToken == "" || tok.ExpiresIn <= 0 {
		t.Fatalf("request_token answered %+v", tok)
	}
	v := console.MatrixOpenID{HomeserverURL: d.URL, Domain: d.ServerName}
	got, err := v.Verify(ctx, tok.Server, tok.AccessToken)
	if err != nil || got.String() != u.UserID {
		t.Fatalf("verified %q, %v; want %s", got, err, u.UserID)
	}
	if got, err := v.Verify(ctx, tok.Server, "made-up-token"); !errors.Is(err, console.ErrBadToken) {
		t.Fatalf("a made-up token: %q, %v; want ErrBadToken", got, err)
	}
}
