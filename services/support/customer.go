package support

import (
	"context"
	"database/sql"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

// ticketRecord is the history entry of a ticket.
type ticketRecord struct {
	Number  int64  `json:"number"`
	Topic   string `json:"topic"`
	Subject string `json:"subject"`
}

// ratingRecord is the history entry of a rating.
type ratingRecord struct {
	Number int64 `json:"number"`
	Rating int   `json:"rating"`
}

var ratingOptions = []handlers.Option{
	handlers.Opt("1", "poor", "bad", "terrible", "slecht", "⭐"), handlers.Opt("2", "fair", "matig", "⭐⭐"),
	handlers.Opt("3", "okay", "ok", "redelijk", "⭐⭐⭐"), handlers.Opt("4", "good", "goed", "⭐⭐⭐⭐"),
	handlers.Opt("5", "excellent", "great", "perfect", "super", "uitstekend", "⭐⭐⭐⭐⭐"),
}

// customer handles a customer's event in their chat with the bot.
func (b *Bot) customer(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Kind == handlers.KindTimer {
		if h := m.Handoff(); h != nil {
			return b.handoff(ctx, c, h)
		}
		if m.Timer.Name == timerRate {
			return b.askRating(ctx, c, m.Timer.Payload)
		}
		return nil
	}
	switch c.Step() {
	case stepFAQ:
		return b.faqFeedback(ctx, c, m)
	case stepRate:
		return b.rate(ctx, c, m)
	case stepFollowup:
		return b.followup(ctx, c, m)
	case stepWithdraw:
		return b.withdraw(ctx, c, m)
	}
	return b.start(ctx, c, m, true)
}

// start handles a message outside any question. followup says whether a
// returning customer may be asked about their last ticket.
func (b *Bot) start(ctx context.Context, c *handlers.Conversation, m *handlers.Message, followup bool) error {
	if m.Kind != handlers.KindMessage {
		return nil // reactions to old messages, deletions
	}
	q := b.tickets(c)
	open, err := q.openFor(ctx, c.Customer.ID)
	if err != nil {
		return err
	}
	text := m.Text()
	if m.IsText() && m.Command() == handlers.CommandHelp { // "hulp", "help me"
		b.help(c, open)
		return nil
	}
	if m.IsText() {
		switch normalize(text) {
		case "help", "menu", "what can you do", "commands":
			b.help(c, open)
			return nil
		case "status", "ticket", "my ticket", "ticket status":
			return b.status(ctx, c, open)
		}
	}
	if open != nil {
		if m.IsText() && wantsWithdraw(m) {
			return b.askWithdraw(c, open)
		}
		return b.addToTicket(ctx, c, m, open)
	}
	if !m.IsText() || text == "" {
		c.Reply(b.tr(c, "text-only"))
		return nil
	}
	kind := pleasantry(text)
	if followup && kind != "thanks" && !c.Customer.New && !c.Customer.LastSeen.IsZero() && c.Now().Sub(c.Customer.LastSeen) >= returnGap {
		last, err := q.lastFor(ctx, c.Customer.ID)
		if err != nil {
			return err
		}
		if b.recent(c, last) {
			return b.askFollowup(c, last, text)
		}
	}
	switch kind {
	case "greet":
		c.Reply(b.tr(c, "greet-hi", c.Customer.Name()))
		return nil
	case "thanks":
		c.Reply(b.tr(c, "welcome"))
		return nil
	}
	return b.answer(ctx, c, text)
}

// answer offers the best FAQ, or opens a ticket.
func (b *Bot) answer(ctx context.Context, c *handlers.Conversation, text string) error {
	if wantsHuman(text) {
		return b.openTicket(ctx, c, text, "")
	}
	match := bestFAQ(b.faqs, text)
	if match.index < 0 || match.score < b.cfg.MatchThreshold {
		return b.openTicket(ctx, c, text, "")
	}
	f := b.faqs[match.index].faq
	c.Reply(f.Answer)
	c.Ask(b.tr(c, "did-it-help"), handlers.Opt("yes", b.tr(c, "helped-yes")), handlers.Opt("no", b.tr(c, "helped-no")))
	c.Goto(stepFAQ, faqTTL)
	return c.SetState(custState{FAQ: match.index, Text: handlers.CapText(text, 500)})
}

// faqFeedback handles the answer to "Did that help?".
func (b *Bot) faqFeedback(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var st custState
	if _, err := c.State(&st); err != nil {
		return err
	}
	no := m.Choice != nil && m.Choice.Key == "no"
	// "thanks!" after an answer means it helped.
	yes := m.Choice != nil && m.Choice.Key == "yes" || m.Choice == nil && m.IsText() && pleasantry(m.Text()) == "thanks"
	if m.Choice == nil && m.IsText() && !yes {
		switch normalize(m.Text()) {
		case "no", "nope", "not really", "no thanks", "didn't help", "it didn't help", "niet echt", "nee", "helpt niet":
			no = true
		default:
			isYes, ok := m.YesNo()
			no = ok && !isYes || wantsHuman(m.Text())
		}
	}
	switch {
	case yes:
		c.Clear()
		c.Reply(b.tr(c, "glad"))
		if st.FAQ >= 0 && st.FAQ < len(b.faqs) {
			q := b.faqs[st.FAQ].faq.Question
			return c.Record("faq", q, map[string]string{"question": q})
		}
		return nil
	case no:
		c.Clear()
		note := ""
		if st.FAQ >= 0 && st.FAQ < len(b.faqs) {
			note = fmt.Sprintf("The FAQ answer to %q did not help.", b.faqs[st.FAQ].faq.Question)
		}
		subject := st.Text
		if subject == "" {
			subject = m.Text()
		}
		return b.openTicket(ctx, c, subject, note)
	case m.Kind != handlers.KindMessage || !m.IsText():
		return nil // a stray reaction: the question stays open
	}
	// Something else: a new question.
	c.Clear()
	return b.start(ctx, c, m, false)
}

// openTicket opens a ticket for the customer: recorded, posted to the
// staff room, and the customer told what to expect.
func (b *Bot) openTicket(ctx context.Context, c *handlers.Conversation, subject, note string) error {
	q := b.tickets(c)
	n, err := q.nextNumber(ctx)
	if err != nil {
		return err
	}
	t := &ticket{
		Number: n, CustomerID: c.Customer.ID, CustomerName: c.Customer.Name(), Room: c.Room,
		Subject: handlers.CapText(subject, 500), Topic: handlers.CapText(topic(b.faqs, subject), 60),
		Status: statusOpen, StaffRoom: b.staffRoom, OpenedEvent: c.Cause(),
	}
	now := c.Now().UnixMilli()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error { return q.insert(ctx, tx, t, now) })
	if err := c.Record("ticket", fmt.Sprintf("Ticket %d: %s", n, t.Topic), ticketRecord{Number: n, Topic: t.Topic, Subject: t.Subject}); err != nil {
		return err
	}
	promise, err := b.promise(ctx, c)
	if err != nil {
		return err
	}
	c.Reply(b.tr(c, "ticket-opened", n, c.Customer.Name(), promise))
	if b.staffRoom != "" {
		b.postTicket(c, t, "🎫 New ticket", note)
	}
	return nil
}

