package support

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// Ticket statuses.
const (
	statusOpen    = "open"    // waiting for a person
	statusClaimed = "claimed" // an agent has it
	statusClosed  = "closed"
)

// ticket is one row of support_tickets.
type ticket struct {
	Number       int64
	CustomerID   id.UserID
	CustomerName string
	Room         id.RoomID
	Subject      string
	Topic        string
	Status       string
	AgentID      id.UserID
	AgentName    string
	StaffRoom    id.RoomID
	OpenedEvent  id.EventID
	OutboxAfter  int64
	RootEvent    id.EventID
	Rating       int // 0: none
	CreatedAt    int64
	ClosedAt     int64 // 0 while not closed
}

// forgotten says whether the customer asked to be forgotten (the row was
// anonymised).
func (t *ticket) forgotten() bool { return t.CustomerID == "" }

// ticketQuery reads support_tickets for one bot; writes are functions
// taking the turn's transaction, run through Conversation.OnCommit.
type ticketQuery struct {
	db  *store.DB
	bot string
}

const ticketColumns = `number, customer_id, customer_name, room_id, subject, topic, status, agent_id, agent_name,
	staff_room, opened_event_id, outbox_after, root_event_id, rating, created_at, COALESCE(closed_at, 0)`

func scanTicket(row interface{ Scan(...any) error }) (*ticket, error) {
	var t ticket
	var cust, room, agent, staffRoom, opened, root string
	var rating sql.NullInt64
	err := row.Scan(&t.Number, &cust, &t.CustomerName, &room, &t.Subject, &t.Topic, &t.Status, &agent, &t.AgentName,
		&staffRoom, &opened, &t.OutboxAfter, &root, &rating, &t.CreatedAt, &t.ClosedAt)
	if err != nil {
		return nil, err
	}
	t.CustomerID, t.Room, t.AgentID, t.StaffRoom = id.UserID(cust), id.RoomID(room), id.UserID(agent), id.RoomID(staffRoom)
	t.OpenedEvent, t.RootEvent, t.Rating = id.EventID(opened), id.EventID(root), int(rating.Int64)
	return &t, nil
}

// one reads the ticket matching where, whose $1 is the bot.
func (q ticketQuery) one(ctx context.Context, where string, args ...any) (*ticket, error) {
	t, err := scanTicket(q.db.QueryRowContext(ctx, `SELECT `+ticketColumns+` FROM support_tickets WHERE `+where,
		append([]any{q.bot}, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read support ticket: %w", err)
	}
	return t, nil
}

// byNumber returns ticket n, or nil.
func (q ticketQuery) byNumber(ctx context.Context, n int64) (*ticket, error) {
	return q.one(ctx, `bot_user_id = $1 AND number = $2`, n)
}

// openFor returns the customer's ticket that is not closed, or nil.
func (q ticketQuery) openFor(ctx context.Context, customer id.UserID) (*ticket, error) {
	return q.one(ctx, `bot_user_id = $1 AND customer_id = $2 AND status <> 'closed'`, customer.String())
}

// lastFor returns the customer's newest ticket, or nil.
func (q ticketQuery) lastFor(ctx context.Context, customer id.UserID) (*ticket, error) {
	return q.one(ctx, `bot_user_id = $1 AND customer_id = $2 ORDER BY number DESC LIMIT 1`, customer.String())
}

// nextNumber is the number a new ticket would get. Two customers may be
// told the same one; the primary key lets only one commit, and the other
// is handled again (ErrConflict) and gets the next.
func (q ticketQuery) nextNumber(ctx context.Context) (int64, error) {
	var n int64
	err := q.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM support_tickets WHERE bot_user_id = $1`, q.bot).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("next ticket number: %w", err)
	}
	return n, nil
}

// waiting counts tickets nobody has claimed yet.
func (q ticketQuery) waiting(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM support_tickets WHERE bot_user_id = $1 AND status = 'open'`, q.bot).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count waiting tickets: %w", err)
	}
	return n, nil
}

// notClosed lists tickets still open or claimed, oldest first.
func (q ticketQuery) notClosed(ctx context.Context, limit int) ([]*ticket, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+ticketColumns+` FROM support_tickets
		WHERE bot_user_id = $1 AND status <> 'closed' ORDER BY number LIMIT $2`, q.bot, limit)
	if err != nil {
		return nil, fmt.Errorf("list open tickets: %w", err)
	}
	defer rows.Close()
	var out []*ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("list open tickets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// forEvent finds the ticket a bot post in the staff room belongs to: the
// outbox row that became the event names the turn that caused it, and
// support_posts maps that turn to its ticket. Both lookups are indexed
// (outbox.event_id, the support_posts key). 0 when the event is no post
// of ours about a ticket.
func (q ticketQuery) forEvent(ctx context.Context, room id.RoomID, event id.EventID) (int64, error) {
	if event == "" {
		return 0, nil
	}
	var n int64
	err := q.db.QueryRowContext(ctx, `SELECT p.number FROM outbox o
		JOIN support_posts p ON p.bot_user_id = o.bot_user_id AND p.cause_event_id = o.cause_event_id
		WHERE o.event_id = $1 AND o.event_id <> '' AND o.room_id = $2 AND o.bot_user_id = $3 AND o.cause_event_id <> ''`,
		event.String(), room.String(), q.bot).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find ticket of event: %w", err)
	}
	return n, nil
}

