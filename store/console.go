package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// The business console's queries: its sessions and conversation holds
// (its own tables), and read-only views of the framework's inbox and
// outbox for a bot's direct rooms.

// ConsoleSession is a signed-in staff member.
type ConsoleSession struct {
	UserID    string
	CSRF      string
	ExpiresAt int64
}

// CreateConsoleSession stores a session under the hash of its cookie id.
func CreateConsoleSession(ctx context.Context, q Querier, idHash, user, csrf string, expiresAt int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, user_id, csrf, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, idHash, user, csrf, Now(), expiresAt)
	if err != nil {
		return fmt.Errorf("create console session: %w", err)
	}
	return nil
}

// LoadConsoleSession returns the unexpired session with that id hash, or
// nil.
func LoadConsoleSession(ctx context.Context, q Querier, idHash string, now int64) (*ConsoleSession, error) {
	var s ConsoleSession
	err := q.QueryRowContext(ctx, `SELECT user_id, csrf, expires_at FROM console_sessions
		WHERE id_hash = $1 AND expires_at > $2`, idHash, now).Scan(&s.UserID, &s.CSRF, &s.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load console session: %w", err)
	}
	return &s, nil
}

// DeleteConsoleSession signs a session out; expired sessions go too.
func DeleteConsoleSession(ctx context.Context, q Querier, idHash string, now int64) error {
	_, err := q.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = $1 OR expires_at <= $2`, idHash, now)
	if err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	return nil
}

// Conversation statuses as the console shows them.
const (
	ConvBot     = "bot"     // the bot answers
	ConvWaiting = "waiting" // a person holds it and the customer's last message has no answer yet
	ConvAgent   = "agent"   // a person holds it and has answered
	ConvClosed  = "closed"  // closed, nothing new since
)

// SetConsoleRoom records who answers bot's conversation in room. It
// returns false, and changes nothing, when the status already is status
// (a repeated click), so callers say so to the customer only once.
func SetConsoleRoom(ctx context.Context, q Querier, bot, room, status, agent string) (bool, error) {
	var cur string
	err := q.QueryRowContext(ctx, `SELECT status FROM console_rooms WHERE bot_user_id = $1 AND room_id = $2`, bot, room).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		cur = ConvBot
	case err != nil:
		return false, fmt.Errorf("read conversation status: %w", err)
	}
	if cur == status {
		return false, nil
	}
	_, err = q.ExecContext(ctx, `INSERT INTO console_rooms (bot_user_id, room_id, status, agent, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (bot_user_id, room_id) DO UPDATE SET status = excluded.status, agent = excluded.agent,
			updated_at = excluded.updated_at`, bot, room, status, agent, Now())
	if err != nil {
		return false, fmt.Errorf("set conversation status: %w", err)
	}
	return true, nil
}

// ClaimReplyToken records a reply's form token; false means it was used
// already and the reply must not be queued again.
func ClaimReplyToken(ctx context.Context, q Querier, token string) (bool, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO console_replies (token, outbox_id, created_at) VALUES ($1, 0, $2)
		ON CONFLICT (token) DO NOTHING`, token, Now())
	if err != nil {
		return false, fmt.Errorf("claim reply token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim reply token: %w", err)
	}
	return n == 1, nil
}

// SetReplyOutbox links a claimed reply token to the outbox row it queued.
func SetReplyOutbox(ctx context.Context, q Querier, token string, outboxID int64) error {
	if _, err := q.ExecContext(ctx, `UPDATE console_replies SET outbox_id = $1 WHERE token = $2`, outboxID, token); err != nil {
		return fmt.Errorf("record reply: %w", err)
	}
	return nil
}

// ConsoleConversation is one line of a bot's inbox in the console.
type ConsoleConversation struct {
	RoomID       string
	Customer     string
	CustomerName string
	LastText     string
	LastFromBot  bool
	LastActivity int64 // ms
	Status       string
	Agent        string
	// WaitingSince is the customer's oldest unanswered message (ms), 0
	// when nothing waits.
	WaitingSince int64
}

