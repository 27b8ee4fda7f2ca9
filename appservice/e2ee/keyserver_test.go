package e2ee

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// keyServer is a homeserver's key endpoints for the tests of this
// package: appservice login of a device, whoami, key upload, query and
// claim (one-time keys, then the fallback key, as Synapse does), cross-
// signing key and signature upload, to-device sends, and Dendrite's admin
// password reset. dendrite chooses how cross-signing keys are taken:
// false like Synapse (no user-interactive auth for a first upload nor from
// the appservice), true like Dendrite v0.13.8 (always the user's password).
type keyServer struct {
	srv        *httptest.Server
	asToken    string
	adminToken string
	dendrite   bool

	mu        sync.Mutex
	tokens    map[string][2]string          // access token -> user, device
	devKeys   map[string]map[string]jsonObj // user -> device -> device keys
	otks      map[string][]keyEntry         // user|device -> unclaimed one-time keys
	fallback  map[string]*fallbackEntry     // user|device -> fallback key
	xsign     map[string]map[string]jsonObj // user -> usage -> key
	passwords map[string]string             // user -> password
	toDevice  []toDeviceMsg                 // what was sent to devices
	uploads   map[string]int                // endpoint -> successful requests
	auths     []string                      // how each accepted cross-signing upload was authorised
	fbUploads map[string]int                // user|device -> fallback key uploads
	// failXSign is how many cross-signing uploads still fail with a 502.
	failXSign int
}

type jsonObj = map[string]any

type keyEntry struct {
	id  string
	key jsonObj
}

type fallbackEntry struct {
	keyEntry
	used bool
}

type toDeviceMsg struct {
	typ, user, device string
	content           json.RawMessage
}

func newKeyServer(t *testing.T, asToken string, dendrite bool) *keyServer {
	k := &keyServer{
		asToken: asToken, adminToken: "admin_" + randHex(8), dendrite: dendrite,
		tokens: map[string][2]string{}, devKeys: map[string]map[string]jsonObj{},
		otks: map[string][]keyEntry{}, fallback: map[string]*fallbackEntry{},
		xsign: map[string]map[string]jsonObj{}, passwords: map[string]string{},
		uploads: map[string]int{}, fbUploads: map[string]int{},
	}
	k.srv = httptest.NewServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	return k
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func kjson(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func kerr(w http.ResponseWriter, status int, code, msg string) {
	kjson(w, status, map[string]string{"errcode": code, "error": "keyserver: " + msg})
}

// who is the requester: the as_token acts as ?user_id=.
func (k *keyServer) who(r *http.Request) (user, device string, appservice, admin, ok bool) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch tok {
	case k.asToken:
		return r.URL.Query().Get("user_id"), "", true, false, true
	case k.adminToken:
		return "@admin:example.org", "ADMIN", false, true, true
	}
	d, ok := k.tokens[tok]
	return d[0], d[1], false, false, ok
}

func (k *keyServer) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var body map[string]json.RawMessage
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			kerr(w, 400, "M_NOT_JSON", err.Error())
			return
		}
	}
	path := r.URL.Path
	if path == "/_matrix/client/v3/login" {
		k.login(w, body)
		return
	}
	user, device, appservice, admin, ok := k.who(r)
	if !ok {
		kerr(w, 401, "M_UNKNOWN_TOKEN", "unknown token")
		return
	}
	switch {
	case path == "/_matrix/client/v3/account/whoami":
		kjson(w, 200, map[string]string{"user_id": user, "device_id": device})
	case path == "/_matrix/client/v3/keys/upload":
		k.keysUpload(w, user, device, body)
	case path == "/_matrix/client/v3/keys/query":
		k.keysQuery(w, body)
	case path == "/_matrix/client/v3/keys/claim":
		k.keysClaim(w, body)
	case path == "/_matrix/client/v3/keys/device_signing/upload":
		k.crossSigningUpload(w, user, appservice, body)
	case path == "/_matrix/client/v3/keys/signatures/upload":
		k.signaturesUpload(w, body)
	case strings.HasPrefix(path, "/_matrix/client/v3/sendToDevice/"):
		k.sendToDevice(w, path, body)
	case strings.HasPrefix(path, "/_dendrite/admin/resetPassword/"):
		if !admin {
			kerr(w, 403, "M_FORBIDDEN", "not an admin")
			return
		}
		target, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/_dendrite/admin/resetPassword/"))
		var pw string
		_ = json.Unmarshal(body["password"], &pw)
		k.passwords[target] = pw
		k.uploads["resetPassword"]++
		kjson(w, 200, map[string]bool{"password_updated": true})
	default:
		kerr(w, 404, "M_UNRECOGNIZED", "not here: "+path)
	}
}

