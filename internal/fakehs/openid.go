package fakehs

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OpenID tokens: POST /_matrix/client/v3/user/{userId}/openid/request_token
// with a password login's access token issues one, GET
// /_matrix/federation/v1/openid/userinfo says whose it is. Browsers may
// call the login, logout and request_token endpoints from another origin
// (CORS), as they may a real homeserver's.

type openIDToken struct {
	user    string
	expires time.Time
}

// OpenIDTokenTTL is how long an issued OpenID token is valid.
const OpenIDTokenTTL = time.Hour

// ExpireOpenIDTokens makes every OpenID token issued so far expired.
func (h *HS) ExpireOpenIDTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, t := range h.openid {
		t.expires = time.Now().Add(-time.Second)
		h.openid[k] = t
	}
}

// IssueOpenIDToken issues an OpenID token for user, as request_token does.
func (h *HS) IssueOpenIDToken(user string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.issueOpenID(user)
}

func (h *HS) issueOpenID(user string) string {
	if h.openid == nil {
		h.openid = map[string]openIDToken{}
	}
	tok := "oid_" + randomID()
	h.openid[tok] = openIDToken{user: user, expires: time.Now().Add(OpenIDTokenTTL)}
	return tok
}

// cors answers a browser's preflight and marks the answer readable from
// any origin; it reports whether the request was a preflight.
func cors(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodOptions {
		return false
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	w.WriteHeader(http.StatusOK)
	return true
}

// serveOpenID serves the OpenID endpoints; false when r is for neither.
func (h *HS) serveOpenID(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.EscapedPath()
	switch {
	case path == "/_matrix/federation/v1/openid/userinfo" && r.Method == http.MethodGet:
		h.mu.Lock()
		t, ok := h.openid[r.URL.Query().Get("access_token")]
		h.mu.Unlock()
		if !ok || time.Now().After(t.expires) {
			writeJSON(w, 401, map[string]string{"errcode": "M_UNKNOWN_TOKEN", "error": "fakehs: unknown or expired OpenID token"})
			return true
		}
		writeJSON(w, 200, map[string]string{"sub": t.user})
		return true
	case strings.HasPrefix(path, "/_matrix/client/v3/user/") && strings.HasSuffix(path, "/openid/request_token"):
		if cors(w, r) {
			return true
		}
		user, _ := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(path, "/_matrix/client/v3/user/"), "/openid/request_token"))
		h.mu.Lock()
		defer h.mu.Unlock()
		owner, ok := h.logins[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		switch {
		case !ok:
			writeJSON(w, 401, map[string]string{"errcode": "M_UNKNOWN_TOKEN", "error": "fakehs: unknown token"})
		case owner != user:
			writeJSON(w, 403, map[string]string{"errcode": "M_FORBIDDEN", "error": "fakehs: not your user"})
		default:
			writeJSON(w, 200, map[string]any{"access_token": h.issueOpenID(user), "token_type": "Bearer",
				"matrix_server_name": "example.org", "expires_in": int(OpenIDTokenTTL.Seconds())})
		}
		return true
	}
	return false
}
