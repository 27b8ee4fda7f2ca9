package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// maxReplyRunes caps an agent's reply.
const maxReplyRunes = 4000

// page is what every page template gets.
type page struct {
	Title string
	User  id.UserID
	CSRF  string
	Bot   *bot
	// Live is the event stream the page refreshes from ("" for none).
	Live string
	// Owner: the user is an owner of Bot (the navigation shows owner pages).
	Owner bool
	// Role is the signed-in user's role for Bot (the navigation shows
	// only the pages it may use).
	Role string
}

// May says whether the page's user may use page pg of its bot.
func (p page) May(pg string) bool { return allowed(p.Role, pg) }

var funcs = template.FuncMap{
	"roomPath": func(b *bot, room string) string {
		return "/b/" + url.PathEscape(b.Localpart) + "/c/" + url.PathEscape(room)
	},
	"when": func(ms int64, loc *time.Location) string {
		if ms == 0 {
			return ""
		}
		t, now := time.UnixMilli(ms).In(loc), time.Now().In(loc)
		if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
			return t.Format("15:04")
		}
		return t.Format("Mon 2 Jan 15:04")
	},
	"iso":     func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) },
	"isoTime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"clock":   func(t time.Time, loc *time.Location) string { return t.In(loc).Format("15:04") },
	"waited": func(ms int64) string {
		if ms == 0 {
			return ""
		}
		d := time.Since(time.UnixMilli(ms))
		switch {
		case d < time.Minute:
			return "under a minute"
		case d < time.Hour:
			return fmt.Sprintf("%d min", int(d.Minutes()))
		default:
			return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
		}
	},
	"statusText": func(st string) string {
		switch st {
		case store.ConvWaiting:
			return "Waiting for a person"
		case store.ConvAgent:
			return "With an agent"
		case store.ConvClosed:
			return "Closed"
		default:
			return "Bot"
		}
	},
	"held": func(st string) bool { return st == store.ConvAgent || st == store.ConvWaiting },
	// sentence starts a message with a capital ("a price must be …").
	"sentence": func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		return strings.ToUpper(string(r)) + s[n:]
	},
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v any) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		s.opts.Log.Error().Err(err).Str("template", name).Msg("console page failed to render")
		http.Error(w, "The page failed to render.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

type errorView struct {
	page
	Status  int
	Message string
}

// fail shows a page that says what went wrong and what to do.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error.html", errorView{page: page{Title: http.StatusText(status)}, Status: status, Message: msg})
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.opts.Log.Error().Err(err).Str("path", r.URL.Path).Msg("console request failed")
	s.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
}

type homeView struct {
	page
	Bots []*bot
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if sess == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "home.html", homeView{page: page{Title: "Your bots", User: sess.User, CSRF: sess.CSRF}, Bots: s.botsOf(sess.User)})
}

type inboxView struct {
	page
	Conversations []store.ConsoleConversation
	Waiting       int
}

func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staff(w, r)
	if !ok {
		return
	}
	pg, err := s.pageFor(r, b, sess, b.Name+": conversations")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	convs, err := store.ConsoleConversations(r.Context(), s.opts.DB, b.UserID.String())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	holders, err := s.holders(r.Context(), b)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	withHolders(convs, holders)
	v := inboxView{page: pg, Conversations: convs}
	for _, c := range convs {
		if c.WaitingSince > 0 && c.Status != store.ConvClosed {
			v.Waiting++
		}
	}
	s.render(w, r, http.StatusOK, "inbox.html", v)
}

// pageFor starts a live page of bot b. It reads the live version before
// the page's data, and the page's stream starts from it, so a change made
// while the page loads still refreshes it.
func (s *Server) pageFor(r *http.Request, b *bot, sess *session, title string) (page, error) {
	v, err := store.ConsoleVersion(r.Context(), s.opts.DB)
	if err != nil {
		return page{}, err
	}
	live := "/b/" + url.PathEscape(b.Localpart) + "/live?since=" + url.QueryEscape(v)
	pg := s.plainPage(b, sess, title)
	pg.Live = live
	return pg, nil
}

type conversationView struct {
	page
	Conv     *store.ConsoleConversation
	Messages []store.ConsoleMessage
	Customer *store.CustomerRow
	History  []store.HistoryRow
	Token    string
	Notice   string
	Saved    []savedReply
	Draft    string
	Held     bool
	Past     []handlers.Past
	// HasPast: the service lists what it keeps (Past may still be empty).
	HasPast bool
}