func (k *keyServer) login(w http.ResponseWriter, body map[string]json.RawMessage) {
	var typ, deviceID string
	var ident struct {
		User string `json:"user"`
	}
	_ = json.Unmarshal(body["type"], &typ)
	_ = json.Unmarshal(body["device_id"], &deviceID)
	_ = json.Unmarshal(body["identifier"], &ident)
	if typ != "m.login.application_service" || deviceID == "" {
		kerr(w, 400, "M_UNKNOWN", "want appservice login with a device id")
		return
	}
	tok := "dev_" + randHex(8)
	k.tokens[tok] = [2]string{ident.User, deviceID}
	kjson(w, 200, map[string]string{"user_id": ident.User, "device_id": deviceID, "access_token": tok})
}

func (k *keyServer) keysUpload(w http.ResponseWriter, user, device string, body map[string]json.RawMessage) {
	var req struct {
		DeviceKeys   jsonObj            `json:"device_keys"`
		OneTimeKeys  map[string]jsonObj `json:"one_time_keys"`
		FallbackKeys map[string]jsonObj `json:"fallback_keys"`
	}
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &req); err != nil {
		kerr(w, 400, "M_BAD_JSON", err.Error())
		return
	}
	slot := user + "|" + device
	if req.DeviceKeys != nil {
		if k.devKeys[user] == nil {
			k.devKeys[user] = map[string]jsonObj{}
		}
		k.devKeys[user][device] = req.DeviceKeys
	}
	for id, key := range req.OneTimeKeys {
		k.otks[slot] = append(k.otks[slot], keyEntry{id: id, key: key})
	}
	for id, key := range req.FallbackKeys {
		k.fallback[slot] = &fallbackEntry{keyEntry: keyEntry{id: id, key: key}}
		k.fbUploads[slot]++
	}
	k.uploads["keys"]++
	kjson(w, 200, map[string]any{"one_time_key_counts": map[string]int{"signed_curve25519": len(k.otks[slot])}})
}

func (k *keyServer) keysQuery(w http.ResponseWriter, body map[string]json.RawMessage) {
	var users map[string][]string
	_ = json.Unmarshal(body["device_keys"], &users)
	resp := map[string]map[string]any{"device_keys": {}, "master_keys": {}, "self_signing_keys": {}, "user_signing_keys": {}}
	for u := range users {
		resp["device_keys"][u] = k.devKeys[u]
		for usage, field := range map[string]string{"master": "master_keys", "self_signing": "self_signing_keys", "user_signing": "user_signing_keys"} {
			if key, ok := k.xsign[u][usage]; ok {
				resp[field][u] = key
			}
		}
	}
	kjson(w, 200, resp)
}

func (k *keyServer) keysClaim(w http.ResponseWriter, body map[string]json.RawMessage) {
	var req map[string]map[string]string
	_ = json.Unmarshal(body["one_time_keys"], &req)
	out := map[string]map[string]map[string]jsonObj{}
	for u, devs := range req {
		out[u] = map[string]map[string]jsonObj{}
		for d := range devs {
			if e, ok := k.claim(u + "|" + d); ok {
				out[u][d] = map[string]jsonObj{e.id: e.key}
			}
		}
	}
	kjson(w, 200, map[string]any{"one_time_keys": out, "failures": map[string]any{}})
}