// postTicket posts the ticket's full card to the staff room; it becomes
// the root of the ticket's thread.
func (b *Bot) postTicket(c *handlers.Conversation, t *ticket, title, note string) {
	who := fmt.Sprintf("%s (%s)", t.CustomerName, t.CustomerID)
	how := fmt.Sprintf("Claim it with !claim %d or by replying in this thread; close it with !close %d.", t.Number, t.Number)
	body := fmt.Sprintf("%s %d from %s:\n> %s\n", title, t.Number, who, strings.ReplaceAll(t.Subject, "\n", "\n> "))
	rich := fmt.Sprintf("<p>%s <b>%d</b> from %s:</p><blockquote>%s</blockquote>", html.EscapeString(title), t.Number,
		html.EscapeString(who), strings.ReplaceAll(html.EscapeString(t.Subject), "\n", "<br>"))
	if note != "" {
		body += note + "\n"
		rich += "<p>" + html.EscapeString(note) + "</p>"
	}
	body += how
	rich += "<p>" + html.EscapeString(how) + "</p>"
	c.SendTo(b.staffRoom, &event.MessageEventContent{MsgType: event.MsgText, Body: body, Format: event.FormatHTML, FormattedBody: rich})
	q, n, cause := b.tickets(c), t.Number, c.Cause()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error { return q.notePost(ctx, tx, cause, n) })
}

