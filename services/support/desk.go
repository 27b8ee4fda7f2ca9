package support

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

// The business console and the staff room share the tickets: a ticket
// taken over in the console is claimed by that person (and the staff room
// is told), and the console shows who claimed a ticket in the staff room.

var (
	_ handlers.Desk      = (*Bot)(nil)
	_ handlers.Historian = (*Bot)(nil)
)

// Holders implements handlers.Desk: the customers whose ticket someone
// claimed, and who.
func (b *Bot) Holders(ctx context.Context, bot id.UserID) (map[id.UserID]handlers.Holder, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT customer_id, agent_id, agent_name FROM support_tickets
		WHERE bot_user_id = $1 AND status = 'claimed' AND customer_id <> ''`, bot.String())
	if err != nil {
		return nil, fmt.Errorf("list claimed tickets: %w", err)
	}
	defer rows.Close()
	out := map[id.UserID]handlers.Holder{}
	for rows.Next() {
		var cust, agent, name string
		if err := rows.Scan(&cust, &agent, &name); err != nil {
			return nil, fmt.Errorf("list claimed tickets: %w", err)
		}
		out[id.UserID(cust)] = handlers.Holder{Agent: id.UserID(agent), Name: name, Where: "staff room"}
	}
	return out, rows.Err()
}

// Past implements handlers.Historian: the customer's tickets, newest
// first.
func (b *Bot) Past(ctx context.Context, bot, customer id.UserID, limit int) ([]handlers.Past, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT `+ticketColumns+` FROM support_tickets
		WHERE bot_user_id = $1 AND customer_id = $2 ORDER BY number DESC LIMIT $3`, bot.String(), customer.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("list customer's tickets: %w", err)
	}
	defer rows.Close()
	var out []handlers.Past
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("list customer's tickets: %w", err)
		}
		status := "waiting for a person"
		switch t.Status {
		case statusClaimed:
			status = "claimed by " + t.AgentName
		case statusClosed:
			status = "closed"
			if t.Rating > 0 {
				status = fmt.Sprintf("closed, rated %d/5", t.Rating)
			}
		}
		out = append(out, handlers.Past{Kind: "ticket", Ref: fmt.Sprint(t.Number), Summary: shorten(t.Topic, 80),
			Status: status, Time: time.UnixMilli(t.CreatedAt)})
	}
	return out, rows.Err()
}

// consoleName is how the staff room names a person working in the
// console.
func consoleName(agent id.UserID) string { return agent.String() }

// handoff keeps the customer's open ticket in step with the console: a
// take-over claims it for that person, a hand-back opens it again, a
// close closes it and asks for the rating. The staff room is told each
// time; the customer was told by the console.
func (b *Bot) handoff(ctx context.Context, c *handlers.Conversation, h *handlers.Handoff) error {
	q := b.tickets(c)
	t, err := q.openFor(ctx, c.Customer.ID)
	if err != nil || t == nil {
		return err
	}
	n, now, name := t.Number, c.Now().UnixMilli(), consoleName(h.Agent)
	switch h.Action {
	case handlers.HandoffTake:
		switch {
		case t.Status == statusClaimed && t.AgentID == h.Agent:
			return nil
		case t.Status == statusClaimed:
			return b.toStaff(ctx, c, t, plainText(fmt.Sprintf("⚠️ %s took the conversation with %s over in the business console; ticket %d stays claimed by %s.",
				name, t.CustomerName, n, t.AgentName)))
		}
		c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
			return change(ctx, tx, n, `UPDATE support_tickets SET status = 'claimed', agent_id = $1, agent_name = $2, updated_at = $3
				WHERE bot_user_id = $4 AND number = $5 AND status = 'open'`, h.Agent.String(), name, now, q.bot, n)
		})
		return b.toStaff(ctx, c, t, plainText(fmt.Sprintf("✋ %s took ticket %d over in the business console.", name, n)))
	case handlers.HandoffBack:
		if t.Status != statusClaimed || t.AgentID != h.Agent {
			return nil
		}
		c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
			return change(ctx, tx, n, `UPDATE support_tickets SET status = 'open', agent_id = '', agent_name = '', updated_at = $1
				WHERE bot_user_id = $2 AND number = $3 AND status = 'claimed' AND agent_id = $4`, now, q.bot, n, h.Agent.String())
		})
		return b.toStaff(ctx, c, t, plainText(fmt.Sprintf("↩️ %s handed ticket %d back to the bot in the business console; it is open again: !claim %d.", name, n, n)))
	case handlers.HandoffClose:
		c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
			return change(ctx, tx, n, `UPDATE support_tickets SET status = 'closed', closed_at = $1, updated_at = $1,
					agent_id = CASE WHEN agent_id = '' THEN $2 ELSE agent_id END,
					agent_name = CASE WHEN agent_name = '' THEN $3 ELSE agent_name END
				WHERE bot_user_id = $4 AND number = $5 AND status <> 'closed'`, now, h.Agent.String(), name, q.bot, n)
		})
		c.After(0, timerRate, fmt.Sprintf("%d\t%s", n, h.Agent.Localpart()))
		return b.toStaff(ctx, c, t, plainText(fmt.Sprintf("✅ %s closed ticket %d in the business console; %s is asked to rate it.", name, n, t.CustomerName)))
	}
	return nil
}
