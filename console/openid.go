package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.mau.fi/util/exhttp"
	"maunium.net/go/mautrix/federation"
	"maunium.net/go/mautrix/id"
)

// OpenIDVerifier learns who an OpenID token (from POST
// /_matrix/client/v3/user/{userId}/openid/request_token) belongs to by
// asking the homeserver that issued it. MatrixOpenID is the real one.
type OpenIDVerifier interface {
	Verify(ctx context.Context, serverName, token string) (id.UserID, error)
}

// ErrBadToken means the homeserver does not know the OpenID token: it is
// expired, already used up or made up.
var ErrBadToken = errors.New("the homeserver does not know this OpenID token")

// MatrixOpenID verifies OpenID tokens with the issuing homeserver's
// /_matrix/federation/v1/openid/userinfo. The configured homeserver
// (Domain) is asked at HomeserverURL first, where Dendrite and a Synapse
// with the openid resource on its client listener answer; any other
// server, or that one when its client address does not serve the
// endpoint, is found by Matrix server discovery (.well-known, SRV, 8448).
type MatrixOpenID struct {
	HomeserverURL string
	Domain        string
	Client        *http.Client
	// Federation asks other servers; nil builds one with mautrix's
	// defaults (which refuse private addresses).
	Federation *federation.Client
}

// Verify implements OpenIDVerifier. The user id is the homeserver's
// answer, and must be on serverName.
func (m MatrixOpenID) Verify(ctx context.Context, serverName, token string) (id.UserID, error) {
	var user id.UserID
	var err error
	direct := serverName == m.Domain && m.HomeserverURL != ""
	if direct {
		user, err = m.direct(ctx, token)
	}
	if !direct || errors.Is(err, errNoEndpoint) {
		fed := m.Federation
		if fed == nil {
			fed = federation.NewClient("", nil, nil, exhttp.ClientSettings{DialTimeout: 10 * time.Second, GlobalTimeout: 20 * time.Second})
		}
		var resp *federation.RespOpenIDUserInfo
		resp, err = fed.GetOpenIDUserInfo(ctx, serverName, token)
		var herr mautrixHTTPError
		switch {
		case errors.As(err, &herr) && (herr.StatusCode() == http.StatusUnauthorized || herr.StatusCode() == http.StatusForbidden):
			return "", ErrBadToken
		case err != nil:
			return "", fmt.Errorf("openid userinfo from %s: %w", serverName, err)
		}
		user = resp.Sub
	}
	if err != nil {
		return "", err
	}
	if _, server, perr := user.Parse(); perr != nil || server != serverName {
		return "", fmt.Errorf("openid userinfo from %s named %q, a user of another server", serverName, user)
	}
	return user, nil
}

// mautrixHTTPError is what mautrix's federation errors offer.
type mautrixHTTPError interface{ StatusCode() int }

var errNoEndpoint = errors.New("no openid userinfo endpoint here")

// direct asks the configured homeserver at its client address.
func (m MatrixOpenID) direct(ctx context.Context, token string) (id.UserID, error) {
	cli := m.Client
	if cli == nil {
		cli = &http.Client{Timeout: 15 * time.Second}
	}
	u := strings.TrimRight(m.HomeserverURL, "/") + "/_matrix/federation/v1/openid/userinfo?access_token=" + url.QueryEscape(token)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := cli.Do(req)
	if err != nil {
		return "", fmt.Errorf("openid userinfo: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Sub     id.UserID `json:"sub"`
		ErrCode string    `json:"errcode"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 64<<10)).Decode(&out)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", ErrBadToken
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed || out.ErrCode == "M_UNRECOGNIZED":
		return "", errNoEndpoint
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("openid userinfo: status %d %s", resp.StatusCode, out.ErrCode)
	case out.Sub == "":
		return "", errors.New("openid userinfo: the answer has no sub")
	}
	return out.Sub, nil
}

// staffServers are the servers of the configured staff: the only ones the
// console asks about a token, so a sign-in form cannot make bizbots call
// arbitrary hosts.
func (s *Server) staffServers() map[string]bool {
	out := map[string]bool{}
	for _, b := range s.order {
		for _, st := range b.Conf.Staff {
			if _, server, err := id.UserID(st.User).Parse(); err == nil {
				out[server] = true
			}
		}
	}
	return out
}

// loginOpenID signs in with an OpenID token: the browser got it from the
// staff member's own homeserver (with the page's helper, or pasted from a
// client), and that homeserver — not the browser — says whose it is.
func (s *Server) loginOpenID(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || !s.sameOrigin(r) || !equal(r.PostFormValue("csrf"), c.Value) {
		s.renderLogin(w, r, http.StatusForbidden, "", "The sign-in form expired. Please try again.")
		return
	}
	server := strings.TrimSpace(r.PostFormValue("matrix_server_name"))
	token := strings.TrimSpace(r.PostFormValue("access_token"))
	if token == "" && strings.HasPrefix(server, "{") {
		// The whole answer of request_token, pasted into one box.
		var tok struct {
			AccessToken string `json:"access_token"`
			Server      string `json:"matrix_server_name"`
		}
		if json.Unmarshal([]byte(server), &tok) == nil {
			server, token = tok.Server, tok.AccessToken
		}
	}
	switch {
	case server == "" || token == "" || len(token) > 512 || len(server) > 255:
		s.renderLogin(w, r, http.StatusBadRequest, "", "Give your homeserver's name (like example.org) and the OpenID token it issued.")
		return
	case !s.staffServers()[server]:
		s.opts.Log.Info().Str("server", server).Msg("console OpenID sign-in refused: no staff on that server")
		s.renderLogin(w, r, http.StatusForbidden, "", "No bot here has staff on "+server+", so it is not asked. Sign in with the account your bot's owner listed.")
		return
	}
	if s.opts.OpenID == nil {
		s.renderLogin(w, r, http.StatusNotFound, "", "OpenID sign-in is not available here.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	uid, err := s.opts.OpenID.Verify(ctx, server, token)
	switch {
	case errors.Is(err, ErrBadToken):
		s.renderLogin(w, r, http.StatusUnauthorized, "", "Your homeserver does not know that token: it expired (they last a few minutes) or was mistyped. Get a new one and try again.")
		return
	case err != nil:
		s.opts.Log.Warn().Err(err).Str("server", server).Msg("console OpenID sign-in: cannot verify the token")
		s.renderLogin(w, r, http.StatusBadGateway, "", "Your homeserver could not confirm the token right now. Try again in a minute.")
		return
	}
	s.startSession(w, r, uid, "")
}

// openIDPolicy lets the sign-in page's helper talk to homeservers (the
// staff member's own; any https one, and the configured one).
func (s *Server) openIDPolicy(w http.ResponseWriter) {
	connect := "'self' https:"
	if u, err := url.Parse(s.opts.Config.Homeserver.URL); err == nil && u.Host != "" {
		connect += " " + u.Scheme + "://" + u.Host
	}
	w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src "+connect+"; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
}
