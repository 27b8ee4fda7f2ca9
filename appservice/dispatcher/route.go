package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// outcome is what handling one event decided, applied at commit.
type outcome struct {
	outcome string // metric label
	note    string // kept on the inbox row
	conv    *handlers.Conversation
	replies []store.OutgoingEvent
	writes  []func(ctx context.Context, tx store.Tx) error
	turns   []*turn
	// deferred is the turn whose handler asked for the event again later
	// (handlers.RetryAt); only its effects are committed meanwhile.
	deferred *turn
	// sent counts the outbox rows apply added; rooms are where they go.
	sent  int
	rooms []string
	// reads are the customer events the bots read (for receipts).
	reads []read
	// seen records a decrypted event's Megolm message index (replay
	// protection): committed with the event however it ends, handled,
	// deferred or parked. May be nil.
	seen func(ctx context.Context, tx store.Tx) error
}

type read struct {
	bot   id.UserID
	event id.EventID
}

func (o *outcome) apply(ctx context.Context, tx store.Tx, now time.Time, log zerolog.Logger) error {
	o.sent, o.rooms = 0, nil
	if o.seen != nil {
		if err := o.seen(ctx, tx); err != nil {
			return err
		}
	}
	if len(o.writes) > 0 {
		// Membership writes may read what earlier rooms of the group
		// commit deferred: write that first.
		if err := store.FlushLater(ctx, tx); err != nil {
			return err
		}
	}
	for _, w := range o.writes {
		if err := w(ctx, tx); err != nil {
			return err
		}
	}
	for _, t := range o.turns {
		rooms, err := t.commit(ctx, tx, now, log)
		if err != nil {
			return err
		}
		o.sent += len(rooms)
		o.rooms = append(o.rooms, rooms...)
	}
	if len(o.replies) > 0 {
		if err := store.AppendOutboxLater(ctx, tx, o.replies); err != nil {
			return err
		}
		o.sent += len(o.replies)
		o.rooms = append(o.rooms, roomsOf(o.replies)...)
	}
	return nil
}

// route decides what an event means and runs the handler concerned. It
// does not write to the database: everything goes into the outcome. A
// returned error is temporary (the event is retried); the outcome may
// still carry the conversation, for an apology when the event is parked.
func (d *Dispatcher) route(ctx context.Context, ev *store.InboxEvent, log zerolog.Logger) (*outcome, error) {
	evt := &event.Event{}
	if err := json.Unmarshal(ev.JSON, evt); err != nil {
		return &outcome{outcome: "ignored", note: "unparseable event: " + err.Error()}, nil
	}
	if err := parseContent(evt); err != nil {
		return &outcome{outcome: "ignored", note: "malformed content: " + err.Error()}, nil
	}
	if ev.Origin == store.OriginTimer && evt.Type.Type == store.TimerEventType {
		// Only a row the timers table made is a fired timer.
		return d.routeTimer(ctx, evt, log)
	}
	if evt.Type == event.EventEncrypted && !d.isOurs(evt.Sender) {
		return d.routeEncrypted(ctx, ev, evt, log)
	}
	return d.routePlain(ctx, evt, log)
}

// routePlain routes an event that is not (or no longer) encrypted.
func (d *Dispatcher) routePlain(ctx context.Context, evt *event.Event, log zerolog.Logger) (*outcome, error) {
	switch {
	case evt.Type == event.StateEncryption:
		if c := d.opts.Encryption.Crypto; c != nil {
			c.EncryptionChanged(evt)
		}
		return &outcome{outcome: "handled", note: "room encryption settings"}, nil
	case evt.Type == event.StateMember:
		return d.routeMember(ctx, evt, log)
	case d.isOurs(evt.Sender):
		return &outcome{outcome: "ignored", note: "own echo"}, nil
	case strings.HasPrefix(evt.Type.Type, reservedPrefix):
		// Only bizbots makes events of its own namespace (fired timers
		// come from the timers table, never from the homeserver): one
		// sent by anyone else is a forgery, whatever it claims.
		return refused("reserved_type", "reserved event type sent by someone else"), nil
	case evt.Type == event.EventMessage, evt.Type == event.EventSticker:
		return d.routeMessage(ctx, evt, log)
	case evt.Type == event.EventReaction, handlers.IsPollResponse(evt.Type):
		return d.routeReaction(ctx, evt, log)
	case evt.Type == event.EventRedaction:
		return d.routeRedaction(ctx, evt, log)
	default:
		return &outcome{outcome: "ignored"}, nil
	}
}

