// Package sendapi is the Send API: a business's own server sends
// messages as its bots (an answer later, a proactive update), reads what
// its bots know of a customer, and follows a message's delivery, over
// HTTP+JSON under /_bizbots/v1/ on a listen address of its own.
//
// Every message goes through the outbox in one transaction with its
// Idempotency-Key, so it is sent exactly once however often a business
// retries. A token belongs to one business and may act only as that
// business's bots; tokens are stored hashed. Messages go only where a
// customer talked to the bot first and did not say stop. The package
// sends nothing itself: the sender delivers the outbox.
package sendapi

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

func init() {
	store.RegisterSchema("sendapi", schemaFiles, "schema")
}

// BasePath is where the API lives.
const BasePath = "/_bizbots/v1"

// IdempotencyRetention is how long an Idempotency-Key is remembered.
const IdempotencyRetention = 48 * time.Hour

// maxRequestBytes bounds a request body.
const maxRequestBytes = 1 << 20

// Server serves the Send API.
type Server struct {
	DB *store.DB
	// IsBot says whether a user id is one of bizbots' bots now (config
	// bots and bots added at run time).
	IsBot func(id.UserID) bool
	// Rooms opens a direct chat for a message to a customer who talked to
	// the bot but has none open (they left it). Nil: such a message is
	// refused with 409 BB_NO_DIRECT_CHAT.
	Rooms RoomOpener
	// EncryptDMs makes the direct chats Rooms opens end-to-end encrypted.
	EncryptDMs bool
	// Media fetches images and files given by URL and takes uploads.
	// Nil: only mxc:// media, and no uploads.
	Media MediaStore
	// OnOutbox wakes the sender after a message is queued. May be nil.
	OnOutbox func()
	// Rate and Burst limit each business's requests (default 10/s, 20).
	Rate  rate.Limit
	Burst int
	Log   zerolog.Logger
	// Extra routes mounted on the same mux (the admin API), may be nil.
	Extra func(mux *http.ServeMux)

	once     sync.Once
	mux      *http.ServeMux
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func (s *Server) init() {
	if s.Rate == 0 {
		s.Rate = 10
	}
	if s.Burst == 0 {
		s.Burst = 20
	}
	s.limiters = map[string]*rate.Limiter{}
	mux := http.NewServeMux()
	mux.Handle("POST "+BasePath+"/bots/{bot}/messages", s.business(s.postMessage))
	mux.Handle("GET "+BasePath+"/bots/{bot}/messages/{id}", s.business(s.getMessage))
	mux.Handle("GET "+BasePath+"/bots/{bot}/customers/{user}", s.business(s.getCustomer))
	mux.Handle("POST "+BasePath+"/bots/{bot}/media", s.business(s.postMedia))
	if s.Extra != nil {
		s.Extra(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "M_UNRECOGNIZED", "Unrecognized request")
	})
	s.mux = mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(s.init)
	s.mux.ServeHTTP(w, r)
}

// Prune forgets idempotency keys older than IdempotencyRetention.
func (s *Server) Prune(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM sendapi_idempotency WHERE created_at < $1`, now.Add(-IdempotencyRetention).UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// WriteError answers with a Matrix-style error body.
func WriteError(w http.ResponseWriter, status int, errcode, msg string) {
	writeJSON(w, status, map[string]string{"errcode": errcode, "error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// request is what a business handler gets: who asks, as which bot.
type request struct {
	business string
	bot      id.UserID
	log      zerolog.Logger
}

// business authenticates the token, checks the bot is the business's and
// applies its rate limit.
func (s *Server) business(fn func(w http.ResponseWriter, r *http.Request, q request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		r = r.WithContext(ctx)
		name, err := authenticate(ctx, s.DB, r.Header.Get("Authorization"))
		switch {
		case errors.Is(err, errMissingToken):
			WriteError(w, http.StatusUnauthorized, "M_MISSING_TOKEN", "Missing access token: send Authorization: Bearer <token>")
			return
		case errors.Is(err, errUnknownToken):
			WriteError(w, http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "Unrecognised access token")
			return
		case err != nil:
			s.internal(w, err, "authenticate")
			return
		}
		if ok, wait := s.allow(name); !ok {
			w.Header().Set("Retry-After", formatSeconds(wait))
			WriteError(w, http.StatusTooManyRequests, "M_LIMIT_EXCEEDED", "Too many requests; retry after "+formatSeconds(wait)+" s")
			return
		}
		bot := id.UserID(r.PathValue("bot"))
		if _, _, err := bot.Parse(); err != nil {
			WriteError(w, http.StatusBadRequest, "M_INVALID_PARAM", "bot must be a Matrix user id like @shop:example.org")
			return
		}
		owned, err := mayUse(ctx, s.DB, name, bot)
		if err != nil {
			s.internal(w, err, "check scope")
			return
		}
		if !owned || (s.IsBot != nil && !s.IsBot(bot)) {
			WriteError(w, http.StatusForbidden, "M_FORBIDDEN", "This token may not act as "+bot.String())
			return
		}
		fn(w, r, request{business: name, bot: bot, log: s.Log.With().Str("business", name).Str("bot", bot.String()).Logger()})
	})
}

func (s *Server) internal(w http.ResponseWriter, err error, what string) {
	s.Log.Error().Err(err).Str("step", what).Msg("send API request failed")
	WriteError(w, http.StatusInternalServerError, "M_UNKNOWN", "Internal error; retry with the same Idempotency-Key")
}

// allow takes one request from business's bucket; when empty it says how
// long until the next one.
func (s *Server) allow(business string) (bool, time.Duration) {
	s.mu.Lock()
	lim, ok := s.limiters[business]
	if !ok {
		lim = rate.NewLimiter(s.Rate, s.Burst)
		s.limiters[business] = lim
	}
	s.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func formatSeconds(d time.Duration) string {
	return strconv.Itoa(max(int(math.Ceil(d.Seconds())), 1))
}
