package support

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

const staffHelp = `Reply in a ticket's thread to answer the customer (the first reply claims it).
!claim N — take ticket N (or !claim in its thread)
!close N — close it and ask the customer for a rating (or !close in its thread)
!reply N text — answer without a thread
!tickets — list open tickets
!help — this list`

// staffMessage handles a message in the staff room. Only commands ("!…")
// and messages in (or quoting) a ticket's thread concern the bot; other
// talk among staff is left alone.
func (b *Bot) staffMessage(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Kind != handlers.KindMessage {
		return nil
	}
	cmd, args := staffCommand(m)
	inThread, err := b.ticketOf(ctx, c, m)
	if err != nil {
		return err
	}
	known := cmd == "claim" || cmd == "close" || cmd == "reply" || cmd == "tickets" || cmd == "help"
	if !known && inThread == 0 {
		return nil // staff talk, or another bot's command
	}
	if ok, err := b.staff.Allows(ctx, c); err != nil {
		return err
	} else if !ok {
		return handlers.Errorf("%s", b.staff.Refusal(c, "Nothing was sent to the customer."))
	}
	switch cmd {
	case "help":
		c.Notice(staffHelp)
		return nil
	case "tickets":
		return b.listTickets(ctx, c)
	case "claim", "close":
		n, err := ticketArg(args, inThread, cmd)
		if err != nil {
			return err
		}
		t, err := b.ticketNumbered(ctx, c, n)
		if err != nil {
			return err
		}
		if cmd == "claim" {
			return b.claim(ctx, c, t, n == inThread)
		}
		return b.close(ctx, c, t, n == inThread)
	case "reply":
		num, text, _ := strings.Cut(args, " ")
		n, err := ticketArg(num, 0, "reply")
		if err != nil || strings.TrimSpace(text) == "" {
			return handlers.Errorf("Usage: !reply 17 your answer")
		}
		t, err := b.ticketNumbered(ctx, c, n)
		if err != nil {
			return err
		}
		return b.answerCustomer(ctx, c, m, t, strings.TrimSpace(text), false)
	case "":
		t, err := b.ticketNumbered(ctx, c, inThread)
		if err != nil {
			return err
		}
		return b.answerCustomer(ctx, c, m, t, m.Text(), true)
	}
	return handlers.Errorf("I don't know !%s.\n%s", cmd, staffHelp)
}

// staffCommand splits "!claim 17" into ("claim", "17"); text that does
// not start with "!" is no command.
func staffCommand(m *handlers.Message) (cmd, args string) {
	if !m.IsText() {
		return "", ""
	}
	t := strings.TrimSpace(m.Text())
	if !strings.HasPrefix(t, "!") {
		return "", ""
	}
	cmd, args, _ = strings.Cut(strings.TrimPrefix(t, "!"), " ")
	return strings.ToLower(cmd), strings.TrimSpace(args)
}

// ticketArg reads a ticket number ("17", "#17"), or takes the thread's.
func ticketArg(arg string, inThread int64, cmd string) (int64, error) {
	arg = strings.TrimPrefix(strings.TrimSpace(arg), "#")
	if arg == "" {
		if inThread != 0 {
			return inThread, nil
		}
		return 0, handlers.Errorf("Usage: !%s 17 (or !%s in the ticket's thread).", cmd, cmd)
	}
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || n < 1 {
		return 0, handlers.Errorf("%q is not a ticket number. Usage: !%s 17", arg, cmd)
	}
	return n, nil
}

// ticketNumbered loads ticket n or fails with a message for staff.
func (b *Bot) ticketNumbered(ctx context.Context, c *handlers.Conversation, n int64) (*ticket, error) {
	t, err := b.tickets(c).byNumber(ctx, n)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, handlers.Errorf("There is no ticket %d. !tickets lists the open ones.", n)
	}
	return t, nil
}

// ticketOf finds the ticket a staff message is about: the thread it is
// in, or the bot post it quotes. 0 when none.
func (b *Bot) ticketOf(ctx context.Context, c *handlers.Conversation, m *handlers.Message) (int64, error) {
	q := b.tickets(c)
	for _, ev := range []id.EventID{m.ThreadRoot, m.InReplyTo} {
		n, err := q.forEvent(ctx, c.Room, ev)
		if err != nil || n != 0 {
			return n, err
		}
	}
	return 0, nil
}

// note tells the staff room about ticket t: as a reply where the staff
// member wrote when that is the ticket's thread, else into the thread (or
// the room, numbered).
func (b *Bot) note(ctx context.Context, c *handlers.Conversation, t *ticket, inThread bool, text string) error {
	if inThread {
		c.Reply(text)
		q, n, cause := b.tickets(c), t.Number, c.Cause()
		c.OnCommit(func(ctx context.Context, tx *sql.Tx) error { return q.notePost(ctx, tx, cause, n) })
		return nil
	}
	return b.toStaff(ctx, c, t, &event.MessageEventContent{MsgType: event.MsgText, Body: text})
}

