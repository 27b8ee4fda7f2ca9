package fakehs

import (
	"fmt"
	"net/http"
	"strings"
)

// CreatedRoom is one createRoom request the appservice made.
type CreatedRoom struct {
	User string
	ID   string
	// Request is the request body as sent.
	Request map[string]any
}

// SetOnCreateRoom makes createRoom fail (or, with LoseResponse, create the
// room and drop the connection) while f returns a failure.
func (h *HS) SetOnCreateRoom(f func(user string) *Failure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onCreateRoom = f
}

// CreatedRooms returns every room created, in order.
func (h *HS) CreatedRooms() []CreatedRoom {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]CreatedRoom(nil), h.created...)
}

func (h *HS) createRoom(w http.ResponseWriter, user string, body map[string]any) {
	h.mu.Lock()
	onCreate := h.onCreateRoom
	h.mu.Unlock()
	var f *Failure
	if onCreate != nil {
		f = onCreate(user)
	}
	if f != nil && !f.LoseResponse {
		writeFailure(w, f)
		return
	}
	h.mu.Lock()
	room := fmt.Sprintf("!created%d:example.org", len(h.created)+1)
	h.created = append(h.created, CreatedRoom{User: user, ID: room, Request: body})
	h.notify()
	h.mu.Unlock()
	if f != nil {
		writeFailure(w, &Failure{Disconnect: true}) // LoseResponse: the room exists, the answer is lost
		return
	}
	writeJSON(w, 200, map[string]string{"room_id": room})
}

func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/_matrix/media/") && strings.HasSuffix(r.URL.Path, "/upload")
}
