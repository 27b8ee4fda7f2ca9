// Package fakehs is a small in-process homeserver for tests: the
// client-server endpoints an appservice calls (register, profile, join,
// joined_members, send, createRoom, media upload, appservice ping) with the as_token checked, sends
// deduplicated by (user, txn id) the way real homeservers do, failure
// injection, and a client for the homeserver → appservice push. It records
// what it was asked so tests can assert exactly-once delivery. It is not a
// Matrix implementation: no rooms, no federation, no sync.
package fakehs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sent is one event the appservice sent.
type Sent struct {
	User    string
	Room    string
	Type    string
	TxnID   string
	EventID string
	Content map[string]any
}

// Failure is what an injected fault answers.
type Failure struct {
	Status  int
	Errcode string
	// Error is the error text ("injected failure" when empty).
	Error        string
	RetryAfterMS int64
	// RetryAfter, when non-empty, is sent as the Retry-After header.
	RetryAfter string
	// Disconnect drops the connection without an answer (a network
	// failure as the client sees it); the other fields are then unused.
	Disconnect bool
	// LoseResponse (sends only) accepts the event, then drops the
	// connection: the homeserver has it, the client does not know.
	LoseResponse bool
	// Hang (sends only) never answers: the request is held, the event not
	// stored, until the client gives up (or HangLimit passes).
	Hang bool
}

// HangLimit is the longest a Hang failure holds a request, so a test that
// forgets its client timeout still ends.
const HangLimit = 30 * time.Second

// HS is the fake homeserver.
type HS struct {
	Server  *httptest.Server
	ASToken string

	mu        sync.Mutex
	users     map[string]bool
	profiles  map[string]map[string]string
	joins     []string // "user room"
	receipts  []Receipt
	members   map[string]map[string]string
	power     map[string]map[string]int // m.room.power_levels users per room (none: 404)
	sends     []Sent
	byTxn     map[string]string // user|txn → event id
	requests  int
	counts    map[string]int // per endpoint, every request
	txnReqs   map[string]int // user|txn → send requests, duplicates and failures included
	pingError *Failure
	changed   chan struct{}
	uploads   []Upload
	// passwords and logins serve password sign-in (login.go).
	passwords map[string]string
	logins    map[string]string // access token → user
	openid    map[string]openIDToken

	// OnSend may inject a failure for a send; nil means accept. Set it
	// before the server is used, or with SetOnSend while it runs.
	OnSend func(user, room, txnID string, attempt int) *Failure
	// ForgetLostTxns makes a LoseResponse failure also forget the txn id,
	// as Dendrite does for a send whose request was cut off: a resend with
	// the same txn id then stores a second event.
	ForgetLostTxns bool
	// OnJoin may inject a failure for a join (see SetOnJoin).
	OnJoin   func(user, room string) *Failure
	attempts map[string]int

	onCreateRoom func(user string) *Failure
	created      []CreatedRoom
}

// Endpoints counted by Count.
const (
	EndpointRegister      = "register"
	EndpointProfile       = "profile"
	EndpointJoin          = "join"
	EndpointJoinedMembers = "joined_members"
	EndpointSend          = "send"
	EndpointPing          = "ping"
	EndpointReceipt       = "receipt"
	EndpointUpload        = "upload"
)

// New starts a fake homeserver on loopback.
func New(asToken string) *HS {
	h := &HS{
		ASToken:  asToken,
		users:    map[string]bool{},
		profiles: map[string]map[string]string{},
		members:  map[string]map[string]string{},
		power:    map[string]map[string]int{},
		byTxn:    map[string]string{},
		attempts: map[string]int{},
		counts:   map[string]int{},
		txnReqs:  map[string]int{},
		changed:  make(chan struct{}),
	}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	return h
}

// Close stops the server.
func (h *HS) Close() { h.Server.Close() }

// URL is the homeserver's base URL.
func (h *HS) URL() string { return h.Server.URL }

// SetMembers sets what joined_members answers for a room.
func (h *HS) SetMembers(room string, members map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.members[room] = members
}

// SetPowerLevels sets the users' power levels a room's m.room.power_levels
// state answers with; a room without them answers M_NOT_FOUND.
func (h *HS) SetPowerLevels(room string, users map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.power[room] = users
}

// SetPingError makes the appservice ping endpoint fail.
func (h *HS) SetPingError(f *Failure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pingError = f
}

// SetOnSend replaces the send fault injector while the server runs.
func (h *HS) SetOnSend(f func(user, room, txnID string, attempt int) *Failure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.OnSend = f
}

// SetOnJoin replaces the join fault injector while the server runs.
func (h *HS) SetOnJoin(f func(user, room string) *Failure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.OnJoin = f
}

