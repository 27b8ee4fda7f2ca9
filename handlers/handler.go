// Package handlers is the API a business developer writes bots against.
//
// It reads like net/http: a Handler gets a context, the Conversation (who,
// where, and a way to answer) and the customer's Message, and returns an
// error. HandlerFunc adapts a function, Middleware wraps a Handler. The
// framework (the dispatcher) decides what a customer sees when a handler
// fails: a UserError's text as written, anything else as a polite apology
// with a short reference id that is also in the log.
//
// Everything a handler does is buffered on the Conversation and committed
// by the dispatcher in one database transaction together with marking the
// customer's event handled, so a crash never leaves a reply sent twice or
// a state change without its reply. This package does no I/O of its own.
package handlers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"
)

// Handler answers one customer event in one conversation.
type Handler interface {
	Handle(ctx context.Context, c *Conversation, m *Message) error
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(ctx context.Context, c *Conversation, m *Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, c *Conversation, m *Message) error {
	return f(ctx, c, m)
}

// Middleware wraps a Handler with behaviour of its own.
type Middleware func(Handler) Handler

// Chain wraps h in mw, the first middleware outermost.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Welcomer is implemented by handlers that greet a room when their bot
// joins it after an invite. Without it the bot's configured welcome text
// is sent.
type Welcomer interface {
	Welcome(ctx context.Context, c *Conversation) error
}

// Ender is implemented by handlers that want to know when a direct
// conversation ends: the customer left the room (reason EndedLeft), was
// removed from it (EndedRemoved), or staff closed it in the console
// (EndedClosed). Nothing Ended queues reaches a customer who left; it
// may return RetryAt like Handle.
type Ender interface {
	Ended(ctx context.Context, c *Conversation, reason string) error
}

// Reasons a conversation ended, given to Ender.
const (
	EndedLeft    = "left"
	EndedRemoved = "removed"
	EndedClosed  = "closed"
)

// UserError is an error whose Text is safe to show to the customer as is.
type UserError struct {
	Text string
	Err  error
}

func (e *UserError) Error() string {
	if e.Err != nil {
		return e.Text + ": " + e.Err.Error()
	}
	return e.Text
}

func (e *UserError) Unwrap() error { return e.Err }

// Errorf returns a UserError with formatted, customer-visible text.
func Errorf(format string, args ...any) error {
	return &UserError{Text: fmt.Sprintf(format, args...)}
}

// ErrTemporary marks a failure worth retrying (a backend that is down, a
// conflicting write). Wrap it (fmt.Errorf("…: %w", handlers.ErrTemporary))
// and the dispatcher runs the handler again later, keeping the room's
// order; after the configured attempts the event is parked.
var ErrTemporary = errors.New("temporary failure")

// ErrConflict marks a commit that lost a race (a slot booked by someone
// else a moment earlier). The event is handled again at once, so the
// handler sees the new state and answers accordingly.
var ErrConflict = errors.New("conflicting write")

// Watcher is implemented by handlers that want every message of some
// group rooms without being mentioned (a staff room where "!order 1042
// ready" changes an order).
type Watcher interface {
	Watches(room id.RoomID) bool
}

// Forgetter is implemented by services that keep customer data in tables
// of their own (orders, bookings, tickets): when a customer asks to be
// forgotten, ForgetCustomer runs in the same transaction as the
// framework's own erasure and must delete or anonymise that customer's
// rows for this bot.
type Forgetter interface {
	ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error
}

// RetryAt asks for this same event again at at, keeping the room's order
// (a business's webhook server that is down). Unlike ErrTemporary it does
// not count toward the dispatcher's max_attempts: the handler owns its
// retry schedule and gives up by returning nil or another error. What the
// handler queued in this turn (a notice to the customer, state, OnCommit
// writes) is committed now, without the event being marked handled.
func RetryAt(at time.Time, err error) error { return &RetryError{At: at, Err: err} }

// RetryError is what RetryAt returns.
type RetryError struct {
	At  time.Time
	Err error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("retry at %s: %v", e.At.UTC().Format(time.RFC3339), e.Err)
}

func (e *RetryError) Unwrap() []error { return []error{e.Err, ErrTemporary} }

// Temporary wraps err so the dispatcher retries the event.
func Temporary(err error) error {
	return &temporaryError{err}
}

type temporaryError struct{ err error }

func (e *temporaryError) Error() string   { return e.err.Error() }
func (e *temporaryError) Unwrap() []error { return []error{e.err, ErrTemporary} }
