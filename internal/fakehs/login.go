package fakehs

import (
	"encoding/json"
	"net/http"
	"strings"
)

// SetPassword lets user (a full Matrix id) log in with password through
// POST /_matrix/client/v3/login (m.login.password; the identifier may be
// the full id or its localpart on example.org).
func (h *HS) SetPassword(user, password string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.passwords == nil {
		h.passwords, h.logins = map[string]string{}, map[string]string{}
	}
	h.passwords[user] = password
}

// OpenLogins counts password logins not yet logged out.
func (h *HS) OpenLogins() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.logins)
}

func (h *HS) passwordLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, 405, map[string]string{"errcode": "M_UNRECOGNIZED", "error": "fakehs: POST only"})
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/logout") {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, ok := h.logins[tok]; !ok {
			writeJSON(w, 401, map[string]string{"errcode": "M_UNKNOWN_TOKEN", "error": "fakehs: unknown token"})
			return
		}
		delete(h.logins, tok)
		writeJSON(w, 200, map[string]any{})
		return
	}
	var body struct {
		Type       string `json:"type"`
		Identifier struct {
			Type string `json:"type"`
			User string `json:"user"`
		} `json:"identifier"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Type != "m.login.password" {
		writeJSON(w, 400, map[string]string{"errcode": "M_BAD_JSON", "error": "fakehs: m.login.password expected"})
		return
	}
	user := body.Identifier.User
	if !strings.HasPrefix(user, "@") {
		user = "@" + user + ":example.org"
	}
	if pw, ok := h.passwords[user]; !ok || pw != body.Password {
		writeJSON(w, 403, map[string]string{"errcode": "M_FORBIDDEN", "error": "Invalid username or password"})
		return
	}
	tok := "login_" + randomID()
	h.logins[tok] = user
	writeJSON(w, 200, map[string]string{"user_id": user, "access_token": tok, "device_id": "FAKE"})
}
