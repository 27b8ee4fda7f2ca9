package console

import "net/http"

// deskRoutes adds the pages of the staff's desk beyond the inbox: saved
// replies, OpenID sign-in and webhook settings.
func (s *Server) deskRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /login/openid", s.loginOpenID)
	m.HandleFunc("GET /b/{bot}/saved", s.savedPage)
	m.HandleFunc("POST /b/{bot}/saved", s.saveSaved)
	m.HandleFunc("POST /b/{bot}/saved/{id}", s.saveSaved)
	m.HandleFunc("POST /b/{bot}/saved/{id}/delete", s.deleteSaved)
	m.HandleFunc("GET /b/{bot}/webhook", s.webhookPage)
	m.HandleFunc("POST /b/{bot}/webhook/{action}", s.webhookAction)
}
