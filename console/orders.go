package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/store"
)

// The orders board: a bot's orders (rides, appointments) of one day in
// the business's time zone, in columns by status, each with a button per
// status staff may move it to. A move is the service's own (the customer
// gets the text "!order 1042 ready" in the staff room sends), committed
// with the move's form token: a double click or a retried POST sends
// nothing twice.

type boardColumn struct {
	backoffice.Column
	Orders []backoffice.Order
}

type ordersView struct {
	page
	Day, Prev, Next string
	DayLabel        string
	Today           bool
	Columns         []boardColumn
	Count           int
	Token           string
	Notice, Error   string
	NoBoard         bool
}

const dayLayout = "2006-01-02"

// dayOf is the day the request asks for (today by default) in loc.
func dayOf(r *http.Request, loc *time.Location) (time.Time, bool) {
	now := time.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	v := r.FormValue("day")
	if v == "" {
		return today, true
	}
	d, err := time.ParseInLocation(dayLayout, v, loc)
	return d, err == nil
}

func (s *Server) orders(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staffFor(w, r, pageOrders)
	if !ok {
		return
	}
	s.renderBoard(w, r, b, sess, http.StatusOK, noticeOf(r.URL.Query().Get("done")), "")
}

func noticeOf(done string) string {
	switch done {
	case "moved":
		return "Order moved; the customer is being told."
	case "again":
		return "That move was already made; the customer was not told twice."
	}
	return ""
}

func (s *Server) renderBoard(w http.ResponseWriter, r *http.Request, b *bot, sess *session, status int, notice, errText string) {
	day, ok := dayOf(r, b.Loc)
	if !ok {
		s.fail(w, r, http.StatusBadRequest, "The day must be written like 2026-03-01.")
		return
	}
	pg, err := s.pageFor(r, b, sess, b.Name+": orders")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	next := day.AddDate(0, 0, 1)
	now := time.Now().In(b.Loc)
	v := ordersView{page: pg, Day: day.Format(dayLayout), Prev: day.AddDate(0, 0, -1).Format(dayLayout), Next: next.Format(dayLayout),
		DayLabel: day.Format("Monday 2 January 2006"), Today: !now.Before(day) && now.Before(next), Token: randomToken(),
		Notice: notice, Error: errText}
	board, _ := s.handlerOf(b).(backoffice.Board)
	if board == nil {
		v.NoBoard = true
		s.render(w, r, status, "orders.html", v)
		return
	}
	orders, err := board.BoardOrders(r.Context(), b.UserID, day, next)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for _, c := range board.BoardColumns() {
		col := boardColumn{Column: c}
		for _, o := range orders {
			if o.Status == c.Status {
				col.Orders = append(col.Orders, o)
			}
		}
		v.Columns = append(v.Columns, col)
	}
	v.Count = len(orders)
	s.render(w, r, status, "orders.html", v)
}

// moveOrder moves one order. The form's token is claimed in the move's
// transaction: a second POST of the same form finds it and does nothing.
func (s *Server) moveOrder(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staffFor(w, r, pageOrders)
	if !ok {
		return
	}
	board, _ := s.handlerOf(b).(backoffice.Board)
	order, to, token := r.PostFormValue("order"), r.PostFormValue("to"), r.PostFormValue("token")
	switch {
	case board == nil:
		s.fail(w, r, http.StatusNotFound, "This bot has no orders board.")
		return
	case order == "" || to == "" || len(token) < 20 || len(token) > 100:
		s.fail(w, r, http.StatusBadRequest, "The form is incomplete. Reload the page and try again.")
		return
	}
	ctx := r.Context()
	fresh, queued := false, 0
	err := s.opts.DB.Tx(ctx, func(tx store.Tx) error {
		var err error
		// The token is per page; the move is part of the key, so the other
		// buttons of the same page still work.
		if fresh, err = store.ClaimReplyToken(ctx, tx, hashID(sess.idHash+"\x00move\x00"+token+"\x00"+order+"\x00"+to)); err != nil || !fresh {
			return err
		}
		queued, err = s.opts.Bots.Act(ctx, tx, b.UserID, sess.User, func(_ handlers.Handler, c *handlers.Conversation) error {
			return board.MoveOrder(ctx, c, order, to)
		})
		if err != nil {
			return err
		}
		return store.AddAudit(ctx, tx, b.UserID.String(), store.AuditEntry{User: sess.User.String(), Time: store.Now(),
			What: "order: " + order, New: to})
	})
	log := s.opts.Log.With().Str("bot", b.UserID.String()).Str("staff", sess.User.String()).Str("order", order).Str("to", to).Logger()
	switch msg := userMessage(err); {
	case msg != "":
		s.renderBoard(w, r, b, sess, http.StatusConflict, "", msg)
		return
	case errors.Is(err, handlers.ErrConflict):
		s.renderBoard(w, r, b, sess, http.StatusConflict, "", "Someone moved this order at the same moment; its status is up to date below. Try again if it still needs moving.")
		return
	case err != nil && !errors.Is(err, context.Canceled):
		s.internal(w, r, err)
		return
	case err != nil:
		return
	}
	log.Info().Bool("duplicate", !fresh).Int("messages", queued).Msg("order moved in the console")
	s.wake(queued > 0)
	done := "moved"
	if !fresh {
		done = "again"
	}
	http.Redirect(w, r, botPath(b, "orders")+"?day="+url.QueryEscape(strings.TrimSpace(r.PostFormValue("day")))+"&done="+done, http.StatusSeeOther)
}