// AddUser marks localpart as registered already, as if an earlier run (or
// someone else) had registered it: registering it answers M_USER_IN_USE.
func (h *HS) AddUser(localpart string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[localpart] = true
}

// Count returns how many requests reached an endpoint (Endpoint…),
// failed, injected and deduplicated ones included.
func (h *HS) Count(endpoint string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[endpoint]
}

// TxnRequests returns how many send requests used txnID as user,
// failed and deduplicated ones included.
func (h *HS) TxnRequests(user, txnID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.txnReqs[user+"|"+txnID]
}

// SendCount is len(Sends()) without the copy (for wait loops that run
// on every send).
func (h *HS) SendCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sends)
}

// Sends returns every accepted send, deduplicated sends included once.
func (h *HS) Sends() []Sent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Sent(nil), h.sends...)
}

// SendsTo returns the accepted sends in one room, in order.
func (h *HS) SendsTo(room string) []Sent {
	var out []Sent
	for _, s := range h.Sends() {
		if s.Room == room {
			out = append(out, s)
		}
	}
	return out
}

// Receipt is a read receipt a user sent.
type Receipt struct{ User, Room, Type, EventID string }

// Receipts returns the read receipts sent to room, in order.
func (h *HS) Receipts(room string) []Receipt {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Receipt
	for _, r := range h.receipts {
		if r.Room == room {
			out = append(out, r)
		}
	}
	return out
}

// Registered says whether a user was registered.
func (h *HS) Registered(user string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.users[user]
}

// Profile returns a user's profile fields set by the appservice.
func (h *HS) Profile(user string) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for k, v := range h.profiles[user] {
		out[k] = v
	}
	return out
}

// Joins returns "user room" for each join request.
func (h *HS) Joins() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.joins...)
}

// WaitFor polls cond until it holds or timeout passes; it reports whether
// it held.
func (h *HS) WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		select {
		case <-ch:
		case <-time.After(min(wait, 100*time.Millisecond)):
		}
	}
}

func (h *HS) notify() {
	close(h.changed)
	h.changed = make(chan struct{})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeFailure(w http.ResponseWriter, f *Failure) {
	if f.Disconnect {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // not hijackable: abort the response
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	msg := f.Error
	if msg == "" {
		msg = "injected failure"
	}
	body := map[string]any{"errcode": f.Errcode, "error": msg}
	if f.RetryAfterMS > 0 {
		body["retry_after_ms"] = f.RetryAfterMS
	}
	writeJSON(w, f.Status, body)
}

func (h *HS) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_matrix/client/versions" {
		writeJSON(w, 200, map[string][]string{"versions": {"v1.1", "v1.7"}})
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/_matrix/client/v3/login" {
		writeJSON(w, 200, map[string]any{"flows": []map[string]string{{"type": "m.login.password"}, {"type": "m.login.application_service"}}})
		return
	}
	if h.serveOpenID(w, r) {
		return
	}
	if r.URL.Path == "/_matrix/client/v3/login" || r.URL.Path == "/_matrix/client/v3/logout" {
		if cors(w, r) {
			return
		}
		h.passwordLogin(w, r) // user tokens, not the appservice's
		return
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		writeJSON(w, 401, map[string]string{"errcode": "M_MISSING_TOKEN", "error": "no token"})
		return
	}
	if auth != "Bearer "+h.ASToken {
		writeJSON(w, 401, map[string]string{"errcode": "M_UNKNOWN_TOKEN", "error": "bad token"})
		return
	}
	if isUpload(r) {
		h.upload(w, r)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/_matrix/client/"), "/")
	for i, p := range parts {
		parts[i], _ = url.PathUnescape(p)
	}
	user := r.URL.Query().Get("user_id")
	var body map[string]any
	if r.Body != nil {
		_ = json.NewDecoder(r.Body).Decode(&body)
	}
	h.mu.Lock()
	h.requests++
	if ep := endpoint(r.Method, parts); ep != "" {
		h.counts[ep]++
		h.notify()
	}
	h.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && len(parts) == 2 && parts[1] == "register":
		h.register(w, body)
	case r.Method == http.MethodPost && len(parts) == 2 && parts[1] == "createRoom":
		h.createRoom(w, user, body)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == "account" && parts[2] == "whoami":
		// The appservice's sender when no user is named; this fake serves
		// example.org, the domain its tests configure.
		if user == "" {
			user = "@bizbots:example.org"
		}
		writeJSON(w, 200, map[string]string{"user_id": user})
	case r.Method == http.MethodPut && len(parts) == 4 && parts[1] == "profile":
		h.mu.Lock()
		if h.profiles[parts[2]] == nil {
			h.profiles[parts[2]] = map[string]string{}
		}
		h.profiles[parts[2]][parts[3]] = fmt.Sprint(body[parts[3]])
		h.notify()
		h.mu.Unlock()
		writeJSON(w, 200, map[string]any{})
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "rooms" && parts[3] == "join",
		r.Method == http.MethodPost && len(parts) == 3 && parts[1] == "join":
		room := parts[2]
		h.mu.Lock()
		onJoin := h.OnJoin
		h.mu.Unlock()
		if onJoin != nil {
			if f := onJoin(user, room); f != nil {
				writeFailure(w, f)
				return
			}
		}
		h.mu.Lock()
		h.joins = append(h.joins, user+" "+room)
		h.notify()
		h.mu.Unlock()
		writeJSON(w, 200, map[string]string{"room_id": room})
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "rooms" && parts[3] == "joined_members":
		h.mu.Lock()
		joined := map[string]any{}
		for uid, name := range h.members[parts[2]] {
			joined[uid] = map[string]string{"display_name": name}
		}
		h.mu.Unlock()
		writeJSON(w, 200, map[string]any{"joined": joined})
	case r.Method == http.MethodGet && len(parts) >= 5 && parts[1] == "rooms" && parts[3] == "state" && parts[4] == "m.room.power_levels":
		h.mu.Lock()
		users, ok := h.power[parts[2]]
		h.mu.Unlock()
		if !ok {
			writeJSON(w, 404, map[string]string{"errcode": "M_NOT_FOUND", "error": "fakehs: no power levels"})
			return
		}
		writeJSON(w, 200, map[string]any{"users": users})
	case r.Method == http.MethodPost && len(parts) == 6 && parts[1] == "rooms" && parts[3] == "receipt":
		h.mu.Lock()
		h.receipts = append(h.receipts, Receipt{User: user, Room: parts[2], Type: parts[4], EventID: parts[5]})
		h.notify()
		h.mu.Unlock()
		writeJSON(w, 200, map[string]any{})
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "rooms" && parts[3] == "messages":
		h.messages(w, parts[2], r.URL.Query().Get("filter"))
	case r.Method == http.MethodPut && len(parts) == 6 && parts[1] == "rooms" && parts[3] == "send":
		h.send(r.Context(), w, user, parts[2], parts[4], parts[5], body)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "v1" && parts[1] == "appservice" && parts[3] == "ping":
		h.mu.Lock()
		f := h.pingError
		h.mu.Unlock()
		if f != nil {
			writeFailure(w, f)
			return
		}
		writeJSON(w, 200, map[string]int{"duration_ms": 1})
	default:
		writeJSON(w, 404, map[string]string{"errcode": "M_UNRECOGNIZED", "error": "fakehs: " + r.Method + " " + r.URL.Path})
	}
}