// conversationOf resolves the request's room, which must be one of the
// bot's conversations.
func (s *Server) conversationOf(w http.ResponseWriter, r *http.Request, b *bot) (*store.ConsoleConversation, bool) {
	c, err := store.ConsoleConversationIn(r.Context(), s.opts.DB, b.UserID.String(), r.PathValue("room"))
	if err != nil {
		s.internal(w, r, err)
		return nil, false
	}
	if c == nil {
		s.fail(w, r, http.StatusNotFound, "This bot has no such conversation.")
		return nil, false
	}
	return c, true
}

func (s *Server) conversation(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staff(w, r)
	if !ok {
		return
	}
	pg, err := s.pageFor(r, b, sess, "")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	c, ok := s.conversationOf(w, r, b)
	if !ok {
		return
	}
	ctx, bid := r.Context(), b.UserID.String()
	holders, err := s.holders(ctx, b)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	// Held: the console holds it (reply, hand back); the status shown
	// also names a person who has the customer in the staff room.
	held := c.Status == store.ConvAgent || c.Status == store.ConvWaiting
	shown := []store.ConsoleConversation{*c}
	withHolders(shown, holders)
	c = &shown[0]
	msgs, err := store.ConsoleMessages(ctx, s.opts.DB, bid, c.RoomID, c.Customer, 200)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	cust, err := store.LoadCustomer(ctx, s.opts.DB, bid, c.Customer)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	past, hasPast, err := s.pastOf(ctx, b, c.Customer)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	hist, err := store.History(ctx, s.opts.DB, bid, c.Customer, 20)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	// Past orders, bookings and tickets; the messages are shown above.
	var records []store.HistoryRow
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Kind != "message" {
			records = append(records, hist[i])
		}
	}
	saved, err := savedReplies(ctx, s.opts.DB, bid)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	name := c.CustomerName
	if name == "" {
		name = c.Customer
	}
	pg.Title = name + " – " + b.Name
	v := conversationView{page: pg, Conv: c, Messages: msgs, Customer: cust,
		History: records, Token: randomToken(), Notice: noticeText(r.URL.Query().Get("done")),
		Saved: saved, Draft: draftFrom(r, saved), Held: held, Past: past, HasPast: hasPast}
	s.render(w, r, http.StatusOK, "conversation.html", v)
}

func noticeText(done string) string {
	switch done {
	case "take":
		return "You have this conversation now; the bot is silent until you hand it back."
	case "handback":
		return "The bot answers this customer again."
	case "close":
		return "Conversation closed."
	case "reply":
		return "Reply queued; it shows as sent once the homeserver has it."
	case "again":
		return "That reply was already sent; it was not sent twice."
	}
	return ""
}

// customerNotice is what the customer is told when a person takes over,
// hands back or closes the conversation.
func customerNotice(status, business string) string {
	switch status {
	case store.ConvAgent:
		return "A person from " + business + " is answering you now."
	case store.ConvClosed:
		return "This conversation was closed by " + business + ". Write any time to start again."
	default:
		return "You are back with the " + business + " bot."
	}
}

// act takes over, hands back or closes a conversation: the new status and
// the note to the customer commit together, and a repeated click changes
// nothing and says nothing twice.
func (s *Server) act(status string) http.HandlerFunc {
	done := map[string]string{store.ConvAgent: "take", store.ConvBot: "handback", store.ConvClosed: "close"}[status]
	return func(w http.ResponseWriter, r *http.Request) {
		b, sess, c, ok := s.postTo(w, r)
		if !ok {
			return
		}
		if status == store.ConvAgent && s.heldElsewhere(w, r, b, sess, c) {
			return
		}
		queued := false
		err := s.opts.DB.Tx(r.Context(), func(tx store.Tx) error {
			changed, err := store.SetConsoleRoom(r.Context(), tx, b.UserID.String(), c.RoomID, status, sess.User.String())
			if err != nil || !changed {
				return err
			}
			queued = true
			if err := s.queueHandoff(r.Context(), tx, b, c, status, sess.User); err != nil {
				return err
			}
			if status == store.ConvClosed && c.Customer != "" {
				// The bot's handler hears it ended (a webhook bot's business: conversation.ended).
				if err := store.AddTimer(r.Context(), tx, b.UserID.String(), c.RoomID, c.Customer, store.EndTimerName, handlers.EndedClosed, store.Now()); err != nil {
					return err
				}
			}
			_, err = store.AppendOutbox(r.Context(), tx, []store.OutgoingEvent{s.message(b, c.RoomID, "m.notice", customerNotice(status, b.Name))})
			return err
		})
		if err != nil {
			s.internal(w, r, err)
			return
		}
		s.opts.Log.Info().Str("bot", b.UserID.String()).Str("room_id", c.RoomID).
			Str("staff", sess.User.String()).Str("status", status).Bool("changed", queued).Msg("conversation status set")
		s.wake(queued)
		backTo(w, r, b, c, done)
	}
}

