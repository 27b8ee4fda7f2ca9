package appservice

import (
	"encoding/json"
	"net/http"
)

// Matrix error codes the API answers with.
const (
	ErrMissingToken = "M_MISSING_TOKEN"
	ErrForbidden    = "M_FORBIDDEN"
	ErrUnrecognized = "M_UNRECOGNIZED"
	ErrNotJSON      = "M_NOT_JSON"
	ErrBadJSON      = "M_BAD_JSON"
	ErrTooLarge     = "M_TOO_LARGE"
	ErrNotFound     = "M_NOT_FOUND"
	ErrUnknown      = "M_UNKNOWN"
)

// writeError answers with the standard Matrix error body.
func writeError(w http.ResponseWriter, status int, errcode, msg string) {
	writeJSON(w, status, map[string]string{"errcode": errcode, "error": msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