// ConsoleMessage is one message of a conversation, from either side.
type ConsoleMessage struct {
	FromBot bool
	Sender  string
	Text    string
	Time    int64 // ms
	// Pending: a bot message the sender has not delivered yet.
	Pending bool
	Failed  bool
}

// consoleRoomLimit bounds the inbox page.
const consoleRoomLimit = 200

// ConsoleConversations lists bot's one-to-one conversations, newest
// activity first. One query reads every conversation's summary (each
// part an index range scan of the room); only conversations waiting for
// an answer need one more.
func ConsoleConversations(ctx context.Context, q Querier, bot string) ([]ConsoleConversation, error) {
	return consoleConversations(ctx, q, bot, "")
}

// consoleConversations lists bot's conversations, or only the one in room
// when room is not "".
func consoleConversations(ctx context.Context, q Querier, bot, room string) ([]ConsoleConversation, error) {
	// A notice ("a person is answering you now", an apology) tells the
	// customer about the conversation; it does not answer them. Contents
	// are compact JSON written by encoding/json, hence the plain LIKE.
	const fromCustomer = `i.room_id = br.room_id AND i.sender = rm.user_id AND i.event_type = 'm.room.message'`
	const fromBot = `o.room_id = br.room_id AND o.bot_user_id = br.bot_user_id AND o.event_type = 'm.room.message'`
	rows, err := q.QueryContext(ctx, `SELECT br.room_id, rm.user_id, rm.display_name,
			COALESCE(cr.status, 'bot'), COALESCE(cr.agent, ''), COALESCE(cr.updated_at, 0),
			(SELECT max(i.origin_ts) FROM inbox i WHERE `+fromCustomer+`),
			(SELECT i.event FROM inbox i WHERE `+fromCustomer+` ORDER BY i.seq DESC LIMIT 1),
			(SELECT max(o.created_at) FROM outbox o WHERE `+fromBot+`),
			(SELECT o.content FROM outbox o WHERE `+fromBot+` ORDER BY o.id DESC LIMIT 1),
			(SELECT max(o.created_at) FROM outbox o WHERE `+fromBot+` AND o.content NOT LIKE '%"msgtype":"m.notice"%')
		FROM bot_rooms br
		JOIN room_members rm ON rm.room_id = br.room_id AND rm.membership = 'join'
		LEFT JOIN console_rooms cr ON cr.bot_user_id = br.bot_user_id AND cr.room_id = br.room_id
		WHERE br.bot_user_id = $1 AND br.membership = 'join' AND ($2 = '' OR br.room_id = $2)
		  AND (SELECT count(*) FROM room_members x WHERE x.room_id = br.room_id AND x.membership = 'join') = 1
		ORDER BY br.updated_at DESC LIMIT $3`, bot, room, consoleRoomLimit)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	var out []ConsoleConversation
	var answered []int64 // per conversation: the bot's last answer (ms)
	for rows.Next() {
		var c ConsoleConversation
		var since int64
		var lastIn, lastOut, lastAnswer sql.NullInt64
		var inEvent, outContent sql.NullString
		if err := rows.Scan(&c.RoomID, &c.Customer, &c.CustomerName, &c.Status, &c.Agent, &since,
			&lastIn, &inEvent, &lastOut, &outContent, &lastAnswer); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list conversations: %w", err)
		}
		c.LastActivity = max(lastIn.Int64, lastOut.Int64, since)
		if lastIn.Int64 >= lastOut.Int64 && inEvent.Valid {
			c.LastText = eventBody(inEvent.String)
		} else if outContent.Valid {
			c.LastText, c.LastFromBot = contentBody(outContent.String), true
		}
		if lastIn.Int64 > lastAnswer.Int64 {
			c.WaitingSince = -1 // read below
		}
		if c.Status == ConvClosed && lastIn.Int64 > since {
			c.Status = ConvBot // the customer wrote again: the bot has it
		}
		out = append(out, c)
		answered = append(answered, lastAnswer.Int64)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	for i := range out {
		c := &out[i]
		if c.WaitingSince == 0 {
			continue
		}
		if err := q.QueryRowContext(ctx, `SELECT min(origin_ts) FROM inbox
			WHERE room_id = $1 AND sender = $2 AND event_type = 'm.room.message' AND origin_ts > $3`,
			c.RoomID, c.Customer, answered[i]).Scan(&c.WaitingSince); err != nil {
			return nil, fmt.Errorf("read waiting time: %w", err)
		}
		if c.Status == ConvAgent {
			c.Status = ConvWaiting
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastActivity > out[j].LastActivity })
	return out, nil
}

