package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
)

// The settings page of a webhook bot (service webhook), for its owners:
// the URL events go to, the signing secret (rotated here, the new one
// shown once), and the latest deliveries with a retry button.

// webhookOf checks an owner's request (a form when form is set) and
// returns the bot's webhook service, or a page saying why there is none.
func (s *Server) webhookOf(w http.ResponseWriter, r *http.Request, form bool) (*bot, *session, *webhook.Service, bool) {
	check := s.ownerOf
	if form {
		check = s.ownerForm
	}
	b, sess, ok := check(w, r)
	if !ok {
		return nil, nil, nil, false
	}
	svc, ok := s.handlerOf(b).(*webhook.Service)
	if !ok {
		s.fail(w, r, http.StatusNotFound, b.Name+" is not a webhook bot, so it has no webhook settings.")
		return nil, nil, nil, false
	}
	return b, sess, svc, true
}

type webhookView struct {
	page
	Settings   webhook.Settings
	Deliveries []webhook.Delivery
	// NewSecret is shown once, on the page that answers the rotation.
	NewSecret string
	Notice    string
	Error     string
}

func (s *Server) webhookPath(b *bot) string { return "/b/" + url.PathEscape(b.Localpart) + "/webhook" }

func (s *Server) webhookPage(w http.ResponseWriter, r *http.Request) {
	b, sess, svc, ok := s.webhookOf(w, r, false)
	if !ok {
		return
	}
	s.renderWebhook(w, r, b, sess, svc, http.StatusOK, webhookView{Notice: map[string]string{
		"url": "The URL is changed: the next event goes there.", "finished": "Only the new secret signs now.",
		"retry": "The event is sent again within a few seconds; reload to see how it went.",
	}[r.URL.Query().Get("done")]})
}

func (s *Server) renderWebhook(w http.ResponseWriter, r *http.Request, b *bot, sess *session, svc *webhook.Service, status int, v webhookView) {
	var err error
	if v.Settings, err = svc.Settings(r.Context()); err != nil {
		s.internal(w, r, err)
		return
	}
	if v.Deliveries, err = svc.Deliveries(r.Context(), 50); err != nil {
		s.internal(w, r, err)
		return
	}
	v.page = s.plainPage(b, sess, b.Name+": webhook")
	s.render(w, r, status, "webhook.html", v)
}

// webhookAction changes the URL, rotates the secret, finishes a rotation
// or retries a delivery.
func (s *Server) webhookAction(w http.ResponseWriter, r *http.Request) {
	b, sess, svc, ok := s.webhookOf(w, r, true)
	if !ok {
		return
	}
	ctx, by := r.Context(), sess.User.String()
	log := s.opts.Log.Info().Str("bot", b.UserID.String()).Str("staff", by)
	switch r.PathValue("action") {
	case "url":
		err := svc.SetURL(ctx, strings.TrimSpace(r.PostFormValue("url")), by)
		if errors.Is(err, webhook.ErrBadURL) {
			s.renderWebhook(w, r, b, sess, svc, http.StatusBadRequest, webhookView{Error: "The URL must start with https:// (or http://) and name a host, like https://shop.example/bizbots."})
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		log.Msg("webhook URL changed in the console")
		http.Redirect(w, r, s.webhookPath(b)+"?done=url", http.StatusSeeOther)
	case "rotate":
		secret, err := svc.RotateSecret(ctx, by)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		log.Msg("webhook secret rotated in the console")
		// Shown on this answer only (no redirect): the page is not
		// cached (Cache-Control: no-store) and the secret is not shown
		// again.
		s.renderWebhook(w, r, b, sess, svc, http.StatusOK, webhookView{NewSecret: secret})
	case "finish":
		if err := svc.FinishRotation(ctx, by); err != nil {
			s.internal(w, r, err)
			return
		}
		log.Msg("webhook secret rotation finished in the console")
		http.Redirect(w, r, s.webhookPath(b)+"?done=finished", http.StatusSeeOther)
	case "retry":
		s.retryDelivery(w, r, b, svc)
	default:
		s.fail(w, r, http.StatusNotFound, "There is no such page.")
	}
}

// retryDelivery sends a failed or given-up event again: its inbox event
// is due now, and the webhook service delivers it like the first time
// (with the same webhook-id, so the business can tell).
func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request, b *bot, svc *webhook.Service) {
	d, err := svc.Delivery(r.Context(), r.PostFormValue("msg_id"))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if d == nil || !d.Retryable() {
		s.fail(w, r, http.StatusConflict, "This delivery cannot be retried: it was delivered, is a conversation start, or is no longer listed.")
		return
	}
	// Only the bot's own one-to-one rooms: elsewhere other bots would
	// handle the event again too.
	if c, err := store.ConsoleConversationIn(r.Context(), s.opts.DB, b.UserID.String(), d.RoomID); err != nil {
		s.internal(w, r, err)
		return
	} else if c == nil {
		s.fail(w, r, http.StatusConflict, "This delivery is not from a one-to-one chat with the bot, so it cannot be retried here.")
		return
	}
	found, err := store.RetryEvent(r.Context(), s.opts.DB, d.RoomID, d.EventID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !found {
		s.fail(w, r, http.StatusConflict, "This event is already being sent, or bizbots no longer keeps it (events are kept for the configured retention).")
		return
	}
	s.opts.Log.Info().Str("bot", b.UserID.String()).Str("webhook_id", d.MsgID).Msg("webhook delivery retried from the console")
	if s.opts.OnInbox != nil {
		s.opts.OnInbox()
	}
	http.Redirect(w, r, s.webhookPath(b)+"?done=retry", http.StatusSeeOther)
}
