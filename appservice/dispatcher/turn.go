package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// historySummaryRunes caps the text kept in a customer's history per
// message.
const historySummaryRunes = 500

// turn is one customer event handled by one bot: the conversation as
// loaded, and what must be recorded besides the handler's own effects.
type turn struct {
	bot  *Bot
	conv *handlers.Conversation
	msg  *handlers.Message
	// touch records contact with the customer (first/last seen).
	touch bool
	// logText keeps the message text in the customer's history.
	logText bool
	// crypto, when set, also forgets the customer's crypto material.
	crypto Crypto
}

// newTurn loads what the bot knows of the customer and the conversation
// (known: already read, or nil), and resolves an answer to the bot's open
// question.
func (d *Dispatcher) newTurn(ctx context.Context, bot *Bot, room id.RoomID, m handlers.Message, direct bool, known *store.TurnRows) (*turn, error) {
	user := m.Sender
	var rows store.TurnRows
	if known != nil {
		rows = *known
	} else {
		var err error
		if rows, err = store.LoadTurn(ctx, d.db, bot.UserID.String(), room.String(), user.String()); err != nil {
			return nil, err
		}
	}
	row, st := rows.Customer, rows.State
	cust := handlers.Customer{ID: user, DisplayName: rows.MemberName, New: row == nil}
	if row != nil {
		if cust.DisplayName == "" {
			cust.DisplayName = row.DisplayName
		}
		cust.FirstSeen, cust.LastSeen = time.UnixMilli(row.FirstSeen), time.UnixMilli(row.LastSeen)
		cust.Facts, cust.Consent = row.Facts, row.Consent
	}
	conv := handlers.NewConversation(bot.UserID, room, cust, m.ID)
	conv.Direct = direct
	loaded := handlers.Loaded{Backend: d, Thread: m.ThreadRoot, Now: d.opts.Clock, Language: bot.Config.Language, Polls: bot.Config.Polls}
	if st != nil {
		loaded.Step, loaded.State = st.Step, st.State
		if st.ExpiresAt > 0 {
			loaded.Expires = time.UnixMilli(st.ExpiresAt)
		}
		if len(st.Question) > 0 {
			var q handlers.Question
			if json.Unmarshal(st.Question, &q) == nil {
				loaded.Question = &q
			}
		}
	}
	conv.Load(loaded)

	switch {
	case m.Kind == handlers.KindReaction:
		owner, meta, err := store.OutboxMeta(ctx, d.db, room.String(), m.RelatesTo.String())
		if err != nil {
			return nil, err
		}
		if owner == bot.UserID.String() {
			// In a group, a reaction answers only the question asked of
			// the one reacting: someone else's is not theirs to answer.
			// A question asked of nobody in particular (a welcome) is
			// anyone's, in their own conversation.
			mine := direct
			if !mine {
				asked, err := store.QuestionAskedOf(ctx, d.db, room.String(), m.RelatesTo.String())
				if err != nil {
					return nil, err
				}
				mine = asked == "" || asked == user.String()
			}
			if mine {
				m.Choice, m.Stale = conv.Question().React(meta, m.Reaction)
			}
		}
	case m.IsText():
		m.Choice = conv.Question().Match(m.Text())
	}
	if m.Choice != nil {
		conv.Answered()
	}
	return &turn{bot: bot, conv: conv, msg: &m, touch: m.Kind != handlers.KindTimer, logText: m.IsText(),
		crypto: d.opts.Encryption.Crypto}, nil
}

// History implements handlers.Backend for conversations.
func (d *Dispatcher) History(ctx context.Context, bot, customer id.UserID, limit int, kinds ...string) ([]handlers.Record, error) {
	rows, err := store.History(ctx, d.db, bot.String(), customer.String(), limit, kinds...)
	if err != nil {
		return nil, err
	}
	out := make([]handlers.Record, len(rows))
	for i, r := range rows {
		out[i] = handlers.Record{Kind: r.Kind, Summary: r.Summary, Data: r.Data, Time: time.UnixMilli(r.CreatedAt)}
	}
	return out, nil
}

