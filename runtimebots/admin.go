package runtimebots

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/store"
)

// AdminPath is where the admin API lives, under the Send API's listener.
const AdminPath = sendapi.BasePath + "/admin"

// Admin is the admin API: bots at run time over HTTP, guarded by the
// config's send_api.admin_token.
type Admin struct {
	DB     *store.DB
	Config *config.Config
	Token  string
	// Sync applies a change to this process at once (other processes
	// pick it up on their next sync). May be nil.
	Sync func(ctx context.Context) error
	Log  zerolog.Logger
}

// Mount adds the admin routes to mux.
func (a *Admin) Mount(mux *http.ServeMux) {
	mux.Handle("GET "+AdminPath+"/bots", a.guard(a.list))
	mux.Handle("POST "+AdminPath+"/bots", a.guard(a.add))
	mux.Handle("DELETE "+AdminPath+"/bots/{localpart}", a.guard(a.remove))
	mux.Handle("POST "+AdminPath+"/bots/{localpart}/rotate-secret", a.guard(a.rotate))
	mux.Handle("GET "+AdminPath+"/status", a.guard(a.status))
}

// status answers what `bizbots status --json` prints, for every bot this
// bizbots runs (the config's and those added at run time): rooms,
// customers, waiting work and its age, parked events, failed replies.
func (a *Admin) status(w http.ResponseWriter, r *http.Request) {
	limit := store.DefaultStatusLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			sendapi.WriteError(w, http.StatusBadRequest, "M_INVALID_PARAM", "limit must be a whole number from 1 to 1000")
			return
		}
		limit = n
	}
	var bots []string
	for _, b := range a.Config.Bots {
		bots = append(bots, a.Config.UserID(b.Localpart).String())
	}
	added, err := List(r.Context(), a.DB, a.Config)
	if err != nil {
		a.fail(w, err)
		return
	}
	for _, b := range added {
		bots = append(bots, b.UserID.String())
	}
	st, err := a.DB.Status(r.Context(), bots, limit)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *Admin) guard(fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok || token == "":
			sendapi.WriteError(w, http.StatusUnauthorized, "M_MISSING_TOKEN", "Missing admin token: send Authorization: Bearer <send_api.admin_token>")
		case subtle.ConstantTimeCompare([]byte(token), []byte(a.Token)) != 1:
			sendapi.WriteError(w, http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "Unrecognised admin token")
		default:
			fn(w, r)
		}
	})
}

func (a *Admin) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		sendapi.WriteError(w, http.StatusBadRequest, "M_INVALID_PARAM", err.Error())
	case errors.Is(err, ErrExists):
		sendapi.WriteError(w, http.StatusConflict, "M_USER_IN_USE", err.Error())
	case errors.Is(err, ErrNotFound):
		sendapi.WriteError(w, http.StatusNotFound, "M_NOT_FOUND", err.Error())
	default:
		a.Log.Error().Err(err).Msg("admin API request failed")
		sendapi.WriteError(w, http.StatusInternalServerError, "M_UNKNOWN", "Internal error")
	}
}

func (a *Admin) applied(ctx context.Context) {
	if a.Sync == nil {
		return
	}
	if err := a.Sync(ctx); err != nil {
		a.Log.Warn().Err(err).Msg("run-time bots changed but not applied yet; the next sync will")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *Admin) list(w http.ResponseWriter, r *http.Request) {
	bots, err := List(r.Context(), a.DB, a.Config)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]map[string]any, 0, len(bots))
	for _, b := range bots {
		out = append(out, map[string]any{"user_id": b.UserID, "localpart": b.Localpart, "display_name": b.DisplayName,
			"business": b.Business, "url": b.URL, "rotating": b.OldSecret != ""})
	}
	writeJSON(w, http.StatusOK, map[string]any{"bots": out})
}

func (a *Admin) add(w http.ResponseWriter, r *http.Request) {
	var s Spec
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		sendapi.WriteError(w, http.StatusBadRequest, "M_BAD_JSON", "body is not a bot: "+err.Error())
		return
	}
	added, err := Add(r.Context(), a.DB, a.Config, s)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.Log.Info().Str("bot", added.UserID.String()).Str("business", s.Business).Msg("bot added through the admin API")
	a.applied(r.Context())
	writeJSON(w, http.StatusCreated, added)
}

func (a *Admin) remove(w http.ResponseWriter, r *http.Request) {
	if err := Remove(r.Context(), a.DB, a.Config, r.PathValue("localpart")); err != nil {
		a.fail(w, err)
		return
	}
	a.applied(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (a *Admin) rotate(w http.ResponseWriter, r *http.Request) {
	finish := r.URL.Query().Get("finish") == "true"
	secret, err := RotateSecret(r.Context(), a.DB, r.PathValue("localpart"), finish)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.applied(r.Context())
	if finish {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": secret})
}