// endpoint names the endpoint a request is for, "" if unknown.
func endpoint(method string, parts []string) string {
	switch {
	case method == http.MethodPost && len(parts) == 2 && parts[1] == "register":
		return EndpointRegister
	case method == http.MethodPut && len(parts) == 4 && parts[1] == "profile":
		return EndpointProfile
	case method == http.MethodPost && len(parts) == 4 && parts[1] == "rooms" && parts[3] == "join",
		method == http.MethodPost && len(parts) == 3 && parts[1] == "join":
		return EndpointJoin
	case method == http.MethodGet && len(parts) == 4 && parts[1] == "rooms" && parts[3] == "joined_members":
		return EndpointJoinedMembers
	case method == http.MethodPut && len(parts) == 6 && parts[1] == "rooms" && parts[3] == "send":
		return EndpointSend
	case method == http.MethodPost && len(parts) == 4 && parts[0] == "v1" && parts[1] == "appservice" && parts[3] == "ping":
		return EndpointPing
	case method == http.MethodPost && len(parts) == 6 && parts[1] == "rooms" && parts[3] == "receipt":
		return EndpointReceipt
	}
	return ""
}

func (h *HS) register(w http.ResponseWriter, body map[string]any) {
	name, _ := body["username"].(string)
	if body["type"] != "m.login.application_service" || name == "" {
		writeJSON(w, 400, map[string]string{"errcode": "M_BAD_JSON", "error": "appservice registration expected"})
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.users[name] {
		writeJSON(w, 400, map[string]string{"errcode": "M_USER_IN_USE", "error": "taken"})
		return
	}
	h.users[name] = true
	h.notify()
	writeJSON(w, 200, map[string]string{"user_id": "@" + name})
}

func (h *HS) send(ctx context.Context, w http.ResponseWriter, user, room, typ, txn string, content map[string]any) {
	h.mu.Lock()
	key := user + "|" + txn
	h.txnReqs[key]++
	if evID, dup := h.byTxn[key]; dup {
		h.mu.Unlock()
		writeJSON(w, 200, map[string]string{"event_id": evID})
		return
	}
	h.attempts[key]++
	attempt := h.attempts[key]
	onSend := h.OnSend
	h.mu.Unlock()
	var lose bool
	if onSend != nil {
		if f := onSend(user, room, txn, attempt); f != nil {
			if f.Hang {
				select {
				case <-ctx.Done():
				case <-time.After(HangLimit):
				}
				return
			}
			if !f.LoseResponse {
				writeFailure(w, f)
				return
			}
			lose = true
		}
	}
	evID := "$" + randomID()
	h.mu.Lock()
	if first, dup := h.byTxn[key]; dup {
		// A concurrent request with the same txn id won the race.
		h.mu.Unlock()
		writeJSON(w, 200, map[string]string{"event_id": first})
		return
	}
	if !(lose && h.ForgetLostTxns) {
		h.byTxn[key] = evID
	}
	h.sends = append(h.sends, Sent{User: user, Room: room, Type: typ, TxnID: txn, EventID: evID, Content: content})
	h.notify()
	h.mu.Unlock()
	if lose {
		writeFailure(w, &Failure{Disconnect: true})
		return
	}
	writeJSON(w, 200, map[string]string{"event_id": evID})
}

// Upload is one file uploaded to the media repository.
type Upload struct {
	User, ContentType, FileName string
	Data                        []byte
	URI                         string
}

// Uploads returns every media upload, in order.
func (h *HS) Uploads() []Upload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Upload(nil), h.uploads...)
}