// rootEvent returns the event id of the ticket's post in staffRoom, the
// root of its thread: cached on the ticket once known, else found as the
// first outbox row after the ticket's watermark in that room caused by
// the event that opened it (a primary-key range scan). found is false
// while the post is not sent yet (or could not be), or when the ticket
// was posted to another staff room; cache says whether to remember it.
func (q ticketQuery) rootEvent(ctx context.Context, t *ticket, staffRoom id.RoomID) (root id.EventID, cache bool, err error) {
	if staffRoom == "" || t.StaffRoom != staffRoom {
		return "", false, nil
	}
	if t.RootEvent != "" {
		return t.RootEvent, false, nil
	}
	if t.OpenedEvent == "" {
		return "", false, nil
	}
	var ev string
	err = q.db.QueryRowContext(ctx, `SELECT event_id FROM outbox
		WHERE id > $1 AND room_id = $2 AND bot_user_id = $3 AND cause_event_id = $4 AND event_id <> ''
		ORDER BY id LIMIT 1`, t.OutboxAfter, staffRoom.String(), q.bot, t.OpenedEvent.String()).Scan(&ev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find ticket's staff-room post: %w", err)
	}
	return id.EventID(ev), true, nil
}

// --- writes, inside the turn's transaction ---

// insert adds a new ticket. A lost race for the number, or a second open
// ticket for the same customer, is a conflict: the event is handled again
// and sees the winner.
func (q ticketQuery) insert(ctx context.Context, tx *sql.Tx, t *ticket, now int64) error {
	// The ticket's staff-room post is appended to the outbox after this
	// (the framework writes replies last), so its id is above this mark.
	var after int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM outbox`).Scan(&after); err != nil {
		return fmt.Errorf("read outbox mark: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO support_tickets (bot_user_id, number, customer_id, customer_name, room_id,
			subject, topic, status, staff_room, opened_event_id, outbox_after, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $11, $11)`,
		q.bot, t.Number, t.CustomerID.String(), t.CustomerName, t.Room.String(), t.Subject, t.Topic,
		t.StaffRoom.String(), t.OpenedEvent.String(), after, now)
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("open ticket %d: %w", t.Number, handlers.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("open ticket %d: %w", t.Number, err)
	}
	return nil
}

// notePost remembers that the turn caused by cause posted about ticket n
// in the staff room.
func (q ticketQuery) notePost(ctx context.Context, tx *sql.Tx, cause id.EventID, n int64) error {
	if cause == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO support_posts (bot_user_id, cause_event_id, number) VALUES ($1, $2, $3)
		ON CONFLICT (bot_user_id, cause_event_id) DO NOTHING`, q.bot, cause.String(), n)
	if err != nil {
		return fmt.Errorf("note staff-room post: %w", err)
	}
	return nil
}

// change runs a conditional update of ticket n (query names its
// parameters in order, as SQLite binds them by first appearance). When the
// condition no longer holds — another turn changed the ticket since we
// read it — it is a conflict, and the event is handled again against the
// new state.
func change(ctx context.Context, tx *sql.Tx, n int64, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("update ticket %d: %w", n, handlers.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update ticket %d: %w", n, err)
	}
	if k, err := res.RowsAffected(); err == nil && k != 1 {
		return fmt.Errorf("ticket %d changed meanwhile: %w", n, handlers.ErrConflict)
	}
	return nil
}

// forget anonymises the customer's tickets: the rows stay (numbers are
// never reused, staff see "forgotten") without anything about the person.
func forgetTickets(ctx context.Context, tx *sql.Tx, bot, customer id.UserID, now int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE support_tickets SET customer_id = '', customer_name = '', room_id = '',
			subject = '', topic = '', status = 'closed', closed_at = COALESCE(closed_at, $1), updated_at = $1
		WHERE bot_user_id = $2 AND customer_id = $3`, now, bot.String(), customer.String())
	if err != nil {
		return fmt.Errorf("forget support tickets: %w", err)
	}
	return nil
}

// shorten caps text for one line of a listing.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
