package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// Runtime is the running bots, as the console needs them for the orders
// board and the settings pages (the dispatcher provides it).
type Runtime interface {
	// Handler is bot's service handler now; the console looks on it for
	// handlers/backoffice's interfaces.
	Handler(bot id.UserID) (handlers.Handler, bool)
	// Act runs fn as a turn of bot by staff member actor and commits
	// what it queued in tx, returning how many messages it queued.
	Act(ctx context.Context, tx store.Tx, bot, actor id.UserID, fn func(h handlers.Handler, c *handlers.Conversation) error) (int, error)
}

// Who may do what. Agents and owners work the inbox and the orders
// board; only owners change the catalog and settings or broadcast. This is
// the only place that says so.
const (
	pageOrders    = "orders"
	pageSettings  = "settings"
	pageBroadcast = "broadcast"
)

func allowed(role, pg string) bool {
	switch pg {
	case pageSettings, pageBroadcast:
		return role == config.RoleOwner
	}
	return role == config.RoleOwner || role == config.RoleAgent
}

// staffFor is staff for one of the pages above: signed in, staff of the
// bot, and of a role that may use the page (403 otherwise; the bot's
// existence is no secret to its own staff).
func (s *Server) staffFor(w http.ResponseWriter, r *http.Request, pg string) (*bot, *session, bool) {
	b, sess, ok := s.staff(w, r)
	if !ok {
		return nil, nil, false
	}
	if !allowed(b.Conf.RoleOf(sess.User), pg) {
		s.fail(w, r, http.StatusForbidden, "Only the bot's owners can use this page. Ask one of them if something needs changing.")
		return nil, nil, false
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
		if !s.checkForm(w, r, sess) {
			return nil, nil, false
		}
	}
	return b, sess, true
}

// botPath is a page of bot b.
func botPath(b *bot, rest string) string { return "/b/" + url.PathEscape(b.Localpart) + "/" + rest }

// userMessage is the text of a handlers.UserError in err, or "".
func userMessage(err error) string {
	var ue *handlers.UserError
	if errors.As(err, &ue) {
		return ue.Text
	}
	return ""
}