// reservedPrefix is bizbots' own event type namespace.
const reservedPrefix = "org.bizbots."

// refused is the outcome of an event ignored on purpose because of who
// sent it; it is counted by reason.
func refused(reason, note string) *outcome {
	eventsRefused.WithLabelValues(reason).Inc()
	return &outcome{outcome: "ignored", note: note}
}

// optionalKeys are the parts of a message's content it can lose and still
// be the customer's message: a malformed relation or mention list (a
// client bug, or a forgery) must not make the whole message vanish.
var optionalKeys = []string{"m.relates_to", "m.mentions", "m.new_content", "format", "formatted_body"}

// parseContent parses evt's content for its type; when that fails on a
// malformed optional part, it drops those parts and parses again.
func parseContent(evt *event.Event) error {
	err := evt.Content.ParseRaw(evt.Type)
	if err == nil || errors.Is(err, event.ErrContentAlreadyParsed) || errors.Is(err, event.ErrUnsupportedContentType) {
		return nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(evt.Content.VeryRaw, &raw) != nil {
		return err
	}
	dropped := false
	for _, k := range optionalKeys {
		if _, ok := raw[k]; ok {
			delete(raw, k)
			dropped = true
		}
	}
	if !dropped {
		return err
	}
	clean, mErr := json.Marshal(raw)
	if mErr != nil {
		return err
	}
	evt.Content = event.Content{VeryRaw: clean}
	_ = json.Unmarshal(clean, &evt.Content.Raw)
	if err2 := evt.Content.ParseRaw(evt.Type); err2 != nil && !errors.Is(err2, event.ErrContentAlreadyParsed) && !errors.Is(err2, event.ErrUnsupportedContentType) {
		return err
	}
	return nil
}

func (d *Dispatcher) isOurs(uid id.UserID) bool {
	_, ok := d.Bot(uid)
	return ok || uid == d.sender
}

func (d *Dispatcher) routeMember(ctx context.Context, evt *event.Event, log zerolog.Logger) (*outcome, error) {
	if c := d.opts.Encryption.Crypto; c != nil {
		c.MemberChanged(ctx, evt)
	}
	mem := evt.Content.AsMember()
	target := id.UserID(evt.GetStateKey())
	room := evt.RoomID
	if mem.Membership == event.MembershipJoin && evt.Sender != target {
		// Only a user joins themself (the room auth rules): anything else
		// claiming that someone, one of our bots above all, is in a room
		// is not believed.
		return refused("forged_membership", "join sent for someone else"), nil
	}
	bot, isBot := d.Bot(target)
	if !isBot {
		if target == d.sender {
			return &outcome{outcome: "ignored", note: "invite to the appservice sender"}, nil
		}
		if mem.Membership == event.MembershipInvite && d.Upcoming != nil {
			// A bot added at run time that this process does not serve
			// yet: its invite (and the room's later events) wait for it.
			soon, err := d.Upcoming(ctx, target)
			if err != nil {
				return nil, err
			}
			if soon {
				return nil, &waitError{reason: fmt.Sprintf("bot %s is being added; its invite waits until it is served", target)}
			}
		}
		if mem.Membership == event.MembershipLeave || mem.Membership == event.MembershipBan {
			return d.customerLeft(ctx, evt, target, mem, log)
		}
		name := mem.Displayname
		return &outcome{outcome: "handled", writes: []func(context.Context, store.Tx) error{
			func(ctx context.Context, tx store.Tx) error {
				return store.SetMember(ctx, tx, room.String(), target.String(), string(mem.Membership), name)
			},
		}}, nil
	}
	switch mem.Membership {
	case event.MembershipInvite:
		return d.acceptInvite(ctx, bot, evt, mem, log)
	case event.MembershipJoin, event.MembershipLeave, event.MembershipBan:
		membership := string(mem.Membership)
		return &outcome{outcome: "handled", writes: []func(context.Context, store.Tx) error{
			func(ctx context.Context, tx store.Tx) error {
				return store.SetBotMembership(ctx, tx, bot.UserID.String(), room.String(), membership, false, "")
			},
		}}, nil
	}
	return &outcome{outcome: "ignored"}, nil
}

// acceptInvite joins the room as the bot, learns who is in it and queues
// the bot's welcome.
func (d *Dispatcher) acceptInvite(ctx context.Context, bot *Bot, evt *event.Event, mem *event.MemberEventContent, log zerolog.Logger) (*outcome, error) {
	room := evt.RoomID
	if err := d.ready(ctx, bot.UserID); err != nil {
		return nil, err
	}
	if err := d.hs.Join(ctx, bot.UserID, room); err != nil {
		v := hsclient.Classify(err)
		if hsclient.IsUnregistered(err) {
			// Registered in our records, unknown to the homeserver (or not
			// registered yet): register it and try again; never final.
			if d.Users != nil {
				d.Users.Unregistered(bot.UserID)
			}
			log.Warn().Str("bot", bot.UserID.String()).Str("reason", v.Reason).Msg("cannot join yet: the homeserver does not know the bot")
			return nil, &waitError{reason: "join: " + v.Reason}
		}
		if v.Retry {
			return nil, fmt.Errorf("join: %s", v.Reason)
		}
		log.Warn().Str("reason", v.Reason).Msg("could not accept invite")
		return &outcome{outcome: "ignored", note: "join refused: " + v.Reason}, nil
	}
	log.Info().Str("bot", bot.UserID.String()).Str("inviter", evt.Sender.String()).Bool("is_direct", mem.IsDirect).Msg("joined room on invite")
	members, err := d.hs.JoinedMembers(ctx, bot.UserID, room)
	if err != nil {
		// Not fatal: membership events will fill this in as they come.
		log.Warn().Str("reason", hsclient.Classify(err).Reason).Msg("could not list room members")
	}
	inviter := evt.Sender
	out := &outcome{outcome: "handled"}
	out.writes = append(out.writes, func(ctx context.Context, tx store.Tx) error {
		if err := store.SetBotMembership(ctx, tx, bot.UserID.String(), room.String(), "join", mem.IsDirect, inviter.String()); err != nil {
			return err
		}
		for uid, name := range members {
			if d.isOurs(uid) {
				continue
			}
			if err := store.SetMember(ctx, tx, room.String(), uid.String(), "join", name); err != nil {
				return err
			}
		}
		return nil
	})
	direct := mem.IsDirect
	if members != nil {
		direct = countCustomers(members, d.isOurs) == 1
	}
	t, err := d.newTurn(ctx, bot, room, handlers.Message{Sender: inviter, Time: time.UnixMilli(evt.Timestamp)}, direct, nil)
	if err != nil {
		return nil, err
	}
	t.touch, t.logText = false, false
	if name := members[inviter]; name != "" {
		t.conv.Customer.DisplayName = name
	}
	conv := t.conv
	out.conv = conv
	if refuse, err := d.refusePlaintextRoom(ctx, bot.UserID, room, direct, log); err != nil {
		return out, err
	} else if refuse {
		conv.Notice(textRequireE2EE)
	} else if w, ok := bot.Handler.(handlers.Welcomer); ok {
		if err := d.call(ctx, conv, log, func(ctx context.Context) error { return w.Welcome(ctx, conv) }); err != nil {
			var later *handlers.RetryError
			if errors.As(err, &later) {
				out.deferred = t
			}
			return out, err
		}
	} else if bot.Config.Welcome != "" {
		conv.Notice(bot.Config.Welcome)
	}
	out.turns = append(out.turns, t)
	return out, nil
}

func countCustomers(members map[id.UserID]string, ours func(id.UserID) bool) int {
	n := 0
	for uid := range members {
		if !ours(uid) {
			n++
		}
	}
	return n
}

// concerned lists the bots an event in a room is meant for: in a
// one-to-one room, its bot; in a group, the bots mentioned. The view also
// names the room's bots whose conversation a person took over (see
// withoutAgents) and holds each bot's turn rows for the event's sender.
func (d *Dispatcher) concerned(ctx context.Context, evt *event.Event) (bots []*Bot, direct bool, view store.RoomView, err error) {
	view, err = d.db.ViewRoom(ctx, evt.RoomID.String(), evt.Sender.String())
	if err != nil || len(view.Bots) == 0 {
		return nil, false, view, err
	}
	for _, br := range view.Bots {
		bot, ok := d.Bot(id.UserID(br.BotUserID))
		if !ok {
			continue // a bot removed from the config
		}
		// A room the bot watches (a staff room) is never a direct chat,
		// even when only one staff member is in it.
		watched := false
		if w, ok := bot.Handler.(handlers.Watcher); ok {
			watched = w.Watches(evt.RoomID)
		}
		isDM := !watched && len(view.Bots) == 1 && (view.Joined == 1 || (view.Joined == 0 && br.IsDirect))
		if isDM || watched || mentions(evt, bot) {
			bots = append(bots, bot)
			direct = direct || isDM
		}
	}
	return bots, direct, view, nil
}

func mentions(evt *event.Event, bot *Bot) bool {
	msg := evt.Content.AsMessage()
	// A client that sends m.mentions says exactly whom it mentions
	// (intentional mentions, spec v1.7): trust it and nothing else.
	if msg.Mentions != nil {
		return msg.Mentions.Has(bot.UserID)
	}
	// Older clients: the bot's id or display name as a whole word, or a
	// pill linking to the bot (reading the link target is safe; the HTML
	// itself is never used).
	if containsWord(msg.Body, bot.UserID.String()) {
		return true
	}
	if name := bot.Config.DisplayName; name != "" && containsWord(msg.Body, name) {
		return true
	}
	return strings.Contains(msg.FormattedBody, "matrix.to/#/"+bot.UserID.String())
}

// containsWord reports whether word occurs in text, any case, not as part
// of a longer word ("Pizza Place" in "hey Pizza Place!", not "pizzas").
func containsWord(text, word string) bool {
	text, word = strings.ToLower(text), strings.ToLower(word)
	for i := 0; ; {
		j := strings.Index(text[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isWordByte(text[start-1])) && (end == len(text) || !isWordByte(text[end])) {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 0x80
}

func (d *Dispatcher) routeMessage(ctx context.Context, evt *event.Event, log zerolog.Logger) (*outcome, error) {
	if isNotice(evt) {
		// Notices are what bots send (the spec asks bots not to answer
		// them): answering another bot's notice can loop for ever.
		return refused("notice", "notice from another user or bot"), nil
	}
	bots, direct, view, err := d.concerned(ctx, evt)
	if err != nil {
		return nil, err
	}
	if len(bots) == 0 {
		return &outcome{outcome: "ignored", note: "no bot concerned"}, nil
	}
	if direct {
		if out, err := d.refusePlaintext(ctx, evt); out != nil || err != nil {
			return out, err
		}
	}
	if bots = withoutAgents(bots, view.Held); len(bots) == 0 {
		return &outcome{outcome: "agent", note: heldNote}, nil
	}
	m, ok := handlers.FromEvent(evt)
	if !ok {
		return &outcome{outcome: "ignored", note: "not a message a handler can use"}, nil
	}
	return d.runTurns(ctx, bots, evt.RoomID, m, direct, view.Turns, log)
}

// isNotice reports whether a message is an m.notice, or an edit that
// turns one into a notice.
func isNotice(evt *event.Event) bool {
	msg := evt.Content.AsMessage()
	return msg.MsgType == event.MsgNotice || msg.NewContent != nil && msg.NewContent.MsgType == event.MsgNotice
}

// runTurns runs the handler of each bot for m and collects the turns.
// known holds turn rows already read for m's sender, by bot (see
// concerned); a bot without them has its rows read.
func (d *Dispatcher) runTurns(ctx context.Context, bots []*Bot, room id.RoomID, m *handlers.Message, direct bool, known map[string]store.TurnRows, log zerolog.Logger) (*outcome, error) {
	out := &outcome{outcome: "handled"}
	for _, bot := range bots {
		if err := d.ready(ctx, bot.UserID); err != nil {
			return out, err
		}
		var rows *store.TurnRows
		if r, ok := known[bot.UserID.String()]; ok {
			rows = &r
		}
		t, err := d.newTurn(ctx, bot, room, *m, direct, rows)
		if err != nil {
			return out, err
		}
		out.conv = t.conv
		stopPresence := d.presence(bot.UserID, room, t.msg)
		h := d.handlerOf(bot.UserID)
		if h == nil {
			continue // removed while this event was being routed
		}
		err = d.call(ctx, t.conv, log, func(ctx context.Context) error { return h.Handle(ctx, t.conv, t.msg) })
		stopPresence()
		if err != nil {
			var later *handlers.RetryError
			if errors.As(err, &later) {
				out.deferred = t
			}
			return out, err
		}
		if t.conv.Failed() != "" {
			out.outcome = "handler_error"
			out.note = t.conv.Failed()
		}
		out.turns = append(out.turns, t)
		if t.msg.ID != "" && t.msg.Kind != handlers.KindTimer {
			out.reads = append(out.reads, read{bot.UserID, t.msg.ID})
		}
	}
	return out, nil
}

// routeReaction gives a reaction to the bot whose message it is on (in a
// direct chat, to the chat's bot even for other messages).
func (d *Dispatcher) routeReaction(ctx context.Context, evt *event.Event, log zerolog.Logger) (*outcome, error) {
	m, ok := handlers.FromEvent(evt)
	if !ok {
		return &outcome{outcome: "ignored", note: "not an annotation"}, nil
	}
	owner, _, err := store.OutboxMeta(ctx, d.db, evt.RoomID.String(), m.RelatesTo.String())
	if err != nil {
		return nil, err
	}
	bots, direct, view, err := d.concerned(ctx, evt)
	if err != nil {
		return nil, err
	}
	var target []*Bot
	if b, ok := d.Bot(id.UserID(owner)); ok {
		target = []*Bot{b}
	} else if direct && len(bots) == 1 {
		target = bots
	}
	if len(target) == 0 {
		return &outcome{outcome: "ignored", note: "reaction to no bot's message"}, nil
	}
	if target = withoutAgents(target, view.Held); len(target) == 0 {
		return &outcome{outcome: "agent", note: heldNote}, nil
	}
	return d.runTurns(ctx, target, evt.RoomID, m, direct, view.Turns, log)
}

// routeRedaction tells the bot of a direct chat that the customer deleted
// an event.
func (d *Dispatcher) routeRedaction(ctx context.Context, evt *event.Event, log zerolog.Logger) (*outcome, error) {
	bots, direct, view, err := d.concerned(ctx, evt)
	if err != nil {
		return nil, err
	}
	m, ok := handlers.FromEvent(evt)
	if !ok || !direct || len(bots) != 1 {
		return &outcome{outcome: "ignored", note: "redaction outside a direct chat"}, nil
	}
	return d.runTurns(ctx, bots, evt.RoomID, m, direct, view.Turns, log)
}

// routeTimer delivers a fired timer to the bot that set it.
func (d *Dispatcher) routeTimer(ctx context.Context, evt *event.Event, log zerolog.Logger) (*outcome, error) {
	var c struct{ Bot, Name, Payload string }
	if err := json.Unmarshal(evt.Content.VeryRaw, &c); err != nil {
		return &outcome{outcome: "ignored", note: "malformed timer"}, nil
	}
	bot, ok := d.Bot(id.UserID(c.Bot))
	if !ok {
		return &outcome{outcome: "ignored", note: "timer of a bot no longer configured"}, nil
	}
	if c.Name == store.EndTimerName {
		return d.routeEnded(ctx, bot, evt, c.Payload, log)
	}
	_, direct, view, err := d.concerned(ctx, evt)
	if err != nil {
		return nil, err
	}
	m := &handlers.Message{Kind: handlers.KindTimer, ID: evt.ID, Sender: evt.Sender, Type: evt.Type,
		Time: time.UnixMilli(evt.Timestamp), Timer: &handlers.Timer{Name: c.Name, Payload: c.Payload}, Event: evt}
	return d.runTurns(ctx, []*Bot{bot}, evt.RoomID, m, direct, view.Turns, log)
}

// call runs a handler with a timeout, turning a panic or an error into
// what the customer sees. It returns an error only for a temporary failure
// (the event will be retried).
func (d *Dispatcher) call(ctx context.Context, conv *handlers.Conversation, log zerolog.Logger, fn func(ctx context.Context) error) (err error) {
	hctx, cancel := context.WithTimeout(ctx, d.opts.HandlerTimeout)
	defer cancel()
	hctx = log.With().Str("bot", conv.Bot.String()).Logger().WithContext(hctx)
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
			}
		}()
		return fn(hctx)
	}()
	if err == nil {
		return nil
	}
	if errors.Is(err, handlers.ErrTemporary) {
		return fmt.Errorf("handler: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	conv.Reset()
	var ue *handlers.UserError
	if errors.As(err, &ue) {
		// The text often quotes the customer ("%q is not an order
		// number"): it goes to them only; the log and the inbox row get
		// its length.
		conv.Notice(ue.Text)
		conv.SetFailed(fmt.Sprintf("user error (%d characters shown to the customer)", len(ue.Text)))
		log.Info().Str("bot", conv.Bot.String()).Int("text_len", len(ue.Text)).Msg("handler returned a user error")
		return nil
	}
	ref := newRef()
	conv.Notice(apologyText(ref))
	conv.SetFailed("handler error (ref " + ref + "): " + err.Error())
	log.Error().Str("bot", conv.Bot.String()).Str("ref", ref).Err(err).Msg("handler failed")
	return nil
}