// promise is what the customer is told to expect after a ticket opens.
func (b *Bot) promise(ctx context.Context, c *handlers.Conversation) (string, error) {
	if !b.sched.open(c.Now()) {
		return b.tr(c, "closed-now", b.sched.nextOpening(c.Now(), func(key string, args ...any) string { return b.tr(c, key, args...) })), nil
	}
	if b.staffRoom == "" {
		return b.tr(c, "asap"), nil
	}
	present, err := b.staffPresent(ctx)
	if err != nil {
		return "", err
	}
	if !present {
		return b.tr(c, "nobody-online"), nil
	}
	wait := time.Duration(b.cfg.ExpectedWait)
	if wait == 0 {
		waiting, err := b.tickets(c).waiting(ctx)
		if err != nil {
			return "", err
		}
		wait = time.Duration(waiting+1) * time.Duration(b.cfg.WaitPerTicket)
	}
	return b.tr(c, "expected-wait", b.minutes(c, wait)), nil
}

// minutes shows a duration in whole minutes, in English (for staff).
func minutes(d time.Duration) string { return countMinutes(d, "minute", "minutes") }

// minutes shows a duration in whole minutes in the customer's language.
func (b *Bot) minutes(c *handlers.Conversation, d time.Duration) string {
	return countMinutes(d, b.tr(c, "minute"), b.tr(c, "minutes"))
}

