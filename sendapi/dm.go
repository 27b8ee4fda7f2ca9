package sendapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// RoomOpener creates a direct chat as a bot (hsclient.Client is one).
type RoomOpener interface {
	CreateDirectRoom(ctx context.Context, bot, customer id.UserID, encrypted bool) (id.RoomID, error)
}

// OpeningTimeout is how long a direct chat being opened holds back other
// openings for the same bot and customer. A process that died between
// creating the room and recording it leaves its claim behind; when the
// homeserver's events of that room arrive meanwhile, the room is found
// and used, so it is only after this long without them that another room
// is created.
const OpeningTimeout = 2 * time.Minute

// errNeedRoom is returned from inside a send transaction (rolling it
// back) when the customer has no direct chat with the bot yet.
var errNeedRoom = errors.New("no direct chat yet")

// findDirectRoom returns the bot's direct chat with user: one they are in,
// else one the bot opened that they have not joined yet.
func findDirectRoom(ctx context.Context, tx *sql.Tx, bot, user string) (string, error) {
	room, err := store.DirectRoom(ctx, tx, bot, user)
	if err != nil || room != "" {
		return room, err
	}
	return store.InvitedDirectRoom(ctx, tx, bot, user)
}

// openDM creates a direct chat from bot to user and records it, so the
// send that needed it finds it. A nil answer means the room is there; an
// answer says why not (not kept for the Idempotency-Key: a retry tries
// again).
func (s *Server) openDM(ctx context.Context, q request, user id.UserID) *answer {
	bot := q.bot.String()
	now := time.Now()
	won := false
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO sendapi_dm_openings (bot_user_id, user_id, started_at) VALUES ($1, $2, $3)
			ON CONFLICT (bot_user_id, user_id) DO UPDATE SET started_at = excluded.started_at
			WHERE sendapi_dm_openings.started_at < $4`,
			bot, user.String(), now.UnixMilli(), now.Add(-OpeningTimeout).UnixMilli())
		if err != nil {
			return fmt.Errorf("claim direct chat opening: %w", err)
		}
		n, err := res.RowsAffected()
		won = n == 1
		return err
	})
	if err != nil {
		s.Log.Error().Err(err).Msg("cannot claim a direct chat opening")
		a := errAnswer(http.StatusInternalServerError, "M_UNKNOWN", "Internal error; retry with the same Idempotency-Key")
		return &a
	}
	if !won {
		a := errAnswer(http.StatusServiceUnavailable, "BB_OPENING_CHAT",
			"a direct chat with "+user.String()+" is being opened; retry with the same Idempotency-Key in a few seconds")
		a.retryAfter = 2
		return &a
	}
	release := func() {
		// A background context: the claim must go even when the
		// request's context is what failed.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.DB.ExecContext(ctx, `DELETE FROM sendapi_dm_openings WHERE bot_user_id = $1 AND user_id = $2`, bot, user.String()); err != nil {
			s.Log.Warn().Err(err).Msg("cannot release a direct chat opening; it goes stale on its own")
		}
	}
	room, err := s.Rooms.CreateDirectRoom(ctx, q.bot, user, s.EncryptDMs)
	if err != nil {
		q.log.Warn().Err(err).Msg("cannot open a direct chat for a send API message")
		var re mautrix.HTTPError
		if !errors.As(err, &re) || re.Response == nil {
			// No answer: the room may exist. The claim stays, so a retry
			// uses that room once its events arrive instead of opening
			// a second one.
			a := errAnswer(http.StatusServiceUnavailable, "BB_OPENING_CHAT",
				"no answer from the homeserver while opening a direct chat with "+user.String()+"; retry with the same Idempotency-Key")
			a.retryAfter = 10
			return &a
		}
		release()
		a := errAnswer(http.StatusBadGateway, "BB_HOMESERVER",
			"the homeserver did not open a direct chat with "+user.String()+": "+err.Error()+"; retry later with the same Idempotency-Key")
		if re.Response.StatusCode == http.StatusTooManyRequests || re.Response.StatusCode >= 500 {
			a.status, a.retryAfter = http.StatusServiceUnavailable, 5
		}
		return &a
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := store.SetBotMembership(ctx, tx, bot, room.String(), "join", true, bot); err != nil {
			return err
		}
		if err := store.AddInvitedMember(ctx, tx, room.String(), user.String()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM sendapi_dm_openings WHERE bot_user_id = $1 AND user_id = $2`, bot, user.String())
		return err
	})
	if err != nil {
		// The room exists; its events from the homeserver record it soon
		// and the claim keeps others from opening a second one until then.
		s.Log.Error().Err(err).Str("room_id", room.String()).Msg("direct chat opened but not recorded")
		a := errAnswer(http.StatusServiceUnavailable, "BB_OPENING_CHAT", "the direct chat is opened but not recorded yet; retry with the same Idempotency-Key in a few seconds")
		a.retryAfter = 5
		return &a
	}
	q.log.Info().Str("room_id", room.String()).Bool("encrypted", s.EncryptDMs).Msg("direct chat opened for a send API message")
	return nil
}

// ForgetCustomer drops a direct chat opening claim left for customer (it
// names them); services call it from their handlers.Forgetter.
func ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM sendapi_dm_openings WHERE bot_user_id = $1 AND user_id = $2`, bot.String(), customer.String())
	if err != nil {
		return fmt.Errorf("forget direct chat openings: %w", err)
	}
	return nil
}
