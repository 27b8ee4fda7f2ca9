package faults

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bizbots/bizbots/internal/fakehs"
)

// Fault is what the homeserver does to the appservice's requests.
type Fault int

const (
	// Healthy answers normally.
	Healthy Fault = iota
	// TooMany answers 429 M_LIMIT_EXCEEDED with retry_after_ms.
	TooMany
	// Failing answers 500 M_UNKNOWN.
	Failing
	// Hanging holds each request without an answer until the fault ends
	// or the client gives up.
	Hanging
	// Down drops each connection without an answer.
	Down
)

func (f Fault) String() string {
	return [...]string{"healthy", "429", "500", "hanging", "down"}[f]
}

// Front sits between bizbots and a fakehs: it injects homeserver faults,
// counts send attempts per (user, txn id) and lookups of earlier attempts,
// and holds each send's answer back for a moment after the homeserver
// stored it, as a network would; AfterStore runs in that window (a kill
// there leaves a send the homeserver has and bizbots does not know of).
type Front struct {
	Server *httptest.Server
	hs     atomic.Pointer[fakehs.HS]

	mu         sync.Mutex
	rng        *rand.Rand
	fault      Fault
	healed     chan struct{} // closed when the current fault ends
	attempts   map[string]int
	faulted    map[Fault]int
	afterStore func()
	beforeSend func()
	lookups    atomic.Int64
}

// NewFront starts a front on loopback; set its homeserver with SetHS.
func NewFront(seed uint64) *Front {
	f := &Front{rng: rand.New(rand.NewPCG(seed, 3)), attempts: map[string]int{},
		faulted: map[Fault]int{}, healed: make(chan struct{})}
	close(f.healed)
	f.Server = httptest.NewServer(f)
	return f
}

// SetHS sets the homeserver behind the front.
func (f *Front) SetHS(hs *fakehs.HS) { f.hs.Store(hs) }

// Close stops the front, releasing hanging requests first.
func (f *Front) Close() {
	f.SetFault(Healthy)
	f.Server.CloseClientConnections()
	f.Server.Close()
}

// SetFault changes what the homeserver does from now on.
func (f *Front) SetFault(x Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if x == f.fault {
		return
	}
	if f.fault != Healthy {
		close(f.healed)
	}
	if x != Healthy {
		f.healed = make(chan struct{})
	}
	f.fault = x
}

// AfterStore sets a function run after the homeserver stored a send and
// before its answer leaves (nil: none).
func (f *Front) AfterStore(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterStore = fn
}

// BeforeSend sets a function run when a send reaches the homeserver,
// before it is stored (nil: none).
func (f *Front) BeforeSend(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beforeSend = fn
}

// Faulted says how many requests met each fault.
func (f *Front) Faulted() map[Fault]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[Fault]int{}
	for k, v := range f.faulted {
		out[k] = v
	}
	return out
}

// Lookups counts GET …/messages: the sender looking for an earlier attempt
// of a reply before sending it again.
func (f *Front) Lookups() int64 { return f.lookups.Load() }

// Duplicates returns how many send attempts repeated an earlier (user, txn
// id), and how many distinct ones there were.
func (f *Front) Duplicates() (dups, keys int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.attempts {
		dups += n - 1
	}
	return dups, len(f.attempts)
}

func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hs := f.hs.Load()
	if hs == nil {
		http.Error(w, `{"errcode":"M_UNKNOWN","error":"not ready"}`, http.StatusServiceUnavailable)
		return
	}
	f.mu.Lock()
	fault, healed := f.fault, f.healed
	if fault != Healthy {
		f.faulted[fault]++
	}
	f.mu.Unlock()
	switch fault {
	case TooMany:
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"errcode": "M_LIMIT_EXCEEDED",
			"error": "injected", "retry_after_ms": 300})
		return
	case Failing:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"errcode": "M_UNKNOWN", "error": "injected"})
		return
	case Hanging:
		select {
		case <-healed:
		case <-r.Context().Done():
			return
		}
		// The hang ended before the client gave up: answer as if slow.
	case Down:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/messages") {
		f.lookups.Add(1)
	}
	if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/send/") {
		hs.Server.Config.Handler.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	f.attempts[r.URL.Query().Get("user_id")+"|"+path.Base(r.URL.Path)]++
	delay := time.Duration(f.rng.IntN(20)) * time.Millisecond
	after, before := f.afterStore, f.beforeSend
	f.mu.Unlock()
	if before != nil {
		before()
	}
	rec := httptest.NewRecorder()
	hs.Server.Config.Handler.ServeHTTP(rec, r)
	if after != nil && rec.Code == http.StatusOK {
		after()
	}
	time.Sleep(delay) // the answer's way back through the network
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