// postTo checks a form posted to a conversation: signed in, staff of the
// bot, the session's CSRF token, and a conversation of that bot.
func (s *Server) postTo(w http.ResponseWriter, r *http.Request) (*bot, *session, *store.ConsoleConversation, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	b, sess, ok := s.staff(w, r)
	if !ok || !s.checkForm(w, r, sess) {
		return nil, nil, nil, false
	}
	c, ok := s.conversationOf(w, r, b)
	return b, sess, c, ok
}

// backTo shows the conversation again after a form, saying what was done
// (post/redirect/get: a reload does not post again).
func backTo(w http.ResponseWriter, r *http.Request, b *bot, c *store.ConsoleConversation, done string) {
	http.Redirect(w, r, "/b/"+url.PathEscape(b.Localpart)+"/c/"+url.PathEscape(c.RoomID)+"?done="+done, http.StatusSeeOther)
}

func (s *Server) message(b *bot, room, msgtype, text string) store.OutgoingEvent {
	content, _ := json.Marshal(map[string]string{"msgtype": msgtype, "body": text})
	return store.OutgoingEvent{RoomID: room, BotUserID: b.UserID.String(), Type: "m.room.message", Content: content, ParentIndex: -1}
}

func (s *Server) wake(queued bool) {
	if queued && s.opts.OnOutbox != nil {
		s.opts.OnOutbox()
	}
}

// reply sends the agent's text to the customer as the bot, exactly once:
// the form's token and the outbox row commit in one transaction, so a
// double submit or a retried POST finds the token used and sends nothing.
func (s *Server) reply(w http.ResponseWriter, r *http.Request) {
	b, sess, c, ok := s.postTo(w, r)
	if !ok {
		return
	}
	text, token := strings.TrimSpace(r.PostFormValue("text")), r.PostFormValue("token")
	switch {
	case c.Status != store.ConvAgent && c.Status != store.ConvWaiting:
		s.fail(w, r, http.StatusConflict, "Take this conversation over before you answer, so the bot does not answer too.")
		return
	case text == "":
		s.fail(w, r, http.StatusBadRequest, "The reply is empty. Go back and write something.")
		return
	case utf8.RuneCountInString(text) > maxReplyRunes:
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The reply is too long (%d characters; at most %d).", utf8.RuneCountInString(text), maxReplyRunes))
		return
	case len(token) < 20 || len(token) > 100:
		s.fail(w, r, http.StatusBadRequest, "The reply form is incomplete. Reload the page and try again.")
		return
	}
	fresh := false
	err := s.opts.DB.Tx(r.Context(), func(tx store.Tx) error {
		var err error
		if fresh, err = store.ClaimReplyToken(r.Context(), tx, hashID(sess.idHash+token)); err != nil || !fresh {
			return err
		}
		ids, err := store.AppendOutbox(r.Context(), tx, []store.OutgoingEvent{s.message(b, c.RoomID, "m.text", text)})
		if err != nil {
			return err
		}
		return store.SetReplyOutbox(r.Context(), tx, hashID(sess.idHash+token), ids[0])
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.opts.Log.Info().Str("bot", b.UserID.String()).Str("room_id", c.RoomID).
		Str("staff", sess.User.String()).Bool("duplicate", !fresh).Msg("agent reply queued")
	s.wake(fresh)
	done := "reply"
	if !fresh {
		done = "again"
	}
	backTo(w, r, b, c, done)
}

// live streams a "change" event whenever something the console shows may
// have changed; the page's script then reloads its live part.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.staff(w, r); !ok {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	tick := time.NewTicker(s.opts.LivePoll)
	defer tick.Stop()
	// since is the version the page was rendered at (empty: now).
	last, beat := r.URL.Query().Get("since"), time.Now()
	for {
		v, err := store.ConsoleVersion(r.Context(), s.opts.DB)
		if err == nil && v != last {
			if last != "" {
				_, _ = fmt.Fprintf(w, "event: change\ndata: %s\n\n", v)
				fl.Flush()
			}
			last = v
		}
		if time.Since(beat) > 15*time.Second { // keeps proxies from closing an idle stream
			_, _ = fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
			beat = time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-tick.C:
		}
	}
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
