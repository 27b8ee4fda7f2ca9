package console

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bizbots/bizbots/store"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

func init() {
	store.RegisterSchema("console", schemaFiles, "schema")
}

// Limits of saved replies.
const (
	maxSavedTitleRunes = 80
	maxSavedPerBot     = 100
)

// savedReply is one of a bot's saved replies.
type savedReply struct {
	ID        int64
	Title     string
	Body      string
	UpdatedBy string
	UpdatedAt int64
}

// savedReplies lists bot's saved replies by title.
func savedReplies(ctx context.Context, q store.Querier, bot string) ([]savedReply, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, title, body, updated_by, updated_at FROM console_saved_replies
		WHERE bot_user_id = $1 ORDER BY title LIMIT $2`, bot, maxSavedPerBot)
	if err != nil {
		return nil, fmt.Errorf("list saved replies: %w", err)
	}
	defer rows.Close()
	var out []savedReply
	for rows.Next() {
		var s savedReply
		if err := rows.Scan(&s.ID, &s.Title, &s.Body, &s.UpdatedBy, &s.UpdatedAt); err != nil {
			return nil, fmt.Errorf("list saved replies: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// errSavedTitleTaken means the bot has a saved reply of that title.
var errSavedTitleTaken = errors.New("title taken")

// saveReply adds (id 0) or changes a saved reply of bot; it reports
// false when there is no saved reply id of that bot.
func saveReply(ctx context.Context, db *store.DB, bot string, id int64, title, body, by string) (bool, error) {
	var res sql.Result
	var err error
	if id == 0 {
		res, err = db.ExecContext(ctx, `INSERT INTO console_saved_replies (bot_user_id, title, body, updated_by, updated_at)
			VALUES ($1, $2, $3, $4, $5)`, bot, title, body, by, store.Now())
	} else {
		res, err = db.ExecContext(ctx, `UPDATE console_saved_replies SET title = $1, body = $2, updated_by = $3, updated_at = $4
			WHERE id = $5 AND bot_user_id = $6`, title, body, by, store.Now(), id, bot)
	}
	if store.IsUniqueViolation(err) {
		return false, errSavedTitleTaken
	}
	if err != nil {
		return false, fmt.Errorf("save saved reply: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// deleteSavedReply removes saved reply id of bot.
func deleteSavedReply(ctx context.Context, db *store.DB, bot string, id int64) (bool, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM console_saved_replies WHERE id = $1 AND bot_user_id = $2`, id, bot)
	if err != nil {
		return false, fmt.Errorf("delete saved reply: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

type savedView struct {
	page
	Replies []savedReply
	Notice  string
	Error   string
	// Title and Body refill the new-reply form after an error.
	Title, Body string
}

func (s *Server) savedPath(b *bot) string { return "/b/" + url.PathEscape(b.Localpart) + "/saved" }

// savedPage lists the bot's saved replies for its owners to edit.
func (s *Server) savedPage(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.ownerOf(w, r)
	if !ok {
		return
	}
	s.renderSaved(w, r, b, sess, http.StatusOK, savedView{Notice: map[string]string{
		"added": "Saved reply added.", "changed": "Saved reply changed.", "deleted": "Saved reply deleted.",
	}[r.URL.Query().Get("done")]})
}

func (s *Server) renderSaved(w http.ResponseWriter, r *http.Request, b *bot, sess *session, status int, v savedView) {
	list, err := savedReplies(r.Context(), s.opts.DB, b.UserID.String())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v.page = s.plainPage(b, sess, b.Name+": saved replies")
	v.Replies = list
	s.render(w, r, status, "saved.html", v)
}

// checkSaved says what is wrong with a saved reply's title and body.
func checkSaved(title, body string) string {
	switch {
	case title == "" || body == "":
		return "Give the saved reply a title and a text."
	case utf8.RuneCountInString(title) > maxSavedTitleRunes:
		return fmt.Sprintf("The title is too long (%d characters; at most %d).", utf8.RuneCountInString(title), maxSavedTitleRunes)
	case utf8.RuneCountInString(body) > maxReplyRunes:
		return fmt.Sprintf("The text is too long (%d characters; at most %d).", utf8.RuneCountInString(body), maxReplyRunes)
	}
	return ""
}

// saveSaved adds a saved reply, or changes the one named in the path.
func (s *Server) saveSaved(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.ownerForm(w, r)
	if !ok {
		return
	}
	title := strings.Join(strings.Fields(r.PostFormValue("title")), " ")
	body := strings.TrimSpace(r.PostFormValue("body"))
	var id int64
	if v := r.PathValue("id"); v != "" {
		var err error
		if id, err = strconv.ParseInt(v, 10, 64); err != nil || id < 1 {
			s.fail(w, r, http.StatusNotFound, "There is no such saved reply.")
			return
		}
	}
	if msg := checkSaved(title, body); msg != "" {
		s.renderSaved(w, r, b, sess, http.StatusBadRequest, savedView{Error: msg, Title: title, Body: body})
		return
	}
	if id == 0 {
		list, err := savedReplies(r.Context(), s.opts.DB, b.UserID.String())
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if len(list) >= maxSavedPerBot {
			s.renderSaved(w, r, b, sess, http.StatusBadRequest, savedView{Error: fmt.Sprintf("A bot can have at most %d saved replies; delete one first.", maxSavedPerBot)})
			return
		}
	}
	found, err := saveReply(r.Context(), s.opts.DB, b.UserID.String(), id, title, body, sess.User.String())
	switch {
	case errors.Is(err, errSavedTitleTaken):
		s.renderSaved(w, r, b, sess, http.StatusConflict, savedView{Error: fmt.Sprintf("There is already a saved reply called %q; choose another title.", title), Title: title, Body: body})
		return
	case err != nil:
		s.internal(w, r, err)
		return
	case !found:
		s.fail(w, r, http.StatusNotFound, "There is no such saved reply (another owner may have deleted it).")
		return
	}
	s.opts.Log.Info().Str("bot", b.UserID.String()).Str("staff", sess.User.String()).Int64("saved_reply", id).Msg("saved reply stored")
	done := "changed"
	if id == 0 {
		done = "added"
	}
	http.Redirect(w, r, s.savedPath(b)+"?done="+done, http.StatusSeeOther)
}

func (s *Server) deleteSaved(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.ownerForm(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "There is no such saved reply.")
		return
	}
	found, err := deleteSavedReply(r.Context(), s.opts.DB, b.UserID.String(), id)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !found {
		s.fail(w, r, http.StatusNotFound, "There is no such saved reply (another owner may have deleted it).")
		return
	}
	s.opts.Log.Info().Str("bot", b.UserID.String()).Str("staff", sess.User.String()).Int64("saved_reply", id).Msg("saved reply deleted")
	http.Redirect(w, r, s.savedPath(b)+"?done=deleted", http.StatusSeeOther)
}

// draftFrom is the text a reply form starts with: the saved reply named by
// ?use= (how a saved reply is inserted without JavaScript).
func draftFrom(r *http.Request, list []savedReply) string {
	id, err := strconv.ParseInt(r.URL.Query().Get("use"), 10, 64)
	if err != nil {
		return ""
	}
	for _, s := range list {
		if s.ID == id {
			return s.Body
		}
	}
	return ""
}
