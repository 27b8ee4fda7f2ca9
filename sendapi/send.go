package sendapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/store"
)

// ConsentMessages is the consent flag a customer clears by saying "stop"
// (see services/webhook): the API sends them nothing while it is false.
const ConsentMessages = "messages"

// SendRequest is the body of POST …/messages: one of To and RoomID, and
// the message.
type SendRequest struct {
	To     id.UserID `json:"to,omitempty"`
	RoomID id.RoomID `json:"room_id,omitempty"`
	wire.Reply
}

// SendResponse is the answer to a message accepted for delivery.
type SendResponse struct {
	ID string `json:"id"`
}

// answer is a response kept for an Idempotency-Key.
type answer struct {
	status int
	body   []byte
	// retryAfter (seconds) is sent as Retry-After; such answers are never
	// kept for an Idempotency-Key.
	retryAfter int
}

func jsonAnswer(status int, v any) answer {
	b, _ := json.Marshal(v)
	return answer{status: status, body: append(b, '\n')}
}

func errAnswer(status int, errcode, msg string) answer {
	return jsonAnswer(status, map[string]string{"errcode": errcode, "error": msg})
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request, q request) {
	ctx := r.Context()
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		WriteError(w, http.StatusBadRequest, "M_BAD_JSON", "cannot read the body: "+err.Error())
		return
	}
	if len(raw) > maxRequestBytes {
		WriteError(w, http.StatusRequestEntityTooLarge, "M_TOO_LARGE", fmt.Sprintf("body larger than %d bytes", maxRequestBytes))
		return
	}
	var req SendRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		WriteError(w, http.StatusBadRequest, "M_BAD_JSON", "body is not a message: "+err.Error())
		return
	}
	if msg := checkSend(req); msg != "" {
		WriteError(w, http.StatusBadRequest, "M_INVALID_PARAM", msg)
		return
	}
	if req.HasMedia() && !s.resolveMedia(ctx, w, q, &req.Reply) {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		WriteError(w, http.StatusBadRequest, "M_INVALID_PARAM", "Idempotency-Key is at most 255 characters")
		return
	}
	sum := sha256.Sum256(append([]byte(q.bot.String()+"\x00"), raw...))
	reqHash := hex.EncodeToString(sum[:])

	out, queued, err := s.queue(ctx, q, req, key, reqHash)
	if errors.Is(err, errNeedRoom) {
		if a := s.openDM(ctx, q, req.To); a != nil {
			out, queued, err = *a, false, nil
		} else {
			out, queued, err = s.queue(ctx, q, req, key, reqHash)
		}
	}
	if errors.Is(err, errNeedRoom) {
		out, queued, err = errAnswer(http.StatusServiceUnavailable, "BB_OPENING_CHAT",
			"the direct chat is being opened; retry with the same Idempotency-Key in a few seconds"), false, nil
		out.retryAfter = 2
	}
	if err != nil {
		s.internal(w, err, "send message")
		return
	}
	if queued {
		q.log.Info().Str("message_id", mustID(out)).Msg("message queued through the send API")
		if s.OnOutbox != nil {
			s.OnOutbox()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if out.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(out.retryAfter))
	}
	w.WriteHeader(out.status)
	_, _ = w.Write(out.body)
}

// queue records the message and its Idempotency-Key in one transaction
// (or finds the answer kept for the key). errNeedRoom: the customer has
// no direct chat with the bot; nothing was written.
func (s *Server) queue(ctx context.Context, q request, req SendRequest, key, reqHash string) (answer, bool, error) {
	var out answer
	queued := false
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		queued = false
		if key != "" {
			prev, err := claimKey(ctx, tx, q.business, key, reqHash)
			if err != nil || prev != nil {
				if prev != nil {
					out = *prev
				}
				return err
			}
		}
		var err error
		out, queued, err = s.send(ctx, tx, q, req)
		if err != nil {
			return err
		}
		if key != "" {
			_, err = tx.ExecContext(ctx, `UPDATE sendapi_idempotency SET status = $1, response = $2 WHERE business = $3 AND idem_key = $4`,
				out.status, string(out.body), q.business, key)
		}
		return err
	})
	return out, queued, err
}

