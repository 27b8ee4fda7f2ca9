package console

import (
	"net/http"

	"github.com/bizbots/bizbots/config"
)

// What each role may do. The same list is in docs/console.md.
//
//   - agent: the inbox and conversations; take over, reply (with the saved
//     replies), hand back, close.
//   - owner: everything an agent may, and the pages that change how the
//     bot works: saved replies, webhook settings (and the orders, catalog,
//     settings and broadcast pages).
//
// Every owner page and action checks the role itself (ownerOf, ownerForm);
// the navigation only hides what an agent cannot use.

// isOwner reports whether the session's user is an owner of b.
func (s *Server) isOwner(b *bot, sess *session) bool {
	return b.Conf.RoleOf(sess.User) == config.RoleOwner
}

// ownerOf is staff for a page only owners may see: an agent gets a 403
// page that says why and whom to ask.
func (s *Server) ownerOf(w http.ResponseWriter, r *http.Request) (*bot, *session, bool) {
	b, sess, ok := s.staff(w, r)
	if !ok {
		return nil, nil, false
	}
	if !s.isOwner(b, sess) {
		s.opts.Log.Info().Str("bot", b.UserID.String()).Str("staff", sess.User.String()).Str("path", r.URL.Path).
			Msg("console: an agent was refused an owner page")
		s.fail(w, r, http.StatusForbidden, "Only the bot's owners can use this page; you are one of its agents. Ask an owner of "+b.Name+" if something here needs changing.")
		return nil, nil, false
	}
	return b, sess, true
}

// ownerForm checks a form posted to an owner page: signed in, an owner of
// the bot, the session's CSRF token.
func (s *Server) ownerForm(w http.ResponseWriter, r *http.Request) (*bot, *session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	b, sess, ok := s.ownerOf(w, r)
	if !ok || !s.checkForm(w, r, sess) {
		return nil, nil, false
	}
	return b, sess, true
}

// plainPage is the page frame of bot b for the session, without a live
// stream.
func (s *Server) plainPage(b *bot, sess *session, title string) page {
	return page{Title: title, User: sess.User, CSRF: sess.CSRF, Bot: b, Owner: s.isOwner(b, sess), Role: b.Conf.RoleOf(sess.User)}
}