// PowerLevel implements handlers.Backend: the homeserver is asked at the
// time of the question, as the bot, so a promotion or demotion counts at
// once. A room with no power levels event gives everyone 0.
func (d *Dispatcher) PowerLevel(ctx context.Context, bot id.UserID, room id.RoomID, user id.UserID) (int, error) {
	hs, ok := d.hs.(PowerLevels)
	if !ok {
		return 0, errors.New("read power levels: the homeserver connection cannot")
	}
	pl, err := hs.PowerLevels(ctx, bot, room)
	switch {
	case errors.Is(err, mautrix.MNotFound):
		return 0, nil
	case err != nil:
		if v := hsclient.Classify(err); v.Retry {
			return 0, handlers.Temporary(fmt.Errorf("read power levels: %s", v.Reason))
		}
		return 0, fmt.Errorf("read power levels: %w", err)
	}
	return pl.GetUserLevel(user), nil
}

// commit writes a turn's effects inside the event's transaction. The
// customer's row, history lines and replies are written with the other
// rooms' of the group commit (store's *Later functions), unless a later
// step of the turn reads them: then everything deferred is written first.
func (t *turn) commit(ctx context.Context, tx store.Tx, now time.Time, log zerolog.Logger) (rooms []string, err error) {
	e := t.conv.Effects()
	bot, user, room := t.bot.UserID.String(), t.conv.Customer.ID.String(), t.conv.Room.String()
	ms := now.UnixMilli()
	if len(e.Facts) > 0 || len(e.Consent) > 0 {
		// UpdateCustomerFacts reads the row.
		if err := store.TouchCustomer(ctx, tx, bot, user, t.conv.Customer.DisplayName, ms); err != nil {
			return nil, err
		}
	} else if t.touch {
		if err := store.TouchCustomerLater(ctx, tx, bot, user, t.conv.Customer.DisplayName, ms); err != nil {
			return nil, err
		}
	}
	if t.logText && t.msg.Text() != "" {
		data, _ := json.Marshal(map[string]string{"event_id": t.msg.ID.String()})
		summary := handlers.CapText(t.msg.Text(), historySummaryRunes)
		if err := store.AddHistoryLater(ctx, tx, bot, user, "message", summary, data, ms); err != nil {
			return nil, err
		}
	}
	if e.StateChanged || e.QuestionChanged {
		row := store.StateRow{Step: e.Step, State: e.State}
		if !e.StateExpires.IsZero() {
			row.ExpiresAt = e.StateExpires.UnixMilli()
		}
		if e.Question != nil {
			row.Question, _ = json.Marshal(e.Question)
		}
		if err := store.SaveState(ctx, tx, bot, room, user, row, ms); err != nil {
			return nil, err
		}
	}
	if err := store.UpdateCustomerFacts(ctx, tx, bot, user, e.Facts, e.Consent); err != nil {
		return nil, err
	}
	for _, r := range e.Records {
		if err := store.AddHistoryLater(ctx, tx, bot, user, r.Kind, r.Summary, r.Data, r.Time.UnixMilli()); err != nil {
			return nil, err
		}
	}
	for _, tm := range e.Timers {
		tRoom, tUser := room, user
		if tm.Room != "" && tm.Customer != "" {
			tRoom, tUser = tm.Room.String(), tm.Customer.String()
		}
		if err := store.AddTimer(ctx, tx, bot, tRoom, tUser, tm.Name, tm.Payload, tm.At.UnixMilli()); err != nil {
			return nil, err
		}
	}
	if len(e.Commits) > 0 || e.Forget {
		// A service's own writes and the erasure come after the turn's
		// (and may read them).
		if err := store.FlushLater(ctx, tx); err != nil {
			return nil, err
		}
	}
	for _, fn := range e.Commits {
		if err := fn(ctx, tx); err != nil {
			return nil, err
		}
	}
	if e.Forget {
		// After the turn's own writes, so they are erased too; before its
		// replies, which must still go out (the confirmation).
		var staffRoom func(string) bool
		if w, ok := t.bot.Handler.(handlers.Watcher); ok {
			staffRoom = func(room string) bool { return w.Watches(id.RoomID(room)) }
		}
		if err := store.ForgetCustomer(ctx, tx, bot, user, staffRoom); err != nil {
			return nil, err
		}
		if f, ok := t.bot.Handler.(handlers.Forgetter); ok {
			if err := f.ForgetCustomer(ctx, tx, t.bot.UserID, t.conv.Customer.ID); err != nil {
				return nil, fmt.Errorf("service's own erasure: %w", err)
			}
		}
		if t.crypto != nil {
			if err := t.crypto.ForgetCustomer(ctx, tx, t.bot.UserID, t.conv.Customer.ID); err != nil {
				return nil, err
			}
		}
		// No customer id: the log must not keep a list of who asked.
		log.Info().Str("bot", bot).Msg("customer data erased on request")
	}
	rows, err := outboxRows(ctx, tx, t.conv, t.conv.Cause(), log)
	if err != nil {
		return nil, err
	}
	if len(rows) > 0 {
		if err := store.AppendOutboxLater(ctx, tx, rows); err != nil {
			return nil, err
		}
	}
	return roomsOf(rows), nil
}