// upload answers POST /_matrix/media/v3/upload with a new mxc:// URI.
func (h *HS) upload(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 50<<20))
	if err != nil {
		writeJSON(w, 400, map[string]string{"errcode": "M_UNKNOWN", "error": err.Error()})
		return
	}
	u := Upload{User: r.URL.Query().Get("user_id"), ContentType: r.Header.Get("Content-Type"),
		FileName: r.URL.Query().Get("filename"), Data: data, URI: "mxc://example.org/" + randomID()}
	h.mu.Lock()
	h.requests++
	h.counts[EndpointUpload]++
	h.uploads = append(h.uploads, u)
	h.notify()
	h.mu.Unlock()
	writeJSON(w, 200, map[string]string{"content_uri": u.URI})
}

// messages answers GET /rooms/{room}/messages?dir=b: the room's stored
// sends, newest first, filtered by the filter's senders.
func (h *HS) messages(w http.ResponseWriter, room, filter string) {
	var f struct {
		Senders []string `json:"senders"`
		Limit   int      `json:"limit"`
	}
	_ = json.Unmarshal([]byte(filter), &f)
	h.mu.Lock()
	h.counts["messages"]++
	var chunk []map[string]any
	for i := len(h.sends) - 1; i >= 0; i-- {
		s := h.sends[i]
		if s.Room != room || (len(f.Senders) > 0 && !slices.Contains(f.Senders, s.User)) {
			continue
		}
		chunk = append(chunk, map[string]any{"event_id": s.EventID, "sender": s.User, "type": s.Type,
			"room_id": s.Room, "origin_server_ts": 1, "content": s.Content})
		if f.Limit > 0 && len(chunk) >= f.Limit {
			break
		}
	}
	h.mu.Unlock()
	writeJSON(w, 200, map[string]any{"chunk": chunk, "start": "s1", "end": "s0"})
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Push sends a transaction to an appservice the way a homeserver does and
// returns the HTTP status.
func Push(ctx context.Context, asURL, hsToken, txnID string, events []map[string]any) (int, error) {
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut,
		strings.TrimSuffix(asURL, "/")+"/_matrix/app/v1/transactions/"+url.PathEscape(txnID), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+hsToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Message builds an m.room.message text event.
func Message(room, sender, body string) map[string]any {
	return map[string]any{
		"event_id": "$" + randomID(), "room_id": room, "sender": sender, "type": "m.room.message",
		"origin_server_ts": time.Now().UnixMilli(),
		"content":          map[string]any{"msgtype": "m.text", "body": body},
	}
}

// Invite builds the membership event inviting bot to room.
func Invite(room, inviter, bot string, isDirect bool) map[string]any {
	content := map[string]any{"membership": "invite"}
	if isDirect {
		content["is_direct"] = true
	}
	return map[string]any{
		"event_id": "$" + randomID(), "room_id": room, "sender": inviter, "type": "m.room.member",
		"state_key": bot, "origin_server_ts": time.Now().UnixMilli(), "content": content,
	}
}

// Member builds a membership event for user.
func Member(room, user, membership, displayName string) map[string]any {
	content := map[string]any{"membership": membership}
	if displayName != "" {
		content["displayname"] = displayName
	}
	return map[string]any{
		"event_id": "$" + randomID(), "room_id": room, "sender": user, "type": "m.room.member",
		"state_key": user, "origin_server_ts": time.Now().UnixMilli(), "content": content,
	}
}