func (b *Bot) claim(ctx context.Context, c *handlers.Conversation, t *ticket, inThread bool) error {
	switch {
	case t.Status == statusClosed:
		return handlers.Errorf("Ticket %d is closed. The customer can reopen it by writing to us.", t.Number)
	case t.AgentID == c.Customer.ID:
		c.Replyf("You already have ticket %d.", t.Number)
		return nil
	case t.Status == statusClaimed:
		return handlers.Errorf("Ticket %d is already claimed by %s.", t.Number, t.AgentName)
	}
	b.takeTicket(c, t)
	c.SendTo(t.Room, plainText(fmt.Sprintf("%s is now handling your ticket %d.", b.agent(c.Customer.Name()), t.Number)))
	return b.note(ctx, c, t, inThread, fmt.Sprintf("✋ %s claimed ticket %d. Reply in its thread to answer %s.", c.Customer.Name(), t.Number, t.CustomerName))
}

// takeTicket queues the claim of an unclaimed ticket by the sender.
func (b *Bot) takeTicket(c *handlers.Conversation, t *ticket) {
	q, n, now := b.tickets(c), t.Number, c.Now().UnixMilli()
	agent, name := c.Customer.ID.String(), c.Customer.Name()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		return change(ctx, tx, n, `UPDATE support_tickets SET status = 'claimed', agent_id = $1, agent_name = $2, updated_at = $3
			WHERE bot_user_id = $4 AND number = $5 AND status = 'open'`, agent, name, now, q.bot, n)
	})
	t.Status, t.AgentID, t.AgentName = statusClaimed, c.Customer.ID, name
}

func (b *Bot) close(ctx context.Context, c *handlers.Conversation, t *ticket, inThread bool) error {
	if t.Status == statusClosed {
		return handlers.Errorf("Ticket %d is already closed.", t.Number)
	}
	q, n, now := b.tickets(c), t.Number, c.Now()
	agent, name := c.Customer.ID.String(), c.Customer.Name()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		ms := now.UnixMilli()
		return change(ctx, tx, n, `UPDATE support_tickets SET status = 'closed', closed_at = $1, updated_at = $1,
				agent_id = CASE WHEN agent_id = '' THEN $2 ELSE agent_id END,
				agent_name = CASE WHEN agent_name = '' THEN $3 ELSE agent_name END
			WHERE bot_user_id = $4 AND number = $5 AND status <> 'closed'`, ms, agent, name, q.bot, n)
	})
	// The rating question must be asked in the customer's own
	// conversation (its open question and step live there): a timer
	// there, due now, carries it, exactly once and in order with the
	// customer's messages.
	c.AfterIn(t.Room, t.CustomerID, 0, timerRate, fmt.Sprintf("%d\t%s", n, name))
	return b.note(ctx, c, t, inThread, fmt.Sprintf("✅ %s closed ticket %d; %s is asked to rate it.", name, n, t.CustomerName))
}

// answerCustomer relays a staff member's message on ticket t to the
// customer, naming the agent. The first answer on an unclaimed ticket
// claims it.
func (b *Bot) answerCustomer(ctx context.Context, c *handlers.Conversation, m *handlers.Message, t *ticket, body string, useMessage bool) error {
	if t.Status == statusClosed {
		who := t.CustomerName
		if t.forgotten() {
			return handlers.Errorf("Ticket %d is closed and its customer asked us to forget them: nothing was sent.", t.Number)
		}
		return handlers.Errorf("Ticket %d is closed, so this was not sent to %s. They can reopen it by writing to us.", t.Number, who)
	}
	if t.Status == statusOpen {
		b.takeTicket(c, t)
		if err := b.note(ctx, c, t, useMessage && m.ThreadRoot != "", fmt.Sprintf("✋ %s claimed ticket %d.", c.Customer.Name(), t.Number)); err != nil {
			return err
		}
	}
	agent := b.agent(c.Customer.Name())
	switch {
	case useMessage && m.Media != "":
		c.SendTo(t.Room, mediaContent(m, agent))
	case useMessage && !m.IsText():
		return handlers.Errorf("Only text, images, files, audio and video can be passed on to %s.", t.CustomerName)
	case strings.TrimSpace(body) == "":
		return nil
	default:
		if useMessage && m.Edit {
			agent += " (edited)"
		}
		c.SendTo(t.Room, plainText(agent+": "+body))
	}
	return nil
}

func (b *Bot) listTickets(ctx context.Context, c *handlers.Conversation) error {
	const limit = 50
	open, err := b.tickets(c).notClosed(ctx, limit+1)
	if err != nil {
		return err
	}
	if len(open) == 0 {
		c.Notice("No open tickets. 🎉")
		return nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "Open tickets:")
	for i, t := range open {
		if i == limit {
			sb.WriteString("\n… and more")
			break
		}
		who := "waiting " + minutes(c.Now().Sub(time.UnixMilli(t.CreatedAt)))
		if t.Status == statusClaimed {
			who = "with " + t.AgentName
		}
		fmt.Fprintf(&sb, "\n%d · %s · %s · %s", t.Number, t.CustomerName, who, shorten(t.Subject, 60))
	}
	c.Notice(sb.String())
	return nil
}

func plainText(body string) *event.MessageEventContent {
	return &event.MessageEventContent{MsgType: event.MsgText, Body: body}
}
