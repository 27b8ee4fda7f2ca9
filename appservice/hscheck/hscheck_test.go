package hscheck_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/appservice/hscheck"
)

const token = "as-token-0123456789abcdef0123456789abcdef"

// homeserver answers like Synapse and Dendrite do for the calls hscheck
// makes; serverName is its users' domain.
func homeserver(serverName string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_matrix/client/versions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"versions":["r0.6.1","v1.1","v1.2"]}`))
	})
	mux.HandleFunc("GET /_matrix/client/v3/account/whoami", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}`))
			return
		}
		user := r.URL.Query().Get("user_id")
		switch {
		case user == "":
			user = "@bizbots:" + serverName
		case user != "@pizza:"+serverName:
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"Application service has not registered this user"}`))
			return
		}
		_, _ = w.Write([]byte(`{"user_id":"` + user + `"}`))
	})
	return mux
}

func TestAllGood(t *testing.T) {
	srv := httptest.NewServer(homeserver("example.org"))
	defer srv.Close()
	c := &hscheck.Checker{URL: srv.URL, Domain: "example.org", ASToken: token}
	ctx := context.Background()
	if f := c.Homeserver(ctx); f.Level != hscheck.OK {
		t.Errorf("homeserver: %+v", f)
	}
	tok, dom := c.Identity(ctx)
	if tok.Level != hscheck.OK || dom.Level != hscheck.OK {
		t.Errorf("identity: %+v %+v", tok, dom)
	}
	if err := c.Preflight(ctx); err != nil {
		t.Errorf("preflight: %v", err)
	}
	if f := c.Bot(ctx, "@pizza:example.org"); f.Level != hscheck.OK {
		t.Errorf("registered bot: %+v", f)
	}
	if f := c.Bot(ctx, "@taxi:example.org"); f.Level != hscheck.Warn || !strings.Contains(f.Fix, "registers it at start") {
		t.Errorf("unregistered bot: %+v", f)
	}
}

// The three mistakes that used to show up as a 401 on a display name, an
// endless "HTTP 501" or a false "bot users registered".
func TestMisconfigurations(t *testing.T) {
	notMatrix := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotImplemented)
		_, _ = w.Write([]byte("<html>Not Implemented</html>"))
	}))
	defer notMatrix.Close()
	real := httptest.NewServer(homeserver("real.example"))
	defer real.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name      string
		c         hscheck.Checker
		misconfig bool
		want      []string
	}{
		{"url is not a homeserver", hscheck.Checker{URL: notMatrix.URL, Domain: "real.example", ASToken: token}, true,
			[]string{"is not a Matrix homeserver", "HTTP 501", "set homeserver.url"}},
		{"stale as_token", hscheck.Checker{URL: real.URL, Domain: "real.example", ASToken: "stale"}, true,
			[]string{"does not know appservice.as_token", "M_UNKNOWN_TOKEN", "restart the homeserver"}},
		{"wrong domain", hscheck.Checker{URL: real.URL, Domain: "example.org", ASToken: token}, true,
			[]string{`homeserver.domain is "example.org"`, `@…:real.example`, `set homeserver.domain: "real.example"`}},
		{"homeserver down", hscheck.Checker{URL: closed, Domain: "real.example", ASToken: token}, false,
			[]string{"cannot reach " + closed, "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Preflight(context.Background())
			if err == nil {
				t.Fatal("preflight passed")
			}
			if errors.Is(err, hscheck.ErrMisconfigured) != tt.misconfig {
				t.Errorf("errors.Is(ErrMisconfigured) = %v, want %v: %v", !tt.misconfig, tt.misconfig, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestPing(t *testing.T) {
	answers := map[string]func(w http.ResponseWriter){
		"bizbots": func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"duration_ms":12}`)) },
		"unreachable": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"errcode":"M_CONNECTION_FAILED","error":"connection refused"}`))
		},
		"badtoken": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"errcode":"M_BAD_STATUS","error":"403"}`))
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		parts := strings.Split(r.URL.Path, "/")
		if a, ok := answers[parts[len(parts)-2]]; ok && strings.HasSuffix(r.URL.Path, "/ping") {
			a(w)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`))
	}))
	defer srv.Close()
	c := &hscheck.Checker{URL: srv.URL, Domain: "example.org", ASToken: token}
	for id, want := range map[string]struct {
		level hscheck.Level
		text  string
	}{
		"bizbots":     {hscheck.OK, "12 ms"},
		"unreachable": {hscheck.Fail, "cannot reach appservice.url"},
		"badtoken":    {hscheck.Fail, "hs_token differs"},
		"old":         {hscheck.Warn, "does not support the appservice ping"},
	} {
		f := c.Ping(context.Background(), id)
		if f.Level != want.level || !strings.Contains(f.Detail, want.text) {
			t.Errorf("%s: %+v, want level %d and %q", id, f, want.level, want.text)
		}
	}
}
