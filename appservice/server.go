package appservice

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// UserProvisioner creates bot users on demand for the user query endpoint.
type UserProvisioner interface {
	// IsBot says whether bizbots owns this user id.
	IsBot(userID id.UserID) bool
	// EnsureUser registers the bot on the homeserver if needed.
	EnsureUser(ctx context.Context, userID id.UserID) error
}

// Server serves the application-service API.
type Server struct {
	DB      *store.DB
	HSToken string
	// MaxBodyBytes caps a transaction body.
	MaxBodyBytes int64
	Users        UserProvisioner
	// Stored is called after a transaction added new events, with the
	// rooms they are in (wakes the dispatcher). May be nil.
	Stored func(rooms ...string)
	Log    zerolog.Logger
	// Extra serves paths outside the Matrix API (health, metrics); may be nil.
	Extra http.Handler
	// Keys takes the encryption data of transactions (MSC2409/MSC3202);
	// nil ignores it (see intake_crypto.go).
	Keys KeyReceiver
}

type route struct {
	// prefix is matched against the escaped path; the rest, unescaped,
	// is the route's one parameter.
	prefix string
	method string
	auth   bool
	serve  func(s *Server, w http.ResponseWriter, r *http.Request, param string)
}

// The AS API, current and legacy (pre-r0.1) paths.
var routes = []route{
	{"/_matrix/app/v1/transactions/", http.MethodPut, true, (*Server).serveTransaction},
	{"/transactions/", http.MethodPut, true, (*Server).serveTransaction},
	{"/_matrix/app/v1/users/", http.MethodGet, true, (*Server).serveUserQuery},
	{"/users/", http.MethodGet, true, (*Server).serveUserQuery},
	{"/_matrix/app/v1/rooms/", http.MethodGet, true, (*Server).serveRoomQuery},
	{"/rooms/", http.MethodGet, true, (*Server).serveRoomQuery},
	{"/_matrix/app/v1/ping", http.MethodPost, true, (*Server).servePing},
}

// ServeHTTP routes a request: unknown path → 404 M_UNRECOGNIZED, known
// path with the wrong method → 405 M_UNRECOGNIZED, then the hs_token is
// checked before the endpoint runs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	path := r.URL.EscapedPath()
	rt, param, ok := match(path)
	if !ok {
		if s.Extra != nil && !strings.HasPrefix(path, "/_matrix/") {
			s.Extra.ServeHTTP(w, r)
			return
		}
		writeError(w, http.StatusNotFound, ErrUnrecognized, "Unrecognized request")
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, ErrUnrecognized, "Method not allowed; use "+rt.method)
		return
	}
	if rt.auth && !s.authorized(w, r) {
		return
	}
	rt.serve(s, w, r, param)
	s.Log.Trace().Str("method", r.Method).Str("path", rt.prefix).Dur("took", time.Since(start)).Msg("request served")
}

func match(escapedPath string) (route, string, bool) {
	for _, rt := range routes {
		if strings.HasSuffix(rt.prefix, "/") {
			rest, ok := strings.CutPrefix(escapedPath, rt.prefix)
			if !ok || rest == "" || strings.Contains(rest, "/") {
				continue
			}
			param, err := url.PathUnescape(rest)
			if err != nil {
				continue
			}
			return rt, param, true
		}
		if escapedPath == rt.prefix {
			return rt, "", true
		}
	}
	return route{}, "", false
}

// authorized checks the hs_token from the Authorization header or the
// legacy access_token query parameter (both must match when both are
// given), in constant time. It writes the error itself.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	var header string
	hasHeader := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, found := strings.Cut(h, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			writeError(w, http.StatusUnauthorized, ErrMissingToken, "Authorization header must be 'Bearer <hs_token>'")
			return false
		}
		header, hasHeader = strings.TrimSpace(tok), true
		if header == "" {
			writeError(w, http.StatusUnauthorized, ErrMissingToken, "Authorization header has no token")
			return false
		}
	}
	query, hasQuery := r.URL.Query()["access_token"]
	var tokens []string
	if hasHeader {
		tokens = append(tokens, header)
	}
	if hasQuery {
		tokens = append(tokens, query[0])
	}
	if len(tokens) == 0 {
		writeError(w, http.StatusUnauthorized, ErrMissingToken, "Missing access token")
		return false
	}
	for _, tok := range tokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.HSToken)) != 1 {
			s.Log.Warn().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("request with a wrong hs_token refused")
			writeError(w, http.StatusForbidden, ErrForbidden, "Invalid access token")
			return false
		}
	}
	return true
}

func (s *Server) serveUserQuery(w http.ResponseWriter, r *http.Request, param string) {
	uid := id.UserID(param)
	if _, _, err := uid.Parse(); err != nil || s.Users == nil || !s.Users.IsBot(uid) {
		writeError(w, http.StatusNotFound, ErrNotFound, "No such user in this appservice's namespace")
		return
	}
	if err := s.Users.EnsureUser(r.Context(), uid); err != nil {
		s.Log.Error().Err(err).Str("user_id", param).Msg("user query: could not create bot user")
		writeError(w, http.StatusInternalServerError, ErrUnknown, "Could not create the user; try again")
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) serveRoomQuery(w http.ResponseWriter, r *http.Request, param string) {
	// bizbots claims no room aliases.
	writeError(w, http.StatusNotFound, ErrNotFound, "No such room alias in this appservice's namespace")
}

func (s *Server) servePing(w http.ResponseWriter, r *http.Request, _ string) {
	var body struct {
		TransactionID string `json:"transaction_id"`
	}
	// The spec does not require a body: an empty one means {}.
	if err := decodeJSON(r, 64<<10, &body); err != nil && !errors.Is(err, errEmptyBody) {
		writeDecodeError(w, err)
		return
	}
	s.Log.Info().Str("transaction_id", body.TransactionID).Msg("homeserver pinged us")
	writeJSON(w, http.StatusOK, struct{}{})
}