func countMinutes(d time.Duration, one, many string) string {
	n := max(1, int((d+30*time.Second)/time.Minute))
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// staffPresent says whether anyone who may answer is in the staff room.
func (b *Bot) staffPresent(ctx context.Context) (bool, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT user_id FROM room_members WHERE room_id = $1 AND membership = 'join'`, b.staffRoom.String())
	if err != nil {
		return false, fmt.Errorf("list staff room members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return false, err
		}
		if b.staff.Candidate(id.UserID(u)) {
			return true, nil
		}
	}
	return false, rows.Err()
}

// addToTicket passes a customer's message on to their open ticket.
func (b *Bot) addToTicket(ctx context.Context, c *handlers.Conversation, m *handlers.Message, t *ticket) error {
	if b.staffRoom != "" {
		if err := b.relayToStaff(ctx, c, m, t); err != nil {
			return err
		}
	}
	if t.Status == statusOpen {
		what := b.tr(c, "person-answers")
		if b.staffRoom == "" {
			what = b.tr(c, "team-answers")
		}
		c.Notice(b.tr(c, "added", t.Number, what))
	}
	return nil
}

// relayToStaff posts the customer's message into the ticket's thread.
func (b *Bot) relayToStaff(ctx context.Context, c *handlers.Conversation, m *handlers.Message, t *ticket) error {
	name := c.Customer.Name()
	if m.Edit {
		name += " (edited)"
	}
	if m.Media != "" {
		return b.toStaff(ctx, c, t, mediaContent(m, name))
	}
	text := m.Text()
	if !m.IsText() {
		text = fmt.Sprintf("[sent %s: %s]", strings.TrimPrefix(string(m.MsgType), "m."), m.Body)
	}
	return b.toStaff(ctx, c, t, &event.MessageEventContent{MsgType: event.MsgText, Body: name + ": " + text})
}

// toStaff posts content about ticket t into the staff room: in the
// ticket's thread when its root is known, else in the room with the
// ticket number in front.
func (b *Bot) toStaff(ctx context.Context, c *handlers.Conversation, t *ticket, content *event.MessageEventContent) error {
	q := b.tickets(c)
	root, cache, err := q.rootEvent(ctx, t, b.staffRoom)
	if err != nil {
		return err
	}
	if root != "" {
		content.RelatesTo = (&event.RelatesTo{}).SetThread(root, root)
	} else {
		content.Body = fmt.Sprintf("Ticket %d · %s", t.Number, content.Body)
		if content.FormattedBody != "" {
			content.FormattedBody = fmt.Sprintf("Ticket %d · %s", t.Number, content.FormattedBody)
		}
	}
	c.SendTo(b.staffRoom, content)
	n, cause := t.Number, c.Cause()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		if cache {
			if _, err := tx.ExecContext(ctx, `UPDATE support_tickets SET root_event_id = $1
				WHERE bot_user_id = $2 AND number = $3 AND root_event_id = ''`, root.String(), q.bot, n); err != nil {
				return fmt.Errorf("remember ticket %d's thread: %w", n, err)
			}
		}
		return q.notePost(ctx, tx, cause, n)
	})
	return nil
}

// recent says whether last is a closed ticket recent enough to ask a
// returning customer about.
func (b *Bot) recent(c *handlers.Conversation, last *ticket) bool {
	if last == nil || last.Status != statusClosed || last.forgotten() || b.cfg.FollowupWindow <= 0 {
		return false
	}
	return c.Now().Sub(time.UnixMilli(last.ClosedAt)) <= time.Duration(b.cfg.FollowupWindow)
}

// askFollowup asks a returning customer whether they come about their
// last ticket; pending is the message they wrote, if any.
func (b *Bot) askFollowup(c *handlers.Conversation, last *ticket, pending string) error {
	c.Ask(b.tr(c, "about-ticket?", c.Customer.Name(), last.Number, last.Topic),
		handlers.Opt("yes", b.tr(c, "about-yes", last.Number)), handlers.Opt("no", b.tr(c, "about-no")))
	c.Goto(stepFollowup, followupTTL)
	return c.SetState(custState{Ticket: last.Number, Text: handlers.CapText(pending, 500), FAQ: -1})
}

// followup handles the answer to "Is this about ticket N?".
func (b *Bot) followup(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var st custState
	if _, err := c.State(&st); err != nil {
		return err
	}
	if m.Choice == nil {
		if m.Kind != handlers.KindMessage {
			return nil
		}
		c.Clear() // a new message instead of an answer: take it as it is
		return b.start(ctx, c, m, false)
	}
	c.Clear()
	if m.Choice.Key != "yes" {
		if st.Text == "" || pleasantry(st.Text) != "" {
			c.Reply(b.tr(c, "what-then"))
			return nil
		}
		return b.answer(ctx, c, st.Text)
	}
	return b.reopen(ctx, c, st.Ticket, st.Text)
}

// reopen puts a closed ticket back in the queue, with the customer's new
// message.
func (b *Bot) reopen(ctx context.Context, c *handlers.Conversation, n int64, text string) error {
	q := b.tickets(c)
	t, err := q.byNumber(ctx, n)
	if err != nil {
		return err
	}
	if t == nil || t.CustomerID != c.Customer.ID {
		c.Reply(b.tr(c, "ticket-gone"))
		return nil
	}
	if t.Status != statusClosed { // reopened meanwhile (another chat)
		return b.status(ctx, c, t)
	}
	status := statusOpen
	if t.AgentID != "" {
		status = statusClaimed // back to the agent who had it
	}
	now := c.Now().UnixMilli()
	moved := t.StaffRoom != b.staffRoom // posted elsewhere (or nowhere) before: post it afresh
	cause := c.Cause()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		if moved {
			var after int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM outbox`).Scan(&after); err != nil {
				return fmt.Errorf("read outbox mark: %w", err)
			}
			return change(ctx, tx, n, `UPDATE support_tickets SET status = $1, closed_at = NULL, updated_at = $2,
					staff_room = $3, opened_event_id = $4, outbox_after = $5, root_event_id = ''
				WHERE bot_user_id = $6 AND number = $7 AND status = 'closed'`,
				status, now, b.staffRoom.String(), cause.String(), after, q.bot, n)
		}
		return change(ctx, tx, n, `UPDATE support_tickets SET status = $1, closed_at = NULL, updated_at = $2
			WHERE bot_user_id = $3 AND number = $4 AND status = 'closed'`, status, now, q.bot, n)
	})
	if err := c.Record("ticket", fmt.Sprintf("Ticket %d reopened", n), ticketRecord{Number: n, Topic: t.Topic, Subject: text}); err != nil {
		return err
	}
	promise, err := b.promise(ctx, c)
	if err != nil {
		return err
	}
	if t.AgentID != "" && b.staffRoom != "" && b.sched.open(c.Now()) {
		promise = b.tr(c, "picks-up-again", b.agent(t.AgentName))
	}
	c.Reply(b.tr(c, "reopened", n, promise))
	if b.staffRoom == "" {
		return nil
	}
	if moved {
		t.Subject, t.StaffRoom, t.OpenedEvent = text, b.staffRoom, cause
		if t.Subject == "" {
			t.Subject = "(no message yet)"
		}
		b.postTicket(c, t, "🔄 Reopened ticket", "")
		return nil
	}
	line := fmt.Sprintf("🔄 %s reopened ticket %d", c.Customer.Name(), n)
	if text != "" {
		line += ": " + text
	}
	return b.toStaff(ctx, c, t, &event.MessageEventContent{MsgType: event.MsgText, Body: line})
}

// askRating runs in the customer's conversation when staff closed a
// ticket (timer payload "number\tagent name").
func (b *Bot) askRating(ctx context.Context, c *handlers.Conversation, payload string) error {
	num, closer, _ := strings.Cut(payload, "\t")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return nil // not ours
	}
	t, err := b.tickets(c).byNumber(ctx, n)
	if err != nil {
		return err
	}
	if t == nil || t.forgotten() || t.CustomerID != c.Customer.ID || t.Status != statusClosed {
		return nil // forgotten, or reopened before this fired
	}
	c.Reply(b.tr(c, "closed-by", b.agent(closer), n, b.cfg.Business))
	c.Ask(b.tr(c, "rate?", n), ratingOptions...)
	c.Goto(stepRate, rateTTL)
	return c.SetState(custState{Ticket: n, FAQ: -1})
}

