package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// Broadcasts: an owner writes a message, sees it as customers will and
// how many will get it, and confirms. Recipients are the bot's customers
// who said "subscribe" and not "stop" since (handlers.Subscriptions),
// fixed at confirmation; each is checked again just before their message
// is queued. Messages are queued at console.broadcast_rate per second, one
// outbox row per recipient, exactly once: the confirmation's token makes a
// retried confirmation find its broadcast, and each recipient row is
// claimed in the transaction that queues its message.

// maxBroadcastRunes caps a broadcast's text.
const maxBroadcastRunes = 2000

type broadcastView struct {
	page
	Text        string
	Subscribers int
	Preview     bool
	Token       string
	Notice      string
	Error       string
	Broadcasts  []store.Broadcast
}

func (s *Server) broadcast(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staffFor(w, r, pageBroadcast)
	if !ok {
		return
	}
	notice := ""
	switch r.URL.Query().Get("done") {
	case "sent":
		notice = "Broadcast confirmed. It is being sent; the progress is below."
	case "again":
		notice = "That broadcast was already confirmed; it is sent once."
	}
	s.renderBroadcast(w, r, b, sess, http.StatusOK, broadcastView{Notice: notice})
}

func (s *Server) renderBroadcast(w http.ResponseWriter, r *http.Request, b *bot, sess *session, status int, v broadcastView) {
	pg, err := s.pageFor(r, b, sess, b.Name+": broadcast")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v.page = pg
	subs, err := store.Subscribers(r.Context(), s.opts.DB, b.UserID.String())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v.Subscribers = len(subs)
	if v.Broadcasts, err = store.Broadcasts(r.Context(), s.opts.DB, b.UserID.String(), 10); err != nil {
		s.internal(w, r, err)
		return
	}
	s.render(w, r, status, "broadcast.html", v)
}

// broadcastText is the form's text, or why it cannot be sent.
func broadcastText(r *http.Request) (string, string) {
	text := strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("text"), "\r\n", "\n"))
	switch n := utf8.RuneCountInString(text); {
	case text == "":
		return "", "Write the message first."
	case n > maxBroadcastRunes:
		return text, fmt.Sprintf("The message is too long (%d characters; at most %d).", n, maxBroadcastRunes)
	}
	return text, ""
}

func (s *Server) previewBroadcast(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staffFor(w, r, pageBroadcast)
	if !ok {
		return
	}
	text, problem := broadcastText(r)
	if problem != "" {
		s.renderBroadcast(w, r, b, sess, http.StatusBadRequest, broadcastView{Text: text, Error: problem})
		return
	}
	s.renderBroadcast(w, r, b, sess, http.StatusOK, broadcastView{Text: text, Preview: true, Token: randomToken()})
}

func (s *Server) sendBroadcast(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staffFor(w, r, pageBroadcast)
	if !ok {
		return
	}
	text, problem := broadcastText(r)
	token := r.PostFormValue("token")
	if problem == "" && (len(token) < 20 || len(token) > 100) {
		problem = "The confirmation is incomplete. Preview the message again."
	}
	if problem != "" {
		s.renderBroadcast(w, r, b, sess, http.StatusBadRequest, broadcastView{Text: text, Error: problem})
		return
	}
	ctx, bid := r.Context(), b.UserID.String()
	created, n := false, 0
	err := s.opts.DB.Tx(ctx, func(tx store.Tx) error {
		subs, err := store.Subscribers(ctx, tx, bid)
		if err != nil {
			return err
		}
		var bcast int64
		if bcast, created, err = store.CreateBroadcast(ctx, tx, bid, hashID(sess.idHash+"\x00broadcast\x00"+token), text, sess.User.String(), subs); err != nil || !created {
			return err
		}
		n = len(subs)
		return store.AddAudit(ctx, tx, bid, store.AuditEntry{User: sess.User.String(), Time: store.Now(),
			What: fmt.Sprintf("broadcast: %d to %d customers", bcast, n), New: text})
	})
	switch {
	case errors.Is(err, store.ErrBroadcastTwice):
		created = false
	case err != nil:
		s.internal(w, r, err)
		return
	}
	s.opts.Log.Info().Str("bot", bid).Str("staff", sess.User.String()).Int("recipients", n).Bool("duplicate", !created).Msg("broadcast confirmed")
	if created {
		s.wakeBroadcasts()
	}
	done := "sent"
	if !created {
		done = "again"
	}
	http.Redirect(w, r, botPath(b, "broadcast")+"?done="+done, http.StatusSeeOther)
}

func (s *Server) wakeBroadcasts() {
	select {
	case s.broadcastWake <- struct{}{}:
	default:
	}
}

// broadcastLoop queues broadcast messages at the configured rate until
// ctx ends. Every process with a console runs one; a recipient is claimed
// in the transaction that queues its message, so two never send one.
func (s *Server) broadcastLoop(ctx context.Context) {
	lim := rate.NewLimiter(rate.Limit(s.opts.Config.Console.BroadcastRate), 1)
	idle := time.NewTicker(max(s.opts.LivePoll, time.Second))
	defer idle.Stop()
	log := s.opts.Log.With().Str("task", "broadcast").Logger()
	for {
		if err := lim.Wait(ctx); err != nil {
			return
		}
		sent, err := s.sendOneBroadcast(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("cannot send a broadcast message; will retry")
		}
		if sent && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-s.broadcastWake:
		case <-idle.C:
		}
	}
}

// sendOneBroadcast queues the next broadcast message, if any. A customer
// who said stop since the confirmation, or has no chat with the bot any
// more, is skipped.
func (s *Server) sendOneBroadcast(ctx context.Context) (bool, error) {
	next, err := store.NextBroadcastRecipient(ctx, s.opts.DB)
	if err != nil || next == nil {
		return false, err
	}
	queued := false
	err = s.opts.DB.Tx(ctx, func(tx store.Tx) error {
		ok, err := store.ClaimBroadcastRecipient(ctx, tx, next.Broadcast, next.User)
		if err != nil || !ok {
			return err
		}
		still, err := store.Subscribed(ctx, tx, next.Bot, next.User)
		if err != nil {
			return err
		}
		room := ""
		if still {
			if room, err = store.DirectRoom(ctx, tx, next.Bot, next.User); err != nil {
				return err
			}
		}
		if room == "" {
			return store.FinishBroadcastRecipient(ctx, tx, next.Broadcast, next.User, 0)
		}
		b := &bot{UserID: id.UserID(next.Bot)}
		ids, err := store.AppendOutbox(ctx, tx, []store.OutgoingEvent{s.message(b, room, "m.text", next.Body)})
		if err != nil {
			return err
		}
		queued = true
		return store.FinishBroadcastRecipient(ctx, tx, next.Broadcast, next.User, ids[0])
	})
	if err != nil {
		return false, fmt.Errorf("broadcast %d: %w", next.Broadcast, err)
	}
	s.wake(queued)
	return true, nil
}