// claim takes a one-time key of a device, or else its fallback key
// (which stays, marked used).
func (k *keyServer) claim(slot string) (keyEntry, bool) {
	if l := k.otks[slot]; len(l) > 0 {
		k.otks[slot] = l[1:]
		return l[0], true
	}
	if fb := k.fallback[slot]; fb != nil {
		fb.used = true
		return fb.keyEntry, true
	}
	return keyEntry{}, false
}

func (k *keyServer) crossSigningUpload(w http.ResponseWriter, user string, appservice bool, body map[string]json.RawMessage) {
	var auth struct {
		Type       string `json:"type"`
		Session    string `json:"session"`
		Identifier struct {
			User string `json:"user"`
		} `json:"identifier"`
		Password string `json:"password"`
	}
	_ = json.Unmarshal(body["auth"], &auth)
	if k.failXSign > 0 {
		k.failXSign--
		kerr(w, 502, "M_UNKNOWN", "injected failure")
		return
	}
	how := "no auth"
	needAuth := k.dendrite || (len(k.xsign[user]) > 0 && !appservice)
	if needAuth {
		if auth.Type != "m.login.password" {
			kjson(w, 401, map[string]any{"session": "s_" + randHex(4), "flows": []any{map[string]any{"stages": []string{"m.login.password"}}}, "params": map[string]any{}})
			return
		}
		if auth.Identifier.User != user || k.passwords[user] == "" || auth.Password != k.passwords[user] {
			kerr(w, 403, "M_FORBIDDEN", "wrong password")
			return
		}
		how = "password"
	}
	if appservice {
		how += " as appservice"
	}
	keys := map[string]jsonObj{}
	for usage, field := range map[string]string{"master": "master_key", "self_signing": "self_signing_key", "user_signing": "user_signing_key"} {
		var key jsonObj
		if err := json.Unmarshal(body[field], &key); err != nil || key == nil {
			kerr(w, 400, "M_MISSING_PARAM", field)
			return
		}
		keys[usage] = key
	}
	k.xsign[user] = keys
	k.uploads["device_signing"]++
	k.auths = append(k.auths, how)
	kjson(w, 200, map[string]any{})
}

func (k *keyServer) signaturesUpload(w http.ResponseWriter, body map[string]json.RawMessage) {
	for u, raw := range body {
		var objs map[string]jsonObj
		_ = json.Unmarshal(raw, &objs)
		for keyID, obj := range objs {
			target := k.devKeys[u][keyID]
			if target == nil {
				if m := k.xsign[u]["master"]; m != nil && strings.Contains(mustJSON(m["keys"]), keyID) {
					target = m
				}
			}
			if target == nil {
				continue
			}
			sigs, _ := target["signatures"].(map[string]any)
			if sigs == nil {
				sigs = map[string]any{}
				target["signatures"] = sigs
			}
			for signer, s := range obj["signatures"].(map[string]any) {
				mine, _ := sigs[signer].(map[string]any)
				if mine == nil {
					mine = map[string]any{}
					sigs[signer] = mine
				}
				for kid, sig := range s.(map[string]any) {
					mine[kid] = sig
				}
			}
		}
	}
	k.uploads["signatures"]++
	kjson(w, 200, map[string]any{"failures": map[string]any{}})
}

func (k *keyServer) sendToDevice(w http.ResponseWriter, path string, body map[string]json.RawMessage) {
	typ := strings.Split(strings.TrimPrefix(path, "/_matrix/client/v3/sendToDevice/"), "/")[0]
	var msgs map[string]map[string]json.RawMessage
	_ = json.Unmarshal(body["messages"], &msgs)
	for u, devs := range msgs {
		for d, c := range devs {
			k.toDevice = append(k.toDevice, toDeviceMsg{typ: typ, user: u, device: d, content: c})
		}
	}
	kjson(w, 200, map[string]any{})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// do runs fn under the server's lock (tests read and change its state).
func (k *keyServer) do(fn func(k *keyServer)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fn(k)
}