// ConsoleConversationIn returns bot's conversation in room, or nil when
// the room is not one of bot's one-to-one conversations.
func ConsoleConversationIn(ctx context.Context, q Querier, bot, room string) (*ConsoleConversation, error) {
	if room == "" {
		return nil, nil
	}
	one, err := consoleConversations(ctx, q, bot, room)
	if err != nil || len(one) == 0 {
		return nil, err
	}
	return &one[0], nil
}

// eventBody is the body of a stored event ("" when it has none or does
// not parse: intake stored it parsed, "forget me" empties it).
func eventBody(raw string) string {
	var ev struct {
		Content struct {
			Body string `json:"body"`
		} `json:"content"`
	}
	_ = json.Unmarshal([]byte(raw), &ev)
	return ev.Content.Body
}

// contentBody is the body of an outbox row's content.
func contentBody(raw string) string {
	var c struct {
		Body string `json:"body"`
	}
	_ = json.Unmarshal([]byte(raw), &c)
	return c.Body
}

// ConsoleMessages returns the last limit messages between bot and
// customer in room, oldest first: the customer's from the inbox, the
// bot's (and its agents') from the outbox. Notices count as messages;
// reactions and state do not.
func ConsoleMessages(ctx context.Context, q Querier, bot, room, customer string, limit int) ([]ConsoleMessage, error) {
	var out []ConsoleMessage
	rows, err := q.QueryContext(ctx, `SELECT event, origin_ts FROM inbox
		WHERE room_id = $1 AND sender = $2 AND event_type = 'm.room.message' ORDER BY seq DESC LIMIT $3`, room, customer, limit)
	if err != nil {
		return nil, fmt.Errorf("read customer messages: %w", err)
	}
	for rows.Next() {
		var raw string
		m := ConsoleMessage{Sender: customer}
		if err := rows.Scan(&raw, &m.Time); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read customer messages: %w", err)
		}
		if m.Text = eventBody(raw); m.Text != "" {
			out = append(out, m)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read customer messages: %w", err)
	}
	rows, err = q.QueryContext(ctx, `SELECT content, created_at, status FROM outbox
		WHERE room_id = $1 AND bot_user_id = $2 AND event_type = 'm.room.message' ORDER BY id DESC LIMIT $3`, room, bot, limit)
	if err != nil {
		return nil, fmt.Errorf("read bot messages: %w", err)
	}
	for rows.Next() {
		var raw, status string
		m := ConsoleMessage{FromBot: true, Sender: bot}
		if err := rows.Scan(&raw, &m.Time, &status); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read bot messages: %w", err)
		}
		m.Text, m.Pending, m.Failed = contentBody(raw), status == "pending", status == "failed"
		if m.Text != "" { // "forget me" empties the rows it keeps
			out = append(out, m)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read bot messages: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// ConsoleVersion changes whenever something the console shows may have
// changed (a new event, a queued or sent reply, a status change): live
// pages poll it and refresh when it moves.
func ConsoleVersion(ctx context.Context, q Querier) (string, error) {
	// Cheap on a big database: max() of primary keys, and a count over
	// the pending replies' partial index (it drops when one is sent).
	var in, out, pending, st sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT (SELECT max(seq) FROM inbox), (SELECT max(id) FROM outbox),
		(SELECT count(*) FROM outbox WHERE status = 'pending'), (SELECT max(updated_at) FROM console_rooms)`).Scan(&in, &out, &pending, &st)
	if err != nil {
		return "", fmt.Errorf("read console version: %w", err)
	}
	return fmt.Sprintf("%d.%d.%d.%d", in.Int64, out.Int64, pending.Int64, st.Int64), nil
}
