package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// homeserver is the fake homeserver both targets talk to: it takes every
// client-server call a bot makes (register, profile, join, members, send,
// receipts, typing), answers at once, and times each reply against the
// message it answers.
type homeserver struct {
	srv     *http.Server
	url     string
	domain  string
	started time.Time

	// sentAt[i] is when message i left the driver (ns since started).
	sentAt []atomic.Int64

	mu        sync.Mutex
	seenTxn   map[string]bool
	latencies []time.Duration
	replies   int // messages answered at least once
	dups      int // answers beyond the first to one message
	welcomes  int
	lastReply time.Time
	changed   chan struct{}
	// replyAt[i] is when message i was first answered (since started,
	// 0: not yet), replyCount[i] how many distinct sends answered it.
	replyAt    []time.Duration
	replyCount []int32
	// roomLog holds, per room, the numbers of the messages the replies
	// answered, in the order the replies arrived (duplicates included).
	roomLog map[string][]int

	requests atomic.Int64 // every client-server request
	receipts atomic.Int64
}

func newHomeserver(domain string, messages int) (*homeserver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &homeserver{domain: domain, url: "http://" + ln.Addr().String(), started: time.Now(),
		sentAt: make([]atomic.Int64, messages), seenTxn: map[string]bool{}, changed: make(chan struct{}, 1),
		replyAt: make([]time.Duration, messages), replyCount: make([]int32, messages), roomLog: map[string][]int{}}
	h.srv = &http.Server{Handler: http.HandlerFunc(h.serve)}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *homeserver) close() { _ = h.srv.Close() }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *homeserver) serve(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/_matrix/client/")
	parts := strings.Split(path, "/")
	for i, p := range parts {
		parts[i], _ = url.PathUnescape(p)
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	user := r.URL.Query().Get("user_id")
	switch {
	case r.URL.Path == "/_matrix/client/versions":
		writeJSON(w, 200, map[string][]string{"versions": {"v1.1", "v1.7"}})
	case len(parts) >= 3 && parts[1] == "account" && parts[2] == "whoami":
		if user == "" {
			user = "@bizbots:" + h.domain
		}
		writeJSON(w, 200, map[string]string{"user_id": user})
	case len(parts) == 2 && parts[1] == "register":
		writeJSON(w, 200, map[string]string{"user_id": "@x:" + h.domain})
	case len(parts) >= 3 && parts[1] == "profile":
		writeJSON(w, 200, map[string]any{})
	case len(parts) == 4 && parts[1] == "rooms" && parts[3] == "join", len(parts) == 3 && parts[1] == "join":
		writeJSON(w, 200, map[string]string{"room_id": parts[2]})
	case len(parts) == 4 && parts[1] == "rooms" && parts[3] == "joined_members":
		writeJSON(w, 200, map[string]any{"joined": map[string]any{
			customerOf(parts[2], h.domain): map[string]string{"display_name": "Customer"},
			user:                           map[string]string{"display_name": "Bot"},
		}})
	case len(parts) == 4 && parts[1] == "rooms" && parts[3] == "messages":
		writeJSON(w, 200, map[string]any{"chunk": []any{}})
	case len(parts) >= 4 && parts[1] == "rooms" && (parts[3] == "receipt" || parts[3] == "read_markers"):
		h.receipts.Add(1)
		writeJSON(w, 200, map[string]any{})
	case len(parts) >= 4 && parts[1] == "rooms" && parts[3] == "typing":
		writeJSON(w, 200, map[string]any{})
	case len(parts) == 6 && parts[1] == "rooms" && parts[3] == "send":
		h.send(w, user, parts[2], parts[5], body)
	default:
		writeJSON(w, 404, map[string]string{"errcode": "M_UNRECOGNIZED", "error": "bench homeserver: " + r.URL.Path})
	}
}

// send records one event a bot sent; a txn id seen before is a retry.
func (h *homeserver) send(w http.ResponseWriter, user, room, txn string, body []byte) {
	now := time.Now()
	var c struct {
		Body string `json:"body"`
	}
	_ = json.Unmarshal(body, &c)
	key := user + "|" + room + "|" + txn
	h.mu.Lock()
	if !h.seenTxn[key] {
		h.seenTxn[key] = true
		if n, ok := messageNumber(c.Body); ok && n < len(h.sentAt) {
			h.replyCount[n]++
			h.roomLog[room] = append(h.roomLog[room], n)
			if h.replyCount[n] == 1 {
				at := now.Sub(h.started)
				h.replyAt[n] = at
				h.latencies = append(h.latencies, at-time.Duration(h.sentAt[n].Load()))
				h.replies++
			} else {
				h.dups++
			}
			h.lastReply = now
		} else {
			h.welcomes++
		}
		select {
		case h.changed <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()
	writeJSON(w, 200, map[string]string{"event_id": eventID(room + "/" + txn)})
}

// messageNumber reads n from a reply "You said: m <n>".
func messageNumber(body string) (int, bool) {
	rest, ok := strings.CutPrefix(body, "You said: m ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

// waitFor waits until cond holds (checked after every recorded send) or
// the deadline passes.
func (h *homeserver) waitFor(deadline time.Time, cond func() bool) bool {
	for {
		h.mu.Lock()
		ok := cond()
		h.mu.Unlock()
		if ok {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		select {
		case <-h.changed:
		case <-time.After(min(left, 200*time.Millisecond)):
		}
	}
}

// eventID is the event id named by seed, shaped as a homeserver makes them
// since room version 4: "$" and the URL-safe base64 of a SHA-256 hash
// (43 characters). Such ids arrive in no order; the sequential ids the
// benchmark used before ("$m1", "$m2", …) were appended at the end of
// every index on them, and flattered SQLite by a fifth
// (docs/PERFORMANCE.md, eighth pass).
func eventID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "$" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func roomID(i int, domain string) string { return fmt.Sprintf("!room%d:%s", i, domain) }

func customerOf(room, domain string) string {
	n := strings.TrimSuffix(strings.TrimPrefix(room, "!room"), ":"+domain)
	return "@customer" + n + ":" + domain
}