// outboxRows turns what a conversation queued into outbox rows, resolving
// proactive messages to the customer's direct room. A message with no
// room to go to is dropped (and logged), with the reactions hanging on it.
// cause is the event the rows answer ("" for none).
func outboxRows(ctx context.Context, q store.Querier, conv *handlers.Conversation, cause id.EventID, log zerolog.Logger) ([]store.OutgoingEvent, error) {
	queued := conv.Outbox()
	index := make([]int, len(queued)) // queued index → row index, -1 if dropped
	var rows []store.OutgoingEvent
	for i, o := range queued {
		index[i] = -1
		room := conv.Room
		if o.Room != "" {
			room = o.Room
		}
		if o.ToCustomer != "" {
			r, err := store.DirectRoom(ctx, q, conv.Bot.String(), o.ToCustomer.String())
			if err != nil {
				return nil, err
			}
			if r == "" {
				log.Warn().Str("bot", conv.Bot.String()).Str("customer", o.ToCustomer.String()).
					Msg("proactive message dropped: no direct chat with that customer")
				continue
			}
			room = id.RoomID(r)
		}
		parent := -1
		if o.Parent >= 0 {
			if o.Parent >= i || index[o.Parent] < 0 {
				continue
			}
			parent = index[o.Parent]
		}
		index[i] = len(rows)
		rows = append(rows, store.OutgoingEvent{
			RoomID: room.String(), BotUserID: conv.Bot.String(), Type: o.Type.Type, Content: o.Content,
			CauseEventID: cause.String(), Meta: o.Meta, ParentIndex: parent,
		})
	}
	return rows, nil
}

// Notify queues a proactive message from bot to a customer's direct chat,
// outside any conversation turn (an order status change coming from
// outside). It is committed at once and delivered by the sender exactly
// once. It fails when the bot has no direct chat with the customer.
func (d *Dispatcher) Notify(ctx context.Context, bot, customer id.UserID, text string) error {
	if _, ok := d.Bot(bot); !ok {
		return fmt.Errorf("%s is not a configured bot", bot)
	}
	conv := handlers.NewConversation(bot, "", handlers.Customer{ID: customer}, "")
	conv.Notify(customer, text)
	err := d.db.Tx(ctx, func(tx store.Tx) error {
		room, err := store.DirectRoom(ctx, tx, bot.String(), customer.String())
		if err != nil {
			return err
		}
		if room == "" {
			return fmt.Errorf("%s has no direct chat with %s", bot, customer)
		}
		rows, err := outboxRows(ctx, tx, conv, "", d.log)
		if err != nil {
			return err
		}
		_, err = store.AppendOutbox(ctx, tx, rows)
		return err
	})
	if err == nil && d.OnOutbox != nil {
		d.OnOutbox()
	}
	return err
}

// roomsOf lists the rooms rows go to (a room once per row).
func roomsOf(rows []store.OutgoingEvent) []string {
	rooms := make([]string, len(rows))
	for i, r := range rows {
		rooms[i] = r.RoomID
	}
	return rooms
}
