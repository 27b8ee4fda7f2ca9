package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

const (
	sessionCookie = "bizbots_console"
	// loginCookie carries the login form's CSRF token (there is no
	// session yet to keep it in): double submit.
	loginCookie = "bizbots_console_login"
)

// session is the signed-in staff member of a request.
type session struct {
	User   id.UserID
	CSRF   string
	idHash string
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode}
}

// session returns the request's signed-in session, or nil.
func (s *Server) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	h := hashID(c.Value)
	row, err := store.LoadConsoleSession(r.Context(), s.opts.DB, h, store.Now())
	if err != nil || row == nil {
		return nil, err
	}
	return &session{User: id.UserID(row.UserID), CSRF: row.CSRF, idHash: h}, nil
}

// sameOrigin refuses a form posted from another site: browsers send
// Origin on POST; when they do, it must be the console's own.
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || o == s.origin
}

// checkForm verifies a POST from a signed-in session: same origin and the
// session's synchronizer token.
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request, sess *session) bool {
	if !s.sameOrigin(r) || !equal(r.PostFormValue("csrf"), sess.CSRF) {
		s.fail(w, r, http.StatusForbidden, "This form has expired or did not come from the console. Go back, reload the page and try again.")
		return false
	}
	return true
}

type loginView struct {
	page
	CSRF, User, Error, Next string
	// The configured homeserver, for the OpenID helper.
	HSDomain, HSURL string
	OpenIDError     bool
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, "", "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, user, msg string) {
	tok := randomToken()
	http.SetCookie(w, s.cookie(loginCookie, tok, 3600))
	s.openIDPolicy(w)
	s.render(w, r, status, "login.html", loginView{page: page{Title: "Sign in"}, CSRF: tok, User: user, Error: msg, Next: safeNext(r.FormValue("next")),
		HSDomain: s.opts.Config.Homeserver.Domain, HSURL: s.opts.Config.Homeserver.URL, OpenIDError: r.URL.Path == "/login/openid"})
}

// safeNext keeps a redirect after sign-in on the console itself.
func safeNext(v string) string {
	if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.Contains(v, `\`) {
		return "/"
	}
	return v
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || !s.sameOrigin(r) || !equal(r.PostFormValue("csrf"), c.Value) {
		s.renderLogin(w, r, http.StatusForbidden, "", "The sign-in form expired. Please try again.")
		return
	}
	user, password := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("password")
	if user == "" || password == "" {
		s.renderLogin(w, r, http.StatusBadRequest, user, "Enter your Matrix user name and password.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	uid, err := s.opts.Auth.Login(ctx, user, password)
	log := s.opts.Log
	switch {
	case errors.Is(err, ErrBadCredentials):
		s.renderLogin(w, r, http.StatusUnauthorized, user, "Wrong user name or password.")
		return
	case err != nil:
		log.Warn().Err(err).Msg("console sign-in: the homeserver did not answer")
		s.renderLogin(w, r, http.StatusBadGateway, user, "The homeserver cannot check your password right now. Try again in a minute.")
		return
	}
	s.startSession(w, r, uid, user)
}

// startSession signs uid in (the homeserver said who it is): a new
// session, its cookie, and on to the page asked for. user refills the
// form when uid may not sign in.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, uid id.UserID, user string) {
	log := s.opts.Log
	if len(s.botsOf(uid)) == 0 {
		log.Info().Str("user_id", uid.String()).Msg("console sign-in refused: not staff of any bot")
		s.renderLogin(w, r, http.StatusForbidden, user, "You signed in as "+uid.String()+", who is not staff of any bot here. Ask the bot's owner to add you.")
		return
	}
	raw, csrf := randomToken(), randomToken()
	if err := store.CreateConsoleSession(r.Context(), s.opts.DB, hashID(raw), uid.String(), csrf, time.Now().Add(s.ttl).UnixMilli()); err != nil {
		log.Error().Err(err).Msg("console sign-in: cannot store the session")
		s.renderLogin(w, r, http.StatusInternalServerError, user, "Signing in failed on our side. Try again in a minute.")
		return
	}
	log.Info().Str("user_id", uid.String()).Msg("console sign-in")
	http.SetCookie(w, s.cookie(loginCookie, "", -1))
	http.SetCookie(w, s.cookie(sessionCookie, raw, int(s.ttl.Seconds())))
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err != nil || sess == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !s.checkForm(w, r, sess) {
		return
	}
	if err := store.DeleteConsoleSession(r.Context(), s.opts.DB, sess.idHash, store.Now()); err != nil {
		s.internal(w, r, err)
		return
	}
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// botsOf lists the bots user is staff of, in config order.
func (s *Server) botsOf(user id.UserID) []*bot {
	var out []*bot
	for _, b := range s.order {
		if b.Conf.RoleOf(user) != "" {
			out = append(out, b)
		}
	}
	return out
}

// staff resolves the request's bot and checks the session may use it.
// Anyone not signed in goes to the sign-in page; staff of other bots get
// the same 404 as a bot that does not exist, so bot names do not leak.
func (s *Server) staff(w http.ResponseWriter, r *http.Request) (*bot, *session, bool) {
	sess, err := s.session(r)
	if err != nil {
		s.internal(w, r, err)
		return nil, nil, false
	}
	if sess == nil {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		} else {
			s.fail(w, r, http.StatusUnauthorized, "You are signed out. Sign in again, then repeat what you did.")
		}
		return nil, nil, false
	}
	b := s.bots[r.PathValue("bot")]
	if b == nil || b.Conf.RoleOf(sess.User) == "" {
		s.fail(w, r, http.StatusNotFound, "There is no such bot, or you are not one of its staff.")
		return nil, nil, false
	}
	return b, sess, true
}

// MatrixLogin checks passwords with the homeserver's password login
// (POST /_matrix/client/v3/login) and logs the new device out at once:
// the console only wants to know who the user is.
type MatrixLogin struct {
	HomeserverURL string
	Client        *http.Client
}

// Login implements Authenticator.
func (m MatrixLogin) Login(ctx context.Context, user, password string) (id.UserID, error) {
	cli := m.Client
	if cli == nil {
		cli = &http.Client{Timeout: 15 * time.Second}
	}
	body, _ := json.Marshal(map[string]any{
		"type":                        "m.login.password",
		"identifier":                  map[string]string{"type": "m.id.user", "user": user},
		"password":                    password,
		"initial_device_display_name": "bizbots console sign-in",
	})
	base := strings.TrimRight(m.HomeserverURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_matrix/client/v3/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cli.Do(req)
	if err != nil {
		return "", fmt.Errorf("matrix login: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		UserID      id.UserID `json:"user_id"`
		AccessToken string    `json:"access_token"`
		ErrCode     string    `json:"errcode"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 64<<10)).Decode(&out)
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized ||
		(resp.StatusCode == http.StatusBadRequest && out.ErrCode == "M_INVALID_USERNAME"):
		return "", ErrBadCredentials
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("matrix login: status %d %s", resp.StatusCode, out.ErrCode)
	case out.UserID == "" || out.AccessToken == "":
		return "", errors.New("matrix login: the answer has no user_id or access_token")
	}
	// Best effort: a device left behind is harmless but untidy.
	if req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_matrix/client/v3/logout", strings.NewReader("{}")); err == nil {
		req.Header.Set("Authorization", "Bearer "+out.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := cli.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	return out.UserID, nil
}