// rate handles the answer to the rating question.
func (b *Bot) rate(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var st custState
	if _, err := c.State(&st); err != nil {
		return err
	}
	if m.Choice == nil && m.IsText() {
		if n, ok := ratingFromText(m.Text()); ok {
			m.Choice = &ratingOptions[n-1]
		}
	}
	if m.Choice == nil {
		if m.Kind != handlers.KindMessage || !m.IsText() {
			return nil
		}
		if len(strings.Fields(m.Text())) > 1 && !looksNumeric(m.Text()) {
			c.Clear() // they moved on: a new question, unrated
			return b.start(ctx, c, m, false)
		}
		return handlers.Errorf("%s", b.tr(c, "rate-please", st.Ticket))
	}
	rating, err := strconv.Atoi(m.Choice.Key)
	if err != nil || rating < 1 || rating > 5 {
		return handlers.Errorf("%s", b.tr(c, "rate-please", st.Ticket))
	}
	c.Clear()
	q := b.tickets(c)
	t, err := q.byNumber(ctx, st.Ticket)
	if err != nil {
		return err
	}
	if t == nil || t.CustomerID != c.Customer.ID {
		return nil
	}
	now := c.Now().UnixMilli()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		return change(ctx, tx, t.Number, `UPDATE support_tickets SET rating = $1, updated_at = $2
			WHERE bot_user_id = $3 AND number = $4`, rating, now, q.bot, t.Number)
	})
	if err := c.Record("rating", fmt.Sprintf("Ticket %d: %d/5", t.Number, rating), ratingRecord{Number: t.Number, Rating: rating}); err != nil {
		return err
	}
	c.Reply(b.tr(c, "rated"))
	if b.staffRoom != "" {
		return b.toStaff(ctx, c, t, &event.MessageEventContent{MsgType: event.MsgText,
			Body: fmt.Sprintf("⭐ %s rated ticket %d: %d/5 (%s)", c.Customer.Name(), t.Number, rating, m.Choice.Label)})
	}
	return nil
}

func looksNumeric(s string) bool {
	s = strings.TrimSpace(s)
	return strings.IndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0
}

// status tells the customer about their open ticket.
func (b *Bot) status(ctx context.Context, c *handlers.Conversation, t *ticket) error {
	if t == nil {
		c.Reply(b.tr(c, "no-open-ticket"))
		return nil
	}
	if t.Status == statusClaimed {
		c.Reply(b.tr(c, "status-handled", t.Number, t.Topic, b.agent(t.AgentName)))
		return nil
	}
	promise, err := b.promise(ctx, c)
	if err != nil {
		return err
	}
	c.Reply(b.tr(c, "status-waiting", t.Number, t.Topic, promise))
	return nil
}

func (b *Bot) help(c *handlers.Conversation, open *ticket) {
	var sb strings.Builder
	sb.WriteString(b.tr(c, "help-intro", b.cfg.Business))
	if len(b.faqs) > 0 {
		sb.WriteString(" " + b.tr(c, "help-faqs") + "\n")
		for _, f := range b.faqs {
			sb.WriteString("- " + f.faq.Question + "\n")
		}
	} else {
		sb.WriteString("\n")
	}
	sb.WriteString(b.tr(c, "help-say"))
	if open != nil {
		sb.WriteString("\n" + b.tr(c, "help-open", open.Number))
	}
	c.Reply(sb.String())
}

// normalize lower-cases text and drops punctuation at its ends.
func normalize(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimLeft(s, "!/")
	s = strings.TrimRight(s, "?!. ")
	return strings.Join(strings.Fields(s), " ")
}

// mediaContent copies an image, file, audio or video for relaying, with
// the sender's name in its body (what clients show as its caption or
// fallback). The media itself stays where it is (mxc://).
func mediaContent(m *handlers.Message, name string) *event.MessageEventContent {
	content := &event.MessageEventContent{MsgType: m.MsgType, Body: name + ": " + m.Body, URL: m.Media}
	if m.Event != nil {
		if orig := m.Event.Content.AsMessage(); orig != nil && orig.Info != nil {
			content.Info = orig.Info
		}
	}
	return content
}
