package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/console"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func startOpenID(t *testing.T, db *store.DB) *env {
	return startWith(t, db, func(o *console.Options) {
		o.OpenID = console.MatrixOpenID{HomeserverURL: o.Auth.(console.MatrixLogin).HomeserverURL, Domain: "example.org"}
	})
}

// openID posts the OpenID sign-in form.
func (c *client) openID(t *testing.T, form url.Values) (int, string) {
	t.Helper()
	_, page := c.get(t, "/login")
	form.Set("csrf", hidden(t, page, "csrf"))
	return c.post(t, "/login/openid", form)
}

func TestOpenIDSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startOpenID(t, db)
		t.Run("a token the homeserver issued signs its user in", func(t *testing.T) {
			c := e.client(t)
			status, page := c.openID(t, url.Values{"matrix_server_name": {"example.org"}, "access_token": {e.hs.IssueOpenIDToken(alice)}})
			if status != 200 || !strings.Contains(page, "Your bots") || !strings.Contains(page, alice) {
				t.Fatalf("%d\n%s", status, page)
			}
			if status, _ := c.get(t, "/b/pizza/"); status != 200 {
				t.Fatalf("inbox after OpenID sign-in: %d", status)
			}
		})
		t.Run("the whole request_token answer pasted", func(t *testing.T) {
			c := e.client(t)
			answer := `{"access_token":"` + e.hs.IssueOpenIDToken(bob) + `","token_type":"Bearer","matrix_server_name":"example.org","expires_in":3600}`
			if status, page := c.openID(t, url.Values{"matrix_server_name": {answer}}); status != 200 || !strings.Contains(page, bob) {
				t.Fatalf("%d\n%s", status, page)
			}
		})
		t.Run("a forged token", func(t *testing.T) {
			status, page := e.client(t).openID(t, url.Values{"matrix_server_name": {"example.org"}, "access_token": {"oid_madeup"}})
			if status != http.StatusUnauthorized || !strings.Contains(page, "does not know that token") {
				t.Fatalf("%d\n%s", status, page)
			}
		})
		t.Run("an expired token", func(t *testing.T) {
			tok := e.hs.IssueOpenIDToken(alice)
			e.hs.ExpireOpenIDTokens()
			if status, _ := e.client(t).openID(t, url.Values{"matrix_server_name": {"example.org"}, "access_token": {tok}}); status != http.StatusUnauthorized {
				t.Fatalf("expired token: %d", status)
			}
		})
		t.Run("a server with no staff is not asked", func(t *testing.T) {
			status, page := e.client(t).openID(t, url.Values{"matrix_server_name": {"127.0.0.1:1"}, "access_token": {"x"}})
			if status != http.StatusForbidden || !strings.Contains(page, "No bot here has staff on 127.0.0.1:1") {
				t.Fatalf("%d\n%s", status, page)
			}
		})
		t.Run("a user who is not staff", func(t *testing.T) {
			status, page := e.client(t).openID(t, url.Values{"matrix_server_name": {"example.org"}, "access_token": {e.hs.IssueOpenIDToken(dave)}})
			if status != http.StatusForbidden || !strings.Contains(page, "not staff of any bot") {
				t.Fatalf("%d\n%s", status, page)
			}
		})
		t.Run("without the form's token", func(t *testing.T) {
			c := e.client(t)
			c.get(t, "/login")
			if status, _ := c.post(t, "/login/openid", url.Values{"csrf": {"forged"}, "matrix_server_name": {"example.org"},
				"access_token": {e.hs.IssueOpenIDToken(alice)}}); status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", status)
			}
		})
		if n := count(t, db, `SELECT count(*) FROM console_sessions`); n != 2 {
			t.Fatalf("%d sessions, want the 2 good sign-ins", n)
		}
	})
}

// A homeserver that vouches for a user of another server is not believed.
func TestOpenIDUserMustBeOnTheServerAsked(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_matrix/federation/v1/openid/userinfo" || r.URL.Query().Get("access_token") != "tok" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"sub":"@admin:other.org"}`))
	}))
	defer hs.Close()
	v := console.MatrixOpenID{HomeserverURL: hs.URL, Domain: "example.org"}
	if uid, err := v.Verify(context.Background(), "example.org", "tok"); err == nil || uid != "" {
		t.Fatalf("verified %q, err %v", uid, err)
	}
}