func mustID(a answer) string {
	var r SendResponse
	_ = json.Unmarshal(a.body, &r)
	return r.ID
}

func checkSend(req SendRequest) string {
	switch {
	case req.To == "" && req.RoomID == "":
		return "say where the message goes: \"to\" (a customer's user id) or \"room_id\""
	case req.To != "" && req.RoomID != "":
		return "give \"to\" or \"room_id\", not both"
	}
	if req.To != "" {
		if _, _, err := req.To.Parse(); err != nil {
			return "to must be a Matrix user id like @alice:example.org"
		}
	}
	if err := wire.Check("message", req.Reply); err != nil {
		return err.Error()
	}
	return ""
}

// claimKey records key for this request, or returns the answer kept for
// it (a 422 when the same key came with another body). On Postgres a
// concurrent request with the same key waits here for the first to commit.
func claimKey(ctx context.Context, tx *sql.Tx, business, key, reqHash string) (*answer, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO sendapi_idempotency (business, idem_key, request_hash, status, response, created_at)
		VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (business, idem_key) DO NOTHING`, business, key, reqHash, store.Now())
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, nil
	}
	var hash, body string
	var status int
	err = tx.QueryRowContext(ctx, `SELECT request_hash, status, response FROM sendapi_idempotency WHERE business = $1 AND idem_key = $2`,
		business, key).Scan(&hash, &status, &body)
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	if hash != reqHash {
		a := errAnswer(http.StatusUnprocessableEntity, "BB_IDEMPOTENCY_MISMATCH",
			"this Idempotency-Key was used with a different request; use a new key for a new message")
		return &a, nil
	}
	return &answer{status: status, body: []byte(body)}, nil
}

// send resolves where the message goes and queues it, or says why not.
func (s *Server) send(ctx context.Context, tx *sql.Tx, q request, req SendRequest) (answer, bool, error) {
	bot := q.bot.String()
	room := req.RoomID.String()
	if req.To != "" {
		cust, err := store.LoadCustomer(ctx, tx, bot, req.To.String())
		if err != nil {
			return answer{}, false, err
		}
		if cust == nil {
			return errAnswer(http.StatusForbidden, "M_FORBIDDEN",
				req.To.String()+" has never talked to "+bot+"; bots do not send cold messages"), false, nil
		}
		if given, ok := cust.Consent[ConsentMessages]; ok && !given {
			return errAnswer(http.StatusForbidden, "M_FORBIDDEN", req.To.String()+" said stop: no messages until they write again"), false, nil
		}
		room, err = findDirectRoom(ctx, tx, bot, req.To.String())
		if err != nil {
			return answer{}, false, err
		}
		if room == "" && s.Rooms != nil {
			return answer{}, false, errNeedRoom
		}
		if room == "" {
			return errAnswer(http.StatusConflict, "BB_NO_DIRECT_CHAT",
				req.To.String()+" has no open direct chat with "+bot+" (they left it); they can write to the bot again"), false, nil
		}
	} else {
		in, err := store.BotInRoom(ctx, tx, bot, room)
		if err != nil {
			return answer{}, false, err
		}
		if !in {
			return errAnswer(http.StatusForbidden, "M_FORBIDDEN", bot+" is not in room "+room), false, nil
		}
	}
	conv := handlers.NewConversation(q.bot, id.RoomID(room), handlers.Customer{ID: req.To}, "")
	wire.Queue(conv, req.Reply)
	var rows []store.OutgoingEvent
	for _, o := range conv.Outbox() {
		rows = append(rows, store.OutgoingEvent{RoomID: room, BotUserID: bot, Type: o.Type.Type, Content: o.Content,
			Meta: o.Meta, ParentIndex: o.Parent})
	}
	ids, err := store.AppendOutbox(ctx, tx, rows)
	if err != nil {
		return answer{}, false, err
	}
	msgID, err := newMessageID()
	if err != nil {
		return answer{}, false, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO sendapi_messages (id, business, bot_user_id, room_id, outbox_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, msgID, q.business, bot, room, ids[0], store.Now())
	if err != nil {
		return answer{}, false, fmt.Errorf("record message: %w", err)
	}
	return jsonAnswer(http.StatusAccepted, SendResponse{ID: msgID}), true, nil
}

func newMessageID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "m_" + hex.EncodeToString(b), nil
}

// MessageStatus is the answer to GET …/messages/{id}.
type MessageStatus struct {
	ID     string    `json:"id"`
	RoomID id.RoomID `json:"room_id"`
	// Status is queued, sent, failed, or expired (its record was pruned).
	Status  string     `json:"status"`
	EventID id.EventID `json:"event_id,omitempty"`
	SentAt  *time.Time `json:"sent_at,omitempty"`
	Error   string     `json:"error,omitempty"`
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, q request) {
	ctx := r.Context()
	msgID := r.PathValue("id")
	var room string
	var outboxID int64
	err := s.DB.QueryRowContext(ctx, `SELECT room_id, outbox_id FROM sendapi_messages WHERE id = $1 AND business = $2 AND bot_user_id = $3`,
		msgID, q.business, q.bot.String()).Scan(&room, &outboxID)
	if errors.Is(err, sql.ErrNoRows) {
		WriteError(w, http.StatusNotFound, "M_NOT_FOUND", "No message "+msgID+" from "+q.bot.String())
		return
	}
	if err != nil {
		s.internal(w, err, "read message")
		return
	}
	st, err := store.LoadOutboxState(ctx, s.DB, outboxID)
	if err != nil {
		s.internal(w, err, "read message state")
		return
	}
	out := MessageStatus{ID: msgID, RoomID: id.RoomID(room), Status: "expired"}
	if st != nil {
		out.Status, out.EventID = st.Status, id.EventID(st.EventID)
		switch st.Status {
		case "pending":
			out.Status = "queued"
		case "sent":
			t := time.UnixMilli(st.SentAt).UTC()
			out.SentAt = &t
		case "failed":
			out.Error = st.LastError
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// CustomerInfo is the answer to GET …/customers/{user_id}: what the bot's
// business knows of the customer.
type CustomerInfo struct {
	ID          id.UserID         `json:"id"`
	DisplayName string            `json:"display_name"`
	FirstSeen   time.Time         `json:"first_seen"`
	LastSeen    time.Time         `json:"last_seen"`
	Consent     map[string]bool   `json:"consent"`
	Facts       map[string]string `json:"facts"`
	History     []HistoryEntry    `json:"history"`
}

// HistoryEntry is one entry of the customer's history with the business.
type HistoryEntry struct {
	Kind    string          `json:"kind"`
	Summary string          `json:"summary"`
	Data    json.RawMessage `json:"data,omitempty"`
	Time    time.Time       `json:"time"`
}

// historyLimit is how many history entries GET customers returns.
const historyLimit = 50

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, q request) {
	ctx := r.Context()
	user := id.UserID(r.PathValue("user"))
	c, err := store.LoadCustomer(ctx, s.DB, q.bot.String(), user.String())
	if err != nil {
		s.internal(w, err, "read customer")
		return
	}
	if c == nil {
		WriteError(w, http.StatusNotFound, "M_NOT_FOUND", user.String()+" has never talked to "+q.bot.String())
		return
	}
	hist, err := store.History(ctx, s.DB, q.bot.String(), user.String(), historyLimit)
	if err != nil {
		s.internal(w, err, "read history")
		return
	}
	out := CustomerInfo{ID: user, DisplayName: c.DisplayName, FirstSeen: time.UnixMilli(c.FirstSeen).UTC(),
		LastSeen: time.UnixMilli(c.LastSeen).UTC(), Consent: c.Consent, Facts: c.Facts, History: []HistoryEntry{}}
	if out.Consent == nil {
		out.Consent = map[string]bool{}
	}
	if out.Facts == nil {
		out.Facts = map[string]string{}
	}
	for _, h := range hist {
		e := HistoryEntry{Kind: h.Kind, Summary: h.Summary, Time: time.UnixMilli(h.CreatedAt).UTC()}
		if json.Valid(h.Data) && string(h.Data) != "{}" {
			e.Data = h.Data
		}
		out.History = append(out.History, e)
	}
	writeJSON(w, http.StatusOK, out)
}
