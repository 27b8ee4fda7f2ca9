package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// customerLeft records a customer leaving (or removed from) a room and,
// when it was their direct chat with a bot, tells the bot's handler the
// conversation ended (handlers.Ender).
func (d *Dispatcher) customerLeft(ctx context.Context, evt *event.Event, target id.UserID, mem *event.MemberEventContent, log zerolog.Logger) (*outcome, error) {
	room := evt.RoomID
	membership, name := string(mem.Membership), mem.Displayname
	write := func(ctx context.Context, tx store.Tx) error {
		return store.SetMember(ctx, tx, room.String(), target.String(), membership, name)
	}
	plain := &outcome{outcome: "handled", writes: []func(context.Context, store.Tx) error{write}}
	bot, err := d.directBot(ctx, room, target)
	if err != nil || bot == nil {
		return plain, err
	}
	reason := handlers.EndedLeft
	if evt.Sender != target {
		reason = handlers.EndedRemoved
	}
	out, err := d.runEnded(ctx, bot, room, evt, target, reason, log)
	if out != nil {
		out.writes = append(out.writes, write)
	}
	return out, err
}

// directBot returns the bot whose direct chat room is with user (one bot,
// no other customer) if the bot's handler wants to hear the conversation
// end.
func (d *Dispatcher) directBot(ctx context.Context, room id.RoomID, user id.UserID) (*Bot, error) {
	inRoom, err := d.db.BotsInRoom(ctx, room.String())
	if err != nil || len(inRoom) != 1 {
		return nil, err
	}
	bot, ok := d.Bot(id.UserID(inRoom[0].BotUserID))
	if !ok {
		return nil, nil
	}
	if _, ok := bot.Handler.(handlers.Ender); !ok {
		return nil, nil
	}
	if w, ok := bot.Handler.(handlers.Watcher); ok && w.Watches(room) {
		return nil, nil // a staff room
	}
	// The same whether or not this leave is recorded yet: a deferred
	// event's writes are committed before it runs again.
	mine, err := d.db.Membership(ctx, room.String(), user.String())
	if err != nil || mine == "" {
		return nil, err
	}
	n, err := d.db.JoinedMemberCount(ctx, room.String())
	if err != nil {
		return nil, err
	}
	if mine == string(event.MembershipJoin) {
		n--
	}
	if n != 0 {
		return nil, nil // others are still there: a group
	}
	return bot, nil
}

// routeEnded tells the bot of an end timer (staff closed the
// conversation) that it ended.
func (d *Dispatcher) routeEnded(ctx context.Context, bot *Bot, evt *event.Event, reason string, log zerolog.Logger) (*outcome, error) {
	if _, ok := bot.Handler.(handlers.Ender); !ok {
		return &outcome{outcome: "ignored", note: "end of a conversation the bot does not follow"}, nil
	}
	return d.runEnded(ctx, bot, evt.RoomID, evt, evt.Sender, reason, log)
}

// runEnded runs the bot's Ended in a turn of its own. What it queues for
// the room is dropped: the customer is gone.
func (d *Dispatcher) runEnded(ctx context.Context, bot *Bot, room id.RoomID, evt *event.Event, customer id.UserID, reason string, log zerolog.Logger) (*outcome, error) {
	if err := d.ready(ctx, bot.UserID); err != nil {
		return nil, err
	}
	t, err := d.newTurn(ctx, bot, room, handlers.Message{ID: evt.ID, Sender: customer, Time: time.UnixMilli(evt.Timestamp)}, true, nil)
	if err != nil {
		return nil, err
	}
	t.touch, t.logText = false, false
	e := bot.Handler.(handlers.Ender)
	out := &outcome{outcome: "handled", conv: t.conv}
	err = d.call(ctx, t.conv, log, func(ctx context.Context) error { return e.Ended(ctx, t.conv, reason) })
	t.conv.DropReplies()
	if err != nil {
		var later *handlers.RetryError
		if errors.As(err, &later) {
			out.deferred = t
		}
		return out, err
	}
	out.turns = append(out.turns, t)
	return out, nil
}
